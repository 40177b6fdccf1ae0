package remote

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/svcmirror/svcmirror/mirror/plan"
)

func svc(name, mode, rv string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: rv,
		Labels: map[string]string{"mirror.linkerd.io/exported": mode}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}}}}
}

func startFake(t *testing.T, objs ...*corev1.Service) (*Cluster, *fake.Clientset) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	client := fake.NewClientset()
	for _, o := range objs {
		if _, err := client.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ready := true
	for _, s := range []*discoveryv1.EndpointSlice{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "gw-1", Labels: map[string]string{discoveryv1.LabelServiceName: "gw"}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Hostname: ptr.To("gw-0"), Zone: ptr.To("z1"), NodeName: ptr.To("n1"),
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "gw-0"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "gw-2", Labels: map[string]string{discoveryv1.LabelServiceName: "gw"}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8081)}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false), Terminating: ptr.To(true)}}}},
	} {
		if _, err := client.DiscoveryV1().EndpointSlices("ns").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c := Start(ctx, client, Options{
		Selectors: []labels.Selector{
			labels.SelectorFromSet(labels.Set{"mirror.linkerd.io/exported": "true"}),
			labels.SelectorFromSet(labels.Set{"mirror.linkerd.io/exported": "remote-discovery"}),
			labels.Nothing(), // an empty selector gets no informer and selects nothing
		},
		Handlers: Handlers{ServiceChanged: func(string, string) {}},
	})
	deadline := time.Now().Add(10 * time.Second)
	for !c.HasSynced() {
		if time.Now().After(deadline) {
			t.Fatal("caches did not sync")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c, client
}

func TestOnlySelectedServicesAreCachedAndStripped(t *testing.T) {
	c, _ := startFake(t, svc("gw", "true", "1"), svc("flat", "remote-discovery", "2"), svc("private", "false", "3"))
	if len(c.current().services) != 2 {
		t.Fatalf("%d Service informers, want 2 (labels.Nothing gets none)", len(c.current().services))
	}
	got, found := c.Service("ns", "gw")
	if !found || got.ManagedFields != nil {
		t.Fatalf("gw: found %v managedFields %v", found, got.ManagedFields)
	}
	if _, found := c.Service("ns", "private"); found {
		t.Fatal("an unexported Service is cached")
	}
	if n := len(c.Services("ns")); n != 2 {
		t.Fatalf("Services lists %d, want 2", n)
	}
}

func TestEndpointsAcrossSlicesKeepAddressesPortsConditionsHostnameAndZone(t *testing.T) {
	c, _ := startFake(t, svc("gw", "true", "1"))
	got := c.Endpoints("ns", "gw")
	ipv4 := discoveryv1.AddressTypeIPv4
	want := []plan.RemoteEndpoint{
		{Hostname: "gw-0", Zone: "z1", Ready: true, Serving: true, AddressType: ipv4, Addresses: []string{"10.0.0.1"},
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}}},
		{Ready: false, Serving: false, Terminating: true, AddressType: ipv4, Addresses: []string{"10.0.0.2"},
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8081)}}},
	}
	if diff := cmp.Diff(want, got, sortEndpoints); diff != "" {
		t.Fatalf("endpoints (-want +got):\n%s", diff)
	}
}

func TestEndpointsFollowSlicesThatMoveAndGo(t *testing.T) {
	c, client := startFake(t, svc("gw", "true", "1"), svc("web", "true", "2"))
	ctx := context.Background()
	addresses := func(name string) []string {
		var out []string
		for _, e := range c.Endpoints("ns", name) {
			out = append(out, e.Addresses...)
		}
		slices.Sort(out)
		return out
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: gw has %v, web has %v", what, addresses("gw"), addresses("web"))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	moved, err := client.DiscoveryV1().EndpointSlices("ns").Get(ctx, "gw-2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	moved.Labels[discoveryv1.LabelServiceName] = "web"
	if _, err := client.DiscoveryV1().EndpointSlices("ns").Update(ctx, moved, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("a slice relabelled to another Service moves with it", func() bool {
		return slices.Equal(addresses("gw"), []string{"10.0.0.1"}) && slices.Equal(addresses("web"), []string{"10.0.0.2"})
	})
	if err := client.DiscoveryV1().EndpointSlices("ns").Delete(ctx, "gw-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("a deleted slice's endpoints go", func() bool { return len(addresses("gw")) == 0 })
}

var sortEndpoints = cmpopts.SortSlices(func(a, b plan.RemoteEndpoint) bool { return a.Addresses[0] < b.Addresses[0] })

func TestSlimSliceKeepsOnlyWhatTheEngineReads(t *testing.T) {
	in := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s", Labels: map[string]string{discoveryv1.LabelServiceName: "web", "other": "x"},
			Annotations: map[string]string{"a": "b"}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, NodeName: ptr.To("n1"), Hostname: ptr.To("h"),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true)}}},
		Ports: []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}},
	}
	out, _ := slimSlice(in)
	want := &cachedSlice{Namespace: "ns", Name: "s", Service: "web", Ports: in.Ports, Endpoints: []cachedEndpoint{{
		Hostname: "h", Ready: true, Serving: true, Addresses: []string{"10.0.0.1"}}}}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Fatalf("slim slice (-want +got):\n%s", diff)
	}
}

func TestSlimServiceKeepsOnlyWhatTheEngineReads(t *testing.T) {
	in := svc("gw", "true", "7")
	in.UID = "2f1e0b2a-1c2d-4e5f-8a9b-000000000001"
	in.Annotations = map[string]string{"a": "b"}
	in.Spec.Selector = map[string]string{"app": "gw"}
	in.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	in.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}
	in.Spec.Type, in.Spec.ClusterIP = corev1.ServiceTypeClusterIP, "10.0.0.9"
	in.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}
	out, _ := slimService(in)
	got := out.(*cachedService).service()
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: in.Namespace, Name: in.Name, ResourceVersion: in.ResourceVersion, // no UID
			Labels: in.Labels, Annotations: in.Annotations},
		Spec: corev1.ServiceSpec{Type: in.Spec.Type, ClusterIP: in.Spec.ClusterIP, Ports: in.Spec.Ports},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("cached Service (-want +got):\n%s", diff)
	}
	if again, _ := slimService(out); again != out {
		t.Fatal("slimService changed an already cached Service")
	}
}

func TestServicePrefersTheNewestCopyMidRelabel(t *testing.T) {
	c, client := startFake(t, svc("moving", "true", "5"))
	// The fake clientset does not bump resource versions; set them by hand
	// to model the rd informer holding the newer copy.
	updated := svc("moving", "remote-discovery", "9")
	if _, err := client.CoreV1().Services("ns").Update(context.Background(), updated, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, found := c.Service("ns", "moving")
		if found && got.Labels["mirror.linkerd.io/exported"] == "remote-discovery" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Service returned %v, want the remote-discovery copy", got.Labels)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReachabilityReportsEachChangeOnce(t *testing.T) {
	var changes []bool
	h := newHealth(fake.NewClientset(), Handlers{Reachability: func(ok bool, _ error) { changes = append(changes, ok) }}, func() {}, func(context.Context) {})
	ctx := context.Background()
	for _, err := range []error{nil, nil, errors.New("refused"), errors.New("refused again"), nil} {
		h.setReachable(ctx, err)
	}
	if diff := cmp.Diff([]bool{true, false, true}, changes); diff != "" {
		t.Fatalf("changes (-want +got):\n%s", diff)
	}
}
