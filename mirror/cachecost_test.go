package mirror

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

	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/queue"
)

// What each local cache, the recent-writes overlay and the reporter's maps
// cost per object: N mirror objects shaped as the API server returns them
// (managedFields, the server's defaults; every string its own allocation,
// as after decoding) go through the local informers' transform into a
// store, and the live heap is read before and after.
// SVCMIRROR_CACHE_COST_N sets N (default 2000); run with -v for the table.

func cacheCostN() int {
	if n, err := strconv.Atoi(os.Getenv("SVCMIRROR_CACHE_COST_N")); err == nil && n > 0 {
		return n
	}
	return 2000
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// perObject runs fill(n) and returns the live heap it added per object;
// fill returns what holds the objects, kept alive until the reading.
func perObject(n int, fill func(n int) any) float64 {
	before := liveHeap()
	held := fill(n)
	after := liveHeap()
	runtime.KeepAlive(held)
	return float64(after-before) / float64(n)
}

func storeOf(t *testing.T, mk func(int) any, transform func(any) (any, error)) func(int) any {
	return func(n int) any {
		store := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
		for i := 0; i < n; i++ {
			obj, err := transform(mk(i))
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Add(obj); err != nil {
				t.Fatal(err)
			}
		}
		return store
	}
}

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

func serverFields(manager string) []metav1.ManagedFieldsEntry {
	return []metav1.ManagedFieldsEntry{{
		Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", FieldsType: "FieldsV1",
		FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:annotations":{".":{},"f:mirror.linkerd.io/remote-resource-version":{},"f:mirror.linkerd.io/remote-svc-fq-name":{}},"f:labels":{".":{},"f:app":{},"f:mirror.linkerd.io/cluster-name":{},"f:mirror.linkerd.io/mirrored-service":{}}},"f:spec":{"f:ports":{".":{},"k:{\"port\":8080,\"protocol\":\"TCP\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}}}}`)},
	}}
}

// uuidOf is a UID as the API server makes them: a lower-case UUID.
func uuidOf(kind string, i int) types.UID {
	return types.UID(fmt.Sprintf("%08x-4d3c-9a3b-8a9b-%012d", len(kind), i))
}

func mirrorMeta(i int, kind string) metav1.ObjectMeta {
	name := fmt.Sprintf("svc-%05d-east", i)
	return metav1.ObjectMeta{
		Namespace: "bench", Name: name, UID: uuidOf(kind, i),
		ResourceVersion: strconv.Itoa(300000 + i), CreationTimestamp: metav1.Now(),
		Labels: map[string]string{plan.LabelMirroredService: "true", plan.LabelClusterName: "east",
			"app": fmt.Sprintf("svc-%05d", i)},
		Annotations: map[string]string{
			plan.AnnotationRemoteSvcFQName:              fmt.Sprintf("svc-%05d.bench.svc.cluster.local", i),
			"mirror.linkerd.io/remote-resource-version": strconv.Itoa(100000 + i),
		},
		ManagedFields: serverFields("svcmirror"),
	}
}

func mirrorService(i int) *corev1.Service {
	single, cluster := corev1.IPFamilyPolicySingleStack, corev1.ServiceInternalTrafficPolicyCluster
	ip := fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)
	return &corev1.Service{ObjectMeta: mirrorMeta(i, "svc00000"), Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeClusterIP, ClusterIP: ip, ClusterIPs: []string{ip},
		IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, IPFamilyPolicy: &single,
		SessionAffinity: corev1.ServiceAffinityNone, InternalTrafficPolicy: &cluster,
		Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 8080, TargetPort: intstr.FromInt32(8080)}},
	}}
}

func mirrorEndpoints(i int) *corev1.Endpoints {
	m := mirrorMeta(i, "ep000000")
	m.Labels["endpointslice.kubernetes.io/skip-mirror"] = "true"
	m.Annotations["mirror.linkerd.io/remote-gateway-identity"] = "linkerd-gateway.linkerd-multicluster.serviceaccount.identity.linkerd.cluster.local"
	return &corev1.Endpoints{ObjectMeta: m, Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "198.51.100.10"}},
		Ports:     []corev1.EndpointPort{{Name: "http", Port: 4143, Protocol: corev1.ProtocolTCP}},
	}}}
}

