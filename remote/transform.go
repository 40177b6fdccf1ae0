package remote

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/mirror/intern"
	"github.com/svcmirror/svcmirror/mirror/plan"
)

// cachedService is what the remote Service cache keeps of a Service: what
// the engine reads. Its name and resourceVersion (copied onto the
// mirror), labels (the export selectors and the mirror's labels),
// annotations (copied), deletion mark, and of its spec the type, ClusterIP
// (headlessness) and ports. Status, managedFields, selector, IP families,
// session affinity and the rest are dropped; strings are interned and the
// label and annotation maps kept as intern.Pairs (see intern.Meta), since a
// remote cluster may export tens of thousands of Services.
type cachedService struct {
	intern.Meta
	Type      corev1.ServiceType
	ClusterIP string
	Ports     []corev1.ServicePort
}

// service returns the cached Service as the API type, in new memory the
// caller may keep or change.
func (s *cachedService) service() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: s.ObjectMeta(),
		Spec: corev1.ServiceSpec{
			Type:      s.Type,
			ClusterIP: s.ClusterIP,
			Ports:     append([]corev1.ServicePort(nil), s.Ports...),
		},
	}
}

// slimService is the remote Service informers' transform. Running it on
// an already cached Service changes nothing.
func slimService(obj any) (any, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return obj, nil
	}
	meta := intern.MetaOf(svc)
	// Nothing reads a remote Service's UID (mirrors have their own), and
	// it is 64 bytes of every cached Service.
	meta.UID = intern.UID{}
	return &cachedService{
		Meta:      meta,
		Type:      corev1.ServiceType(intern.String(string(svc.Spec.Type))),
		ClusterIP: svc.Spec.ClusterIP,
		Ports:     lastServicePorts.Share(intern.ServicePorts(svc.Spec.Ports)),
	}, nil
}

// cachedSlice is what the remote EndpointSlice cache keeps of a slice:
// its identity, the Service it belongs to, its address type and ports, and
// its endpoints as the engine reads them (see cachedEndpoint). nodeName,
// targetRef, hints, labels and the rest are dropped: they name remote
// objects and mean nothing locally, and the cache holds every slice of the
// remote cluster, exported or not.
type cachedSlice struct {
	Namespace, Name string
	ResourceVersion string
	// Service is the slice's kubernetes.io/service-name label.
	Service     string
	AddressType discoveryv1.AddressType
	// Ports are shared with other slices (lastPorts): never modify them.
	Ports     []discoveryv1.EndpointPort
	Endpoints []cachedEndpoint
}

// cachedEndpoint is one endpoint of a cached slice: its addresses,
// hostname, zone and conditions with the API's defaults applied. The
// slice's address type and ports are the slice's, not repeated here: as
// plan.RemoteEndpoint carries them, an endpoint would cost 40 bytes more.
type cachedEndpoint struct {
	Addresses                   []string
	Hostname, Zone              string
	Ready, Serving, Terminating bool
}

// remoteEndpoints appends the slice's endpoints to out as the engine reads
// them. Addresses and Ports are shared with the cache.
func (s *cachedSlice) remoteEndpoints(out []plan.RemoteEndpoint) []plan.RemoteEndpoint {
	for _, e := range s.Endpoints {
		out = append(out, plan.RemoteEndpoint{
			Hostname: e.Hostname, Zone: e.Zone, Ready: e.Ready, Serving: e.Serving, Terminating: e.Terminating,
			AddressType: s.AddressType, Addresses: e.Addresses, Ports: s.Ports,
		})
	}
	return out
}

// GetObjectMeta gives client-go the slice's store key. It builds the
// metadata on each call (once per key computed, a few per event) rather
// than embedding intern.Meta: the cache holds every slice of the remote
// cluster, and the labels, annotations, UID and deletion mark Meta would
// carry are never read here.
func (s *cachedSlice) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name, ResourceVersion: s.ResourceVersion}
}

// group is the slice's Service, its group in the watch set's index.
func (s *cachedSlice) group() intern.Group {
	return intern.Group{Namespace: s.Namespace, Name: s.Service}
}

// slimSlice is the remote EndpointSlice informer's transform.
func slimSlice(obj any) (any, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return obj, nil
	}
	out := &cachedSlice{
		Namespace:       intern.String(s.Namespace),
		Name:            s.Name,
		ResourceVersion: s.ResourceVersion,
		Service:         intern.String(s.Labels[discoveryv1.LabelServiceName]),
		AddressType:     discoveryv1.AddressType(intern.String(string(s.AddressType))),
		Ports:           lastPorts.Share(s.Ports),
		Endpoints:       make([]cachedEndpoint, len(s.Endpoints)),
	}
	for i, e := range s.Endpoints {
		out.Endpoints[i] = endpointOf(e)
	}
	return out, nil
}

// lastServicePorts shares a Service's ports with the last Service cached
// when they are equal, as they often are (many Services serve on port 80
// or 443): a port is 96 bytes.
var lastServicePorts = &intern.Last[corev1.ServicePort]{}

// lastPorts shares a slice's ports with the last slice cached when they
// are equal, as they often are (a Service's slices; Services on the same
// port): each port is four small allocations. Only the last is
// remembered, so nothing grows; nothing changes cached ports.
var lastPorts = &intern.Last[discoveryv1.EndpointPort]{}

// endpointOf is what the cache keeps of one endpoint, with the API's
// meaning of absent conditions: ready unless it says otherwise, serving as
// ready when absent, not terminating when absent.
func endpointOf(e discoveryv1.Endpoint) cachedEndpoint {
	ready := e.Conditions.Ready == nil || *e.Conditions.Ready
	ep := cachedEndpoint{
		Ready: ready, Serving: ready,
		Terminating: e.Conditions.Terminating != nil && *e.Conditions.Terminating,
		Addresses:   e.Addresses,
	}
	if e.Conditions.Serving != nil {
		ep.Serving = *e.Conditions.Serving
	}
	if e.Hostname != nil {
		ep.Hostname = *e.Hostname
	}
	if e.Zone != nil {
		ep.Zone = intern.String(*e.Zone)
	}
	return ep
}
