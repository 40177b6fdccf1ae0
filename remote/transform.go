package remote

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// stripService drops what the engine never reads from a cached remote
// Service (managedFields, status), to keep the cache small.
func stripService(obj any) (any, error) {
	if svc, ok := obj.(*corev1.Service); ok {
		svc.ManagedFields = nil
		svc.Status = corev1.ServiceStatus{}
	}
	return obj, nil
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
			Namespace:       s.Namespace,
			Name:            s.Name,
			UID:             s.UID,
			ResourceVersion: s.ResourceVersion,
			Labels:          map[string]string{discoveryv1.LabelServiceName: s.Labels[discoveryv1.LabelServiceName]},
		},
		AddressType: s.AddressType,
		Ports:       s.Ports,
		Endpoints:   make([]discoveryv1.Endpoint, len(s.Endpoints)),
	}
	for i, e := range s.Endpoints {
		slim.Endpoints[i] = discoveryv1.Endpoint{Addresses: e.Addresses, Hostname: e.Hostname, Zone: e.Zone, Conditions: e.Conditions}
	}
	return slim, nil
}
