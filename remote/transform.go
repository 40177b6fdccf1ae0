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

// slimSlice keeps of an EndpointSlice only its identity, its Service label
// and each endpoint's hostname and readiness: the engine needs nothing
// else, and a remote cluster may hold tens of thousands of slices.
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
		Endpoints:   make([]discoveryv1.Endpoint, len(s.Endpoints)),
	}
	for i, e := range s.Endpoints {
		slim.Endpoints[i] = discoveryv1.Endpoint{Hostname: e.Hostname, Conditions: discoveryv1.EndpointConditions{Ready: e.Conditions.Ready}}
	}
	return slim, nil
}
