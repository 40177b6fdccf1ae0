package plan

import (
	"cmp"
	"slices"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The ownership rule, in one place. A local object is this link's to change
// for one remote Service when it carries the link's ownership labels
// (IsOwnedBy) and its remote-svc-fq-name annotation names that Service.
// An object with the labels but another fq-name mirrors another remote
// Service (two remote names can map to one local name only by a deliberate
// collision with MirrorName's short form); it is a conflict, never taken
// over.

// conflict says why obj, found at a name the desired state wants, is not
// ours to change for the remote Service fq; "" when it is ours or absent.
func conflict(obj metav1.Object, cluster, fq string) string {
	switch {
	case isNil(obj):
		return ""
	case !IsOwnedBy(obj, cluster):
		return "lacks this link's ownership labels"
	case obj.GetAnnotations()[AnnotationRemoteSvcFQName] != fq:
		return "mirrors " + obj.GetAnnotations()[AnnotationRemoteSvcFQName]
	}
	return ""
}

// Conflict is the same rule for a live object read at write time (after a
// create found the name taken): it says why obj is not ours to change for
// want, the object we meant to write; "" when it is ours.
func Conflict(live, want metav1.Object) string {
	return conflict(live, want.GetLabels()[LabelClusterName], want.GetAnnotations()[AnnotationRemoteSvcFQName])
}

// ours returns obj when it mirrors the remote Service fq, else nil.
func ours[T interface {
	metav1.Object
	comparable
}](obj T, fq string) T {
	var zero T
	if obj == zero || obj.GetAnnotations()[AnnotationRemoteSvcFQName] != fq {
		return zero
	}
	return obj
}

// RemoteOf returns the remote Service a mirror object stands for, read
// from its remote-svc-fq-name annotation: names are never parsed.
func RemoteOf(obj metav1.Object) (namespace, name string, ok bool) {
	fq := obj.GetAnnotations()[AnnotationRemoteSvcFQName]
	if obj.GetLabels()[LabelHeadlessMirrorSvcName] != "" {
		namespace, name, _, ok = RemoteFromEndpointMirrorFQName(fq)
		return namespace, name, ok
	}
	return RemoteFromFQName(fq)
}

// sortedValues returns m's values ordered by name, so plans are
// deterministic.
func sortedValues[T metav1.Object](m map[string]T) []T {
	out := make([]T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b T) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return out
}

// IsMark reports whether a label or annotation key is one of the marks
// read of an existing local object besides its owned fields: the
// ownership labels, the headless parent, a slice's Service and the
// remote-svc-fq-name. The local caches keep these and the owned fields'
// digest, nothing else of an object's labels and annotations, so every key
// this package or the engine reads of a cached object must be listed.
func IsMark(key string) bool {
	switch key {
	case LabelMirroredService, LabelClusterName, LabelHeadlessMirrorSvcName, discoveryv1.LabelServiceName,
		AnnotationRemoteSvcFQName:
		return true
	}
	return false
}
