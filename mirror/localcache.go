package mirror

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/svcmirror/svcmirror/intern"
)

// The local caches hold compact copies of this link's mirror objects: what
// the plan compares (the owned fields, see plan.PlanService), the identity
// and the ownership marks, with labels and annotations as intern.Pairs. A
// large link has three objects a mirror, and as API structs with their two
// maps each they were most of the daemon's memory. What the copies leave
// out (finalizers, owner references, clusterIPs, ipFamilies, someone
// else's additions) is never compared; an update therefore writes the
// live object with our fields set, never a copy rebuilt from the cache
// (writer.update).

// cachedService is a mirror Service as the local cache keeps it.
type cachedService struct {
	intern.Meta
	Type         corev1.ServiceType
	ClusterIP    string
	ExternalName string
	// Selector is kept because a selector someone added is drift.
	Selector intern.Pairs
	Ports    []corev1.ServicePort
}

func (c *cachedService) api() *corev1.Service {
	return &corev1.Service{ObjectMeta: c.ObjectMeta(), Spec: corev1.ServiceSpec{
		Type: c.Type, ClusterIP: c.ClusterIP, ExternalName: c.ExternalName,
		Selector: c.Selector.Map(), Ports: append([]corev1.ServicePort(nil), c.Ports...),
	}}
}

// cachedEndpoints is a mirror Endpoints as the local cache keeps it.
type cachedEndpoints struct {
	intern.Meta
	Subsets []corev1.EndpointSubset
}

func (c *cachedEndpoints) api() *corev1.Endpoints {
	ep := &corev1.Endpoints{ObjectMeta: c.ObjectMeta()}
	for _, s := range c.Subsets {
		ep.Subsets = append(ep.Subsets, *s.DeepCopy())
	}
	return ep
}

// cachedSlice is a mirror EndpointSlice as the local cache keeps it.
type cachedSlice struct {
	intern.Meta
	AddressType discoveryv1.AddressType
	Endpoints   []discoveryv1.Endpoint
	Ports       []discoveryv1.EndpointPort
}

func (c *cachedSlice) api() *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{ObjectMeta: c.ObjectMeta(), AddressType: c.AddressType}
	for _, e := range c.Endpoints {
		s.Endpoints = append(s.Endpoints, *e.DeepCopy())
	}
	for _, p := range c.Ports {
		s.Ports = append(s.Ports, *p.DeepCopy())
	}
	return s
}

// slimLocal is the local informers' transform: a mirror Service,
// Endpoints or EndpointSlice becomes its compact cached form (anything
// else, and an object already in that form, passes unchanged). Repeated
// strings are interned: a mirror's name, namespace, labels and annotations
// appear on its Service, Endpoints and slices and, for the copied
// annotations, in the remote cache too.
func slimLocal(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		return &cachedService{
			Meta: intern.MetaOf(o), Type: corev1.ServiceType(intern.String(string(o.Spec.Type))),
			ClusterIP: o.Spec.ClusterIP, ExternalName: o.Spec.ExternalName,
			Selector: intern.PairsOf(o.Spec.Selector), Ports: intern.ServicePorts(o.Spec.Ports),
		}, nil
	case *corev1.Endpoints:
		// Gateway-mode Endpoints all name the same gateway IPs and ports.
		for i := range o.Subsets {
			internAddresses(o.Subsets[i].Addresses)
			internAddresses(o.Subsets[i].NotReadyAddresses)
			for j := range o.Subsets[i].Ports {
				o.Subsets[i].Ports[j].Name = intern.String(o.Subsets[i].Ports[j].Name)
			}
		}
		return &cachedEndpoints{Meta: intern.MetaOf(o), Subsets: lastSubsets.Share(o.Subsets)}, nil
	case *discoveryv1.EndpointSlice:
		for i := range o.Endpoints {
			for j, a := range o.Endpoints[i].Addresses {
				o.Endpoints[i].Addresses[j] = intern.String(a)
			}
		}
		meta := intern.MetaOf(o)
		// A slice's name is its own (the mirror's name and a number):
		// interned, it would cost the interning table's entry and share
		// nothing.
		meta.Name = o.Name
		return &cachedSlice{Meta: meta, AddressType: o.AddressType,
			Endpoints: lastSliceEndpoints.Share(o.Endpoints), Ports: lastSlicePorts.Share(o.Ports)}, nil
	}
	return obj, nil
}

// Every gateway-mode mirror of a link has the same Endpoints subsets and
// the same slice endpoints and ports (the gateway's): a body equal to the
// last one cached is stored as that one, so ten thousand mirrors hold one
// copy. Remembering only the last body costs nothing when bodies differ
// (flat mode) and never grows. Sharing is safe because nothing changes a
// cached object: api() returns deep copies.
var (
	lastSubsets        = &intern.Last[corev1.EndpointSubset]{}
	lastSliceEndpoints = &intern.Last[discoveryv1.Endpoint]{}
	lastSlicePorts     = &intern.Last[discoveryv1.EndpointPort]{}
)

func internAddresses(as []corev1.EndpointAddress) {
	for i := range as {
		as[i].IP = intern.String(as[i].IP)
	}
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
