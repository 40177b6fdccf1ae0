package remote

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/intern"
	"github.com/svcmirror/svcmirror/mirror/plan"
)

// cachedService is what the remote Service cache keeps of a Service: what
// the engine reads. Its identity and resourceVersion (copied onto the
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
	return &cachedService{
		Meta:      intern.MetaOf(svc),
		Type:      corev1.ServiceType(intern.String(string(svc.Spec.Type))),
		ClusterIP: svc.Spec.ClusterIP,
		Ports:     intern.ServicePorts(svc.Spec.Ports),
	}, nil
}

// cachedSlice is what the remote EndpointSlice cache keeps of a slice:
// its identity, the Service it belongs to, and its endpoints as the engine
// reads them (addresses, conditions with the API's defaults applied,
// hostname, zone, and the slice's address type and ports, shared by every
// endpoint of the slice). nodeName, targetRef, hints, labels and the rest
// are dropped: they name remote objects and mean nothing locally, and the
// cache holds every slice of the remote cluster, exported or not.
type cachedSlice struct {
	Namespace, Name string
	ResourceVersion string
	// Service is the slice's kubernetes.io/service-name label.
	Service   string
	Endpoints []plan.RemoteEndpoint
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
		Endpoints:       make([]plan.RemoteEndpoint, len(s.Endpoints)),
	}
	addressType := discoveryv1.AddressType(intern.String(string(s.AddressType)))
	ports := lastPorts.Share(s.Ports)
	for i, e := range s.Endpoints {
		out.Endpoints[i] = remoteEndpoint(addressType, ports, e)
	}
	return out, nil
}

// lastPorts shares a slice's ports with the last slice cached when they
// are equal, as they often are (a Service's slices; Services on the same
// port): each port is four small allocations. Only the last is
// remembered, so nothing grows; nothing changes cached ports.
var lastPorts = &intern.Last[discoveryv1.EndpointPort]{}

// remoteEndpoint is what the engine keeps of one endpoint, with the API's
// meaning of absent conditions: ready unless it says otherwise, serving as
// ready when absent, not terminating when absent.
func remoteEndpoint(addressType discoveryv1.AddressType, ports []discoveryv1.EndpointPort, e discoveryv1.Endpoint) plan.RemoteEndpoint {
	ready := e.Conditions.Ready == nil || *e.Conditions.Ready
	ep := plan.RemoteEndpoint{
		Ready: ready, Serving: ready,
		Terminating: e.Conditions.Terminating != nil && *e.Conditions.Terminating,
		AddressType: addressType, Addresses: e.Addresses, Ports: ports,
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
