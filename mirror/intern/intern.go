// Package intern keeps the informer caches small: the strings they hold
// share one copy each, and string maps and metadata have compact forms
// (Pairs, Meta). A decoded object owns a copy of every string in it, yet most of them
// repeat across thousands of objects: label and annotation keys, namespaces,
// the ownership values, and on the local side a mirror's name and fq-name
// annotation on its Service, Endpoints and slices, and the remote
// annotations a mirror copies. Interned through the standard library's
// unique package, a string is held once while anything refers to it and
// freed after; nothing here grows without bound.
package intern

import (
	"slices"
	"sync"
	"unique"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// String returns the canonical copy of s.
func String(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// Map returns m with every key and value interned; nil stays nil.
func Map(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[String(k)] = String(v)
	}
	return out
}

// ServicePorts returns a copy of ports with their repeated strings (name,
// protocol, named target port, appProtocol) interned: the remote Service
// cache's ports.
func ServicePorts(ports []corev1.ServicePort) []corev1.ServicePort {
	out := make([]corev1.ServicePort, len(ports))
	for i, p := range ports {
		p.Name = String(p.Name)
		p.Protocol = corev1.Protocol(String(string(p.Protocol)))
		p.TargetPort.StrVal = String(p.TargetPort.StrVal)
		if p.AppProtocol != nil {
			ap := String(*p.AppProtocol)
			p.AppProtocol = &ap
		}
		out[i] = p
	}
	return out
}

// Pairs is a string map kept as a slice of interned keys and values,
// k0, v0, k1, v1, ..., sorted by key. A Go map costs about 300 bytes however
// few entries it holds (its first group has room for eight), and a cached
// object has two of them, labels and annotations; the same few entries in a
// slice cost 32 bytes each. Lookups scan, which for the handful of labels
// and annotations of a Service is as fast as hashing.
type Pairs []string

// PairsOf returns m as Pairs; an empty or nil map gives nil.
func PairsOf(m map[string]string) Pairs {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(Pairs, 0, 2*len(m))
	for _, k := range keys {
		out = append(out, String(k), String(m[k]))
	}
	return out
}

// Get returns the value at key and whether it is there.
func (p Pairs) Get(key string) (string, bool) {
	for i := 0; i+1 < len(p); i += 2 {
		if p[i] == key {
			return p[i+1], true
		}
	}
	return "", false
}

// Map returns p as a new map; nil Pairs give a nil map.
func (p Pairs) Map() map[string]string {
	if p == nil {
		return nil
	}
	out := make(map[string]string, len(p)/2)
	for i := 0; i+1 < len(p); i += 2 {
		out[p[i]] = p[i+1]
	}
	return out
}

// Meta is what a cache keeps of an object's metadata: its identity, its
// resourceVersion and deletion mark, and its labels and annotations as
// Pairs, in a fraction of metav1.ObjectMeta's memory (which is 232 bytes
// before its two maps). Finalizers, owner references, managedFields and
// the rest are not kept.
type Meta struct {
	Namespace, Name   string
	UID               UID
	ResourceVersion   string
	DeletionTimestamp *metav1.Time
	Labels            Pairs
	Annotations       Pairs
}

// MetaOf returns the Meta of o, its strings interned but for the UID and
// resourceVersion, which are unique to each object.
func MetaOf(o metav1.Object) Meta {
	return Meta{
		Namespace: String(o.GetNamespace()), Name: String(o.GetName()), UID: UIDOf(o.GetUID()),
		ResourceVersion: o.GetResourceVersion(), DeletionTimestamp: o.GetDeletionTimestamp(),
		Labels: PairsOf(o.GetLabels()), Annotations: PairsOf(o.GetAnnotations()),
	}
}

// ObjectMeta returns m as the API's metadata, with new label and
// annotation maps.
func (m *Meta) ObjectMeta() metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Namespace: m.Namespace, Name: m.Name, UID: m.UID.Value(), ResourceVersion: m.ResourceVersion,
		DeletionTimestamp: m.DeletionTimestamp, Labels: m.Labels.Map(), Annotations: m.Annotations.Map(),
	}
}

// Meta is a metav1.Object, so that client-go's stores and event handlers
// and the engine's ownership rules take a cached object as it is. The
// label and annotation getters build a new map on each call (short-lived:
// nothing keeps them); the setters of fields Meta does not keep drop the
// value.
var _ metav1.Object = &Meta{}

func (m *Meta) GetNamespace() string                  { return m.Namespace }
func (m *Meta) SetNamespace(ns string)                { m.Namespace = ns }
func (m *Meta) GetName() string                       { return m.Name }
func (m *Meta) SetName(name string)                   { m.Name = name }
func (m *Meta) GetGenerateName() string               { return "" }
func (m *Meta) SetGenerateName(string)                {}
func (m *Meta) GetUID() types.UID                     { return m.UID.Value() }
func (m *Meta) SetUID(uid types.UID)                  { m.UID = UIDOf(uid) }
func (m *Meta) GetResourceVersion() string            { return m.ResourceVersion }
func (m *Meta) SetResourceVersion(rv string)          { m.ResourceVersion = rv }
func (m *Meta) GetGeneration() int64                  { return 0 }
func (m *Meta) SetGeneration(int64)                   {}
func (m *Meta) GetSelfLink() string                   { return "" }
func (m *Meta) SetSelfLink(string)                    {}
func (m *Meta) GetCreationTimestamp() metav1.Time     { return metav1.Time{} }
func (m *Meta) SetCreationTimestamp(metav1.Time)      {}
func (m *Meta) GetDeletionTimestamp() *metav1.Time    { return m.DeletionTimestamp }
func (m *Meta) SetDeletionTimestamp(t *metav1.Time)   { m.DeletionTimestamp = t }
func (m *Meta) GetDeletionGracePeriodSeconds() *int64 { return nil }
func (m *Meta) SetDeletionGracePeriodSeconds(*int64)  {}
func (m *Meta) GetLabels() map[string]string          { return m.Labels.Map() }
func (m *Meta) SetLabels(l map[string]string)         { m.Labels = PairsOf(l) }
func (m *Meta) GetAnnotations() map[string]string     { return m.Annotations.Map() }
func (m *Meta) SetAnnotations(a map[string]string)    { m.Annotations = PairsOf(a) }
func (m *Meta) GetFinalizers() []string               { return nil }
func (m *Meta) SetFinalizers([]string)                {}
func (m *Meta) GetOwnerReferences() []metav1.OwnerReference {
	return nil
}
func (m *Meta) SetOwnerReferences([]metav1.OwnerReference)    {}
func (m *Meta) GetManagedFields() []metav1.ManagedFieldsEntry { return nil }
func (m *Meta) SetManagedFields([]metav1.ManagedFieldsEntry)  {}

// Last shares equal slices: Share returns the slice it was last given when
// that equals b (so both callers hold one copy), and otherwise remembers b.
// Remembering one body only costs nothing when bodies differ and never
// grows. The slices shared must never be changed by anyone.
type Last[T any] struct {
	mu   sync.Mutex
	last []T
}

// Share returns the remembered slice when it equals b, else remembers b.
func (l *Last[T]) Share(b []T) []T {
	if len(b) == 0 {
		return b
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if apiequality.Semantic.DeepEqual(l.last, b) {
		return l.last
	}
	l.last = b
	return b
}
