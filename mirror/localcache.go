package mirror

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/intern"
	"github.com/svcmirror/svcmirror/mirror/plan"
)

// The local caches hold compact copies of this link's mirror objects:
// their identity, the marks the engine and the plan read of them
// (plan.IsMark: the ownership labels, the remote-svc-fq-name, the headless
// parent, a slice's Service), what cannot change in place (a Service's
// ClusterIP, a slice's address type), and the digest of their owned fields
// (plan.OwnedDigest) in place of the fields: the plan compares digests.
// A large link has three objects a mirror, and their labels, annotations,
// ports and endpoints were most of the daemon's memory. An update
// therefore writes the live object with our fields set, never a copy
// rebuilt from the cache (writer.update).

// cachedService is a mirror Service as the local cache keeps it.
type cachedService struct {
	intern.Meta
	ClusterIP string
	Owned     plan.OwnedDigest
}

func (c *cachedService) api() *corev1.Service {
	return &corev1.Service{ObjectMeta: c.ObjectMeta(), Spec: corev1.ServiceSpec{ClusterIP: c.ClusterIP}}
}

func (c *cachedService) owned() plan.OwnedDigest { return c.Owned }

// cachedEndpoints is a mirror Endpoints as the local cache keeps it.
type cachedEndpoints struct {
	intern.Meta
	Owned plan.OwnedDigest
}

func (c *cachedEndpoints) api() *corev1.Endpoints {
	return &corev1.Endpoints{ObjectMeta: c.ObjectMeta()}
}

func (c *cachedEndpoints) owned() plan.OwnedDigest { return c.Owned }

// cachedSlice is a mirror EndpointSlice as the local cache keeps it.
type cachedSlice struct {
	intern.Meta
	AddressType discoveryv1.AddressType
	Owned       plan.OwnedDigest
}

func (c *cachedSlice) api() *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{ObjectMeta: c.ObjectMeta(), AddressType: c.AddressType}
}

func (c *cachedSlice) owned() plan.OwnedDigest { return c.Owned }

// slimLocal is the local informers' transform: a mirror Service,
// Endpoints or EndpointSlice becomes its compact cached form (anything
// else, and an object already in that form, passes unchanged).
func slimLocal(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		return &cachedService{Meta: markMeta(o, lastServiceMarks), ClusterIP: o.Spec.ClusterIP, Owned: plan.ServiceDigest(o)}, nil
	case *corev1.Endpoints:
		return &cachedEndpoints{Meta: markMeta(o, lastEndpointsMarks), Owned: plan.EndpointsDigest(o)}, nil
	case *discoveryv1.EndpointSlice:
		meta := markMeta(o, lastSliceMarks)
		// A slice's name is its own (the mirror's name and a number):
		// interned, it would cost the interning table's entry and share
		// nothing.
		meta.Name = o.Name
		return &cachedSlice{Meta: meta, AddressType: discoveryv1.AddressType(intern.String(string(o.AddressType))),
			Owned: plan.SliceDigest(o)}, nil
	}
	return obj, nil
}

// markMeta is o's compact metadata with only the marks of its labels and
// annotations (plan.IsMark). Every gateway mirror of a link has the same
// label marks on its Service and on its Endpoints (the ownership labels):
// marks equal to the last ones of the same kind are stored as those, so
// ten thousand mirrors hold one copy. Remembering only the last costs
// nothing when they differ and never grows; nothing changes cached marks.
func markMeta(o metav1.Object, last *intern.Last[string]) intern.Meta {
	m := intern.MetaOf(o)
	m.Labels = last.Share(marks(m.Labels))
	m.Annotations = marks(m.Annotations)
	return m
}

// marks keeps the pairs whose keys are marks.
func marks(p intern.Pairs) intern.Pairs {
	var out intern.Pairs
	for i := 0; i+1 < len(p); i += 2 {
		if plan.IsMark(p[i]) {
			out = append(out, p[i], p[i+1])
		}
	}
	return out
}

var (
	lastServiceMarks   = &intern.Last[string]{}
	lastEndpointsMarks = &intern.Last[string]{}
	lastSliceMarks     = &intern.Last[string]{}
)

// owner is the compact form of a cached local object: it keeps its owned
// fields' digest.
type owner interface{ owned() plan.OwnedDigest }

// observedAs returns a local cache's item (or an overlay's record) as the
// API type T the plan reads, built anew, and records its owned-field
// digest in owned when the item is in compact form.
func observedAs[T object](item metav1.Object, owned plan.Digests) (T, bool) {
	obj, ok := fromCache[T](item)
	if c, isCompact := item.(owner); ok && isCompact && owned != nil {
		owned[obj] = c.owned()
	}
	return obj, ok
}

// fromCache returns a local cache's item as the API type T the plan
// reads, built anew: callers may keep or change it.
func fromCache[T object](item any) (T, bool) {
	switch c := item.(type) {
	case interface{ api() T }:
		return c.api(), true
	case T:
		return c, true
	}
	var zero T
	return zero, false
}
