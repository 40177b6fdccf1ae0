package main

import (
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// writeYAML prints objs as one YAML stream for `kubectl apply -f -`, after
// a comment header (each line of header becomes a "# " line).
func writeYAML(w io.Writer, header string, objs []*unstructured.Unstructured) error {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(header), "\n") {
		if header != "" {
			b.WriteString(strings.TrimRight("# "+line, " ") + "\n")
		}
	}
	for i, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			return fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if i > 0 || header != "" {
			b.WriteString("---\n")
		}
		b.Write(data)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