func mirrorSlice(i int) *discoveryv1.EndpointSlice {
	m := mirrorMeta(i, "sl000000")
	svc := m.Name
	m.Name += ".0"
	m.Labels[discoveryv1.LabelServiceName] = svc
	m.Labels[discoveryv1.LabelManagedBy] = "service-mirror.svcmirror.io"
	delete(m.Annotations, "mirror.linkerd.io/remote-resource-version")
	yes, port, proto, portName := true, int32(4143), corev1.ProtocolTCP, "http"
	return &discoveryv1.EndpointSlice{ObjectMeta: m, AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"198.51.100.10"},
			Conditions: discoveryv1.EndpointConditions{Ready: &yes, Serving: &yes, Terminating: new(bool)}}},
		Ports: []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: &proto}}}
}

func namespaceObj(i int) *corev1.Namespace {
	name := fmt.Sprintf("ns-%05d", i)
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, UID: uuidOf("ns", i),
		ResourceVersion: strconv.Itoa(i), CreationTimestamp: metav1.Now(),
		Labels:        map[string]string{"kubernetes.io/metadata.name": name},
		ManagedFields: serverFields("kubectl-create")},
		Spec:   corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
}

func dropManagedFields(obj any) (any, error) {
	obj.(metav1.Object).SetManagedFields(nil)
	return obj, nil
}

func TestLocalCacheCostPerObject(t *testing.T) {
	n := cacheCostN()
	svc := func(i int) any { return decoded(t, mirrorService(i)) }
	ep := func(i int) any { return decoded(t, mirrorEndpoints(i)) }
	slice := func(i int) any { return decoded(t, mirrorSlice(i)) }
	ns := func(i int) any { return decoded(t, namespaceObj(i)) }
	rows := []struct {
		cache     string
		mk        func(int) any
		transform func(any) (any, error)
	}{
		{"local mirror Service", svc, slimLocal},
		{"local mirror Endpoints", ep, slimLocal},
		{"local mirror EndpointSlice", slice, slimLocal},
		{"local Namespace", ns, slimNamespace},
	}
	for _, r := range rows {
		before := perObject(n, storeOf(t, r.mk, dropManagedFields))
		after := perObject(n, storeOf(t, r.mk, r.transform))
		t.Logf("%-28s managedFields dropped %5.0f B/object, as cached %5.0f (n=%d)", r.cache, before, after, n)
		if after > before {
			t.Errorf("%s: the transform costs more (%.0f B) than dropping managedFields alone (%.0f B)", r.cache, after, before)
		}
	}

	// The recent-writes overlay holds an API server's answer per write in
	// flight until the informer shows it: up to every mirror object while a
	// large link converges.
	overlay := perObject(n, func(n int) any {
		w := newRecentWrites[*corev1.Service]()
		for i := 0; i < n; i++ {
			w.wrote(decoded(t, mirrorService(i)))
		}
		return w
	})
	t.Logf("%-28s %5.0f B per write in flight", "recent-writes overlay", overlay)

	// The reporter keeps a mode per mirrored Service (and a failure per
	// failing one).
	reporterCost := perObject(n, func(n int) any {
		r := newReporter(nil)
		for i := 0; i < n; i++ {
			r.setMode(queue.ServiceKey("bench", fmt.Sprintf("svc-%05d", i)), plan.ModeGateway)
		}
		return r
	})
	t.Logf("%-28s %5.0f B per mirrored Service", "reporter maps", reporterCost)
	if overlay <= 0 || reporterCost <= 0 {
		t.Errorf("a measurement read nothing: overlay %.0f B, reporter %.0f B", overlay, reporterCost)
	}
}
