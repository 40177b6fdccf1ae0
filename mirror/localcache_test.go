package mirror

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func gatewayEndpoints(name, ip string) *corev1.Endpoints {
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, Labels: map[string]string{"mirror.linkerd.io/mirrored-service": "true"}},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: ip}},
			Ports: []corev1.EndpointPort{{Name: "http", Port: 4143, Protocol: corev1.ProtocolTCP}}}},
	}
}

// Gateway-mode mirrors all point at the gateway: their cached bodies are
// one copy, and what a sync gets back from the cache is its own.
func TestCachedEndpointsShareAnEqualBodyAndHandOutCopies(t *testing.T) {
	a, _ := slimLocal(gatewayEndpoints("a", "192.0.2.10"))
	b, _ := slimLocal(gatewayEndpoints("b", "192.0.2.10"))
	c, _ := slimLocal(gatewayEndpoints("c", "192.0.2.11"))
	ca, cb, cc := a.(*cachedEndpoints), b.(*cachedEndpoints), c.(*cachedEndpoints)
	if &ca.Subsets[0] != &cb.Subsets[0] {
		t.Error("two Endpoints with equal subsets are cached as two copies")
	}
	if &cc.Subsets[0] == &cb.Subsets[0] || cc.Subsets[0].Addresses[0].IP != "192.0.2.11" {
		t.Errorf("a different body was shared: %+v", cc.Subsets)
	}
	got := ca.api()
	got.Subsets[0].Addresses[0].IP = "203.0.113.1"
	if cb.Subsets[0].Addresses[0].IP != "192.0.2.10" {
		t.Error("changing what the cache handed out changed the cached body")
	}
	if got.Name != "a" || got.Labels["mirror.linkerd.io/mirrored-service"] != "true" {
		t.Errorf("api() lost the metadata: %+v", got.ObjectMeta)
	}
}
