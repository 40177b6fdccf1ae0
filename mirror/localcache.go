package mirror

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/mirror/intern"
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

// cachedMeta is the metadata a compact form keeps: intern.Meta with the
// label marks alone, shared when equal to the last of their kind (every
// gateway mirror's Service and Endpoints carry the same ownership labels),
// and no annotations; the two marks that differ on every mirror, the
// remote-svc-fq-name and a slice's Service, are fields, since as pairs
// they would cost 56 bytes more each. The getters and ObjectMeta put them
// back where the API has them.
type cachedMeta struct {
	intern.Meta
	FQName string
	// Service is a slice's kubernetes.io/service-name label.
	Service string
}

func (m *cachedMeta) GetLabels() map[string]string {
	labels := m.Meta.GetLabels()
	if m.Service != "" {
		if labels == nil {
			labels = map[string]string{}
		}
		labels[discoveryv1.LabelServiceName] = m.Service
	}
	return labels
}

func (m *cachedMeta) GetAnnotations() map[string]string {
	if m.FQName == "" {
		return nil
	}
	return map[string]string{plan.AnnotationRemoteSvcFQName: m.FQName}
}

// ObjectMeta returns the metadata as the API has it, in new maps.
func (m *cachedMeta) ObjectMeta() metav1.ObjectMeta {
	om := m.Meta.ObjectMeta()
	om.Labels, om.Annotations = m.GetLabels(), m.GetAnnotations()
	return om
}

// metaOf is o's cachedMeta; last shares the label marks of o's kind.
func metaOf(o metav1.Object, last *intern.Last[string]) cachedMeta {
	labels := o.GetLabels()
	var marks intern.Pairs
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if plan.IsMark(k) && k != discoveryv1.LabelServiceName {
			marks = append(marks, intern.String(k), intern.String(labels[k]))
		}
	}
	return cachedMeta{
		Meta: intern.Meta{
			Namespace: intern.String(o.GetNamespace()), Name: o.GetName(), UID: intern.UIDOf(o.GetUID()),
			ResourceVersion: o.GetResourceVersion(), DeletionTimestamp: o.GetDeletionTimestamp(),
			Labels: last.Share(marks),
		},
		FQName:  intern.String(o.GetAnnotations()[plan.AnnotationRemoteSvcFQName]),
		Service: intern.String(labels[discoveryv1.LabelServiceName]),
	}
}

// cachedService is a mirror Service as the local cache keeps it.
type cachedService struct {
	cachedMeta
	ClusterIP string
	Owned     plan.OwnedDigest
}

func (c *cachedService) api() *corev1.Service {
	return &corev1.Service{ObjectMeta: c.ObjectMeta(), Spec: corev1.ServiceSpec{ClusterIP: c.ClusterIP}}
}

func (c *cachedService) owned() plan.OwnedDigest { return c.Owned }

// cachedEndpoints is a mirror Endpoints as the local cache keeps it.
type cachedEndpoints struct {
	cachedMeta
	Owned plan.OwnedDigest
}

func (c *cachedEndpoints) api() *corev1.Endpoints {
	return &corev1.Endpoints{ObjectMeta: c.ObjectMeta()}
}

func (c *cachedEndpoints) owned() plan.OwnedDigest { return c.Owned }

// cachedSlice is a mirror EndpointSlice as the local cache keeps it.
type cachedSlice struct {
	cachedMeta
	AddressType discoveryv1.AddressType
	Owned       plan.OwnedDigest
}

func (c *cachedSlice) api() *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{ObjectMeta: c.ObjectMeta(), AddressType: c.AddressType}
}

func (c *cachedSlice) owned() plan.OwnedDigest { return c.Owned }

// slimLocal is the local informers' transform: a mirror Service,
// Endpoints or EndpointSlice becomes its compact cached form (anything
// else, and an object already in that form, passes unchanged). The names
// of a Service and its Endpoints are not interned (two copies cost less
// than an entry in the interning table), nor a slice's.
func slimLocal(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		return &cachedService{cachedMeta: metaOf(o, lastServiceMarks), ClusterIP: o.Spec.ClusterIP, Owned: plan.ServiceDigest(o)}, nil
	case *corev1.Endpoints:
		return &cachedEndpoints{cachedMeta: metaOf(o, lastEndpointsMarks), Owned: plan.EndpointsDigest(o)}, nil
	case *discoveryv1.EndpointSlice:
		return &cachedSlice{cachedMeta: metaOf(o, lastSliceMarks),
			AddressType: discoveryv1.AddressType(intern.String(string(o.AddressType))), Owned: plan.SliceDigest(o)}, nil
	}
	return obj, nil
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
