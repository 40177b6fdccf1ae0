// Package manifests embeds svcmirror's Kubernetes manifests: the Link CRD, RBAC for the
// source and target clusters, an example Link and the per-Link Deployment. The YAML files
// in this directory are the source of truth (kubectl apply -f manifests/ works on them
// directly); this package makes the same bytes available to tests and the demo, which
// apply them with a dynamic client.
package manifests

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Files holds every manifest, by file name (for example "crd-link.yaml").
//
//go:embed *.yaml
var Files embed.FS

// Objects decodes the embedded file name, a YAML stream of one or more documents separated
// by "---", into one object per document, in file order. Documents that hold only comments
// or whitespace are skipped; every other one must be an object with a kind. Integers
// decode as int64, as client-go's own decoders produce them.
func Objects(name string) ([]*unstructured.Unstructured, error) {
	data, err := Files.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return decode(name, data)
}

// decode is Objects on bytes; name is only used in errors.
func decode(name string, data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: reading document %d: %w", name, i, err)
		}
		js, err := utilyaml.ToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if js = bytes.TrimSpace(js); len(js) == 0 || bytes.Equal(js, []byte("null")) {
			continue // an empty or comment-only document
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		objs = append(objs, obj)
	}
}
