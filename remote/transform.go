package remote

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/intern"
)

// slimService keeps of a remote Service only what the engine reads: its
// identity and resourceVersion (copied onto the mirror), labels (the export
// selectors and the mirror's labels), annotations (copied), deletion mark,
// and of its spec the type, ClusterIP (headlessness) and ports. Status,
// managedFields, selector, IP families, session affinity and the rest are
// dropped, and repeated strings are interned, to keep the cache small.
// Running it on an already slim Service changes nothing.
func slimService(obj any) (any, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return obj, nil
	}
	ports := make([]corev1.ServicePort, len(svc.Spec.Ports))
	for i, p := range svc.Spec.Ports {
		ports[i] = internPort(p)
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:         intern.String(svc.Namespace),
			Name:              intern.String(svc.Name),
			UID:               svc.UID,
			ResourceVersion:   svc.ResourceVersion,
			DeletionTimestamp: svc.DeletionTimestamp,
			Labels:            intern.Map(svc.Labels),
			Annotations:       intern.Map(svc.Annotations),
		},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceType(intern.String(string(svc.Spec.Type))),
			ClusterIP: svc.Spec.ClusterIP,
			Ports:     ports,
		},
	}, nil
}

// internPort interns a Service port's repeated strings.
func internPort(p corev1.ServicePort) corev1.ServicePort {
	p.Name = intern.String(p.Name)
	p.Protocol = corev1.Protocol(intern.String(string(p.Protocol)))
	p.TargetPort.StrVal = intern.String(p.TargetPort.StrVal)
	if p.AppProtocol != nil {
		ap := intern.String(*p.AppProtocol)
		p.AppProtocol = &ap
	}
	return p
}

// slimSlice keeps of an EndpointSlice only its identity, its Service label,
// its address type and ports, and each endpoint's addresses, conditions,
// hostname and zone: what a flat-mode mirror's slices copy. nodeName,
// targetRef, hints and the rest are dropped (they name remote objects and
// mean nothing locally), and a remote cluster may hold tens of thousands of
// slices.
func slimSlice(obj any) (any, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return obj, nil
	}
	slim := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       intern.String(s.Namespace),
			Name:            s.Name,
			UID:             s.UID,
			ResourceVersion: s.ResourceVersion,
			Labels:          map[string]string{discoveryv1.LabelServiceName: intern.String(s.Labels[discoveryv1.LabelServiceName])},
		},
		AddressType: s.AddressType,
		Ports:       s.Ports,
		Endpoints:   make([]discoveryv1.Endpoint, len(s.Endpoints)),
	}
	for i, e := range s.Endpoints {
		slim.Endpoints[i] = discoveryv1.Endpoint{Addresses: e.Addresses, Hostname: e.Hostname, Zone: internPtr(e.Zone), Conditions: e.Conditions}
	}
	return slim, nil
}

// internPtr interns the string p points to.
func internPtr(p *string) *string {
	if p == nil {
		return nil
	}
	s := intern.String(*p)
	return &s
}
