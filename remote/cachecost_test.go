package remote

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
)

// What each remote cache costs per object: N objects shaped as the API
// server returns them (managedFields, status, the server's defaults; every
// string its own allocation, as after decoding) go through the informer's
// transform into a store, and the live heap is read before and after.
// SVCMIRROR_CACHE_COST_N sets N (default 2000).

func cacheCostN() int {
	if n, err := strconv.Atoi(os.Getenv("SVCMIRROR_CACHE_COST_N")); err == nil && n > 0 {
		return n
	}
	return 2000
}

// bytesPerObject fills a store with n objects made by mk and transformed
// by transform, and returns the live heap it holds per object.
func bytesPerObject(t *testing.T, n int, mk func(i int) any, transform func(any) (any, error)) float64 {
	t.Helper()
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)
	before := liveHeap()
	for i := 0; i < n; i++ {
		obj, err := transform(mk(i))
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Add(obj); err != nil {
			t.Fatal(err)
		}
	}
	after := liveHeap()
	runtime.KeepAlive(store)
	return float64(after-before) / float64(n)
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// decoded round-trips obj through JSON, so that its strings are separate
// allocations as in an informer's cache.
func decoded[T any](t *testing.T, obj T) T {
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func managedFields(manager string) []metav1.ManagedFieldsEntry {
	return []metav1.ManagedFieldsEntry{{
		Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
		FieldsType: "FieldsV1",
		FieldsV1:   &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{".":{},"f:app":{},"f:mirror.linkerd.io/exported":{}}},"f:spec":{"f:internalTrafficPolicy":{},"f:ports":{".":{},"k:{\"port\":8080,\"protocol\":\"TCP\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:sessionAffinity":{},"f:type":{}}}`)},
	}}
}

// exportedService is a remote Service as a benchmark's (and a typical
// cluster's) API server returns it.
func exportedService(i int) *corev1.Service {
	name := fmt.Sprintf("svc-%05d", i)
	single := corev1.IPFamilyPolicySingleStack
	cluster := corev1.ServiceInternalTrafficPolicyCluster
	ip := fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "bench", Name: name, UID: types.UID(fmt.Sprintf("0c6a1b4e-8f0e-4d3c-9a3b-%012d", i)),
			ResourceVersion: strconv.Itoa(100000 + i), CreationTimestamp: metav1.Now(),
			Labels:        map[string]string{"app": name, "mirror.linkerd.io/exported": "true"},
			Annotations:   map[string]string{"example.com/owner": "team-a"},
			ManagedFields: managedFields("kubectl-client-side-apply"),
		},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: ip, ClusterIPs: []string{ip},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, IPFamilyPolicy: &single,
			SessionAffinity: corev1.ServiceAffinityNone, InternalTrafficPolicy: &cluster,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 8080, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

// remoteSlice is the EndpointSlice of exportedService(i) with two pods.
func remoteSlice(i int) *discoveryv1.EndpointSlice {
	name := fmt.Sprintf("svc-%05d", i)
	yes, port, proto, portName := true, int32(8080), corev1.ProtocolTCP, "http"
	ep := func(j int) discoveryv1.Endpoint {
		node, zone := fmt.Sprintf("node-%d", j), "zone-a"
		return discoveryv1.Endpoint{
			Addresses:  []string{fmt.Sprintf("10.244.%d.%d", i%250, j+1)},
			Conditions: discoveryv1.EndpointConditions{Ready: &yes, Serving: &yes, Terminating: new(bool)},
			NodeName:   &node, Zone: &zone,
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "bench", Name: fmt.Sprintf("%s-7d9f8c-%d", name, j),
				UID: types.UID(fmt.Sprintf("7f1e0b2a-1c2d-4e5f-8a9b-%012d", i*10+j))},
		}
	}
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "bench", Name: name + "-abcde", UID: types.UID(fmt.Sprintf("3d2c1b0a-1c2d-4e5f-8a9b-%012d", i)),
			ResourceVersion: strconv.Itoa(200000 + i), GenerateName: name + "-",
			Labels: map[string]string{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io",
				"app": name},
			Annotations:   map[string]string{"endpoints.kubernetes.io/last-change-trigger-time": "2026-12-01T22:00:00Z"},
			ManagedFields: managedFields("kube-controller-manager"),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: name,
				UID: types.UID(fmt.Sprintf("0c6a1b4e-8f0e-4d3c-9a3b-%012d", i)), Controller: &yes, BlockOwnerDeletion: &yes}},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{ep(0), ep(1)},
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: &proto}},
	}
}

func keepAll(obj any) (any, error) { return obj, nil }

// dropManagedFields is what the caches did before they were slimmed.
func dropManagedFields(obj any) (any, error) {
	obj.(metav1.Object).SetManagedFields(nil)
	return obj, nil
}

func TestRemoteCacheCostPerObject(t *testing.T) {
	n := cacheCostN()
	svc := func(i int) any { return decoded(t, exportedService(i)) }
	slice := func(i int) any { return decoded(t, remoteSlice(i)) }
	rows := []struct {
		cache                  string
		mk                     func(int) any
		whole, before, slimmed float64
	}{
		{cache: "remote Service", mk: svc},
		{cache: "remote EndpointSlice (2 pods)", mk: slice},
	}
	for i := range rows {
		rows[i].whole = bytesPerObject(t, n, rows[i].mk, keepAll)
		rows[i].before = bytesPerObject(t, n, rows[i].mk, dropManagedFields)
	}
	rows[0].slimmed = bytesPerObject(t, n, svc, slimService)
	rows[1].slimmed = bytesPerObject(t, n, slice, slimSlice)
	for _, r := range rows {
		t.Logf("%-30s whole %5.0f B/object, managedFields dropped %5.0f, as cached %5.0f (n=%d)", r.cache, r.whole, r.before, r.slimmed, n)
		// The transform must keep less than dropping managedFields alone.
		if r.slimmed > 0.9*r.before {
			t.Errorf("%s: cached %.0f B/object, more than 90%% of the %.0f with managedFields dropped alone", r.cache, r.slimmed, r.before)
		}
	}
}
