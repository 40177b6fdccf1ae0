package plan

import (
	"slices"
	"strings"
)

// AnnotationClusterNames, on the Link, lists every targetClusterName this
// Link's mirrors have been written under. Mirrors carry the cluster name in
// their ownership label and their names; when targetClusterName changes,
// the ones left under an earlier name are found through this list and
// removed (Linkerd leaves them behind for good).
const AnnotationClusterNames = "svcmirror.io/cluster-names"

// ClusterNames reads the annotation: sorted, without duplicates or blanks.
func ClusterNames(annotations map[string]string) []string {
	var names []string
	for _, n := range strings.Split(annotations[AnnotationClusterNames], ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// WithClusterName is the annotation's value once name is recorded.
func WithClusterName(annotations map[string]string, name string) string {
	return strings.Join(slices.Compact(slices.Sorted(slices.Values(append(ClusterNames(annotations), name)))), ",")
}

// WithoutClusterName is the annotation's value once name is forgotten.
func WithoutClusterName(annotations map[string]string, name string) string {
	return strings.Join(slices.DeleteFunc(ClusterNames(annotations), func(n string) bool { return n == name }), ",")
}

// EarlierClusterNames are the recorded names other than current.
func EarlierClusterNames(annotations map[string]string, current string) []string {
	return slices.DeleteFunc(ClusterNames(annotations), func(n string) bool { return n == current })
}
