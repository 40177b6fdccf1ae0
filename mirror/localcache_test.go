package mirror

import (
	"maps"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/svcmirror/svcmirror/mirror/plan"
)

func gatewayEndpoints(name, ip string) *corev1.Endpoints {
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, UID: types.UID("u-" + name), ResourceVersion: "7",
			Labels: map[string]string{plan.LabelMirroredService: "true", plan.LabelClusterName: "east", "app": name},
			Annotations: map[string]string{plan.AnnotationRemoteSvcFQName: name + ".apps.svc.cluster.local",
				plan.AnnotationRemoteGatewayIdentity: "gw.identity"}},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: ip}},
			Ports: []corev1.EndpointPort{{Name: "http", Port: 4143, Protocol: corev1.ProtocolTCP}}}},
	}
}

// A cached mirror object keeps its identity, its marks and its owned
// fields' digest; the rest of its labels and annotations, and its body,
// are not kept.
func TestCachedObjectsKeepMarksAndTheOwnedDigest(t *testing.T) {
	whole := gatewayEndpoints("a", "192.0.2.10")
	item, _ := slimLocal(whole.DeepCopy())
	c := item.(*cachedEndpoints)
	if c.Owned != plan.EndpointsDigest(whole) {
		t.Error("the cached digest is not the whole object's")
	}
	got := c.api()
	wantLabels := map[string]string{plan.LabelMirroredService: "true", plan.LabelClusterName: "east"}
	wantAnnotations := map[string]string{plan.AnnotationRemoteSvcFQName: "a.apps.svc.cluster.local"}
	if got.Name != "a" || got.UID != "u-a" || got.ResourceVersion != "7" || !maps.Equal(got.Labels, wantLabels) ||
		!maps.Equal(got.Annotations, wantAnnotations) || got.Subsets != nil {
		t.Errorf("cached Endpoints as the plan reads them: %+v", got)
	}

	svc := &corev1.Service{ObjectMeta: whole.ObjectMeta, Spec: corev1.ServiceSpec{ClusterIP: "None",
		Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	s, _ := slimLocal(svc.DeepCopy())
	if cs := s.(*cachedService); cs.Owned != plan.ServiceDigest(svc) || cs.api().Spec.ClusterIP != "None" || cs.api().Spec.Ports != nil {
		t.Errorf("cached Service: %+v", cs.api())
	}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: *whole.ObjectMeta.DeepCopy(), AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.10"}}}}
	slice.Labels[discoveryv1.LabelServiceName] = "a"
	sl, _ := slimLocal(slice.DeepCopy())
	if cs := sl.(*cachedSlice); cs.Owned != plan.SliceDigest(slice) || cs.api().AddressType != discoveryv1.AddressTypeIPv4 ||
		cs.api().Labels[discoveryv1.LabelServiceName] != "a" || cs.api().Endpoints != nil {
		t.Errorf("cached slice: %+v", cs.api())
	}
}

// Every gateway mirror's Endpoints carry the same ownership labels: the
// cache holds one copy of them.
func TestCachedMarksEqualToTheLastAreShared(t *testing.T) {
	a, _ := slimLocal(gatewayEndpoints("a", "192.0.2.10"))
	b, _ := slimLocal(gatewayEndpoints("b", "192.0.2.11"))
	la, lb := a.(*cachedEndpoints).Labels, b.(*cachedEndpoints).Labels
	if len(la) == 0 || unsafe.SliceData(la) != unsafe.SliceData(lb) {
		t.Errorf("equal marks are cached as two copies: %v, %v", la, lb)
	}
}
