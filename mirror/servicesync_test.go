package mirror

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/svcmirror/svcmirror/metrics"
	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/queue"
	"github.com/svcmirror/svcmirror/remote"
)

// fakeRemote is the remote cluster as a sync reads it.
type fakeRemote struct {
	services  map[string]*corev1.Service // cache, by namespace/name
	live      map[string]*corev1.Service // what the API server answers
	endpoints map[string][]plan.RemoteEndpoint
	liveGets  int
}

func (f *fakeRemote) HasSynced() bool                              { return true }
func (f *fakeRemote) Reachable() bool                              { return true }
func (f *fakeRemote) NotReady() string                             { return "" }
func (f *fakeRemote) CredentialsProblem() *remote.CredentialsError { return nil }
func (f *fakeRemote) Service(ns, name string) (*corev1.Service, bool) {
	s, ok := f.services[ns+"/"+name]
	return s, ok
}
func (f *fakeRemote) Endpoints(ns, name string) []plan.RemoteEndpoint {
	return f.endpoints[ns+"/"+name]
}
func (f *fakeRemote) LiveService(_ context.Context, ns, name string) (*corev1.Service, bool, error) {
	f.liveGets++
	s, ok := f.live[ns+"/"+name]
	return s, ok, nil
}
func (f *fakeRemote) Services(string) []cache.ObjectName { return nil }

// syncHarness is a serviceSyncer over a fake local clientset whose
// informers never run: tests fill their indexers directly, so what the
// caches hold is exactly what each test says.
type syncHarness struct {
	s       *serviceSyncer
	local   *fake.Clientset
	inf     LocalInformers
	remote  *fakeRemote
	events  *record.FakeRecorder
	metrics *metrics.Metrics
}

func newSyncHarness(t *testing.T, localObjs ...runtime.Object) *syncHarness {
	t.Helper()
	client := fake.NewClientset(localObjs...)
	inf := NewLocalInformers(client, "east")
	if err := inf.Namespaces.GetIndexer().Add(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}); err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	local, err := newLocalState(client, inf, m)
	if err != nil {
		t.Fatal(err)
	}
	link := &plan.Link{
		Namespace: "linkerd-multicluster", Name: "east", TargetClusterName: "east", TargetClusterDomain: "cluster.local",
		GatewayAddresses: []string{"192.0.2.10"}, GatewayPort: 4143,
		Selector:                 labels.SelectorFromSet(labels.Set{"mirror.linkerd.io/exported": "true"}),
		RemoteDiscoverySelector:  labels.SelectorFromSet(labels.Set{"mirror.linkerd.io/exported": "remote-discovery"}),
		FederatedServiceSelector: labels.Nothing(),
	}
	rv := &fakeRemote{services: map[string]*corev1.Service{}, live: map[string]*corev1.Service{}, endpoints: map[string][]plan.RemoteEndpoint{}}
	conn := &connection{}
	conn.setLink(link, &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"namespace": "linkerd-multicluster", "name": "east"}}})
	conn.replaceRemote(rv, func() {}, nil, "")
	events := record.NewFakeRecorder(10)
	report := newReporter(m)
	q := queue.New("test-" + strings.ReplaceAll(t.Name(), "/", "-"))
	t.Cleanup(q.ShutDown)
	status := &statusReporter{queue: q, key: queue.Key{Kind: queue.KindStatus}, events: events, report: report, conn: conn, metrics: m, leading: func() bool { return true }}
	gw := plan.Gateway{Addresses: []plan.GatewayAddress{{IP: "192.0.2.10", Alive: true}}}
	s := &serviceSyncer{conn: conn, local: local, gateway: func() plan.Gateway { return gw }, output: plan.DefaultOutput(), client: client,
		conflictRetry: 30e9, changes: newChangeClock(), report: report, status: status, metrics: m}
	client.ClearActions()
	return &syncHarness{s: s, local: client, inf: inf, remote: rv, events: events, metrics: m}
}

// export puts a remote Service in the remote cache and the API server.
func (h *syncHarness) export(svc *corev1.Service, eps ...plan.RemoteEndpoint) {
	key := svc.Namespace + "/" + svc.Name
	h.remote.services[key], h.remote.live[key], h.remote.endpoints[key] = svc, svc, eps
}

// cache puts objects in the local informers' indexers, in the compact
// form the informers' transform gives them.
func (h *syncHarness) cache(t *testing.T, objs ...metav1.Object) {
	t.Helper()
	for _, o := range objs {
		var err error
		cached, _ := slimLocal(o.(runtime.Object).DeepCopyObject())
		switch o.(type) {
		case *corev1.Service:
			err = h.inf.Services.GetIndexer().Add(cached)
		case *corev1.Endpoints:
			err = h.inf.Endpoints.GetIndexer().Add(cached)
		case *discoveryv1.EndpointSlice:
			err = h.inf.Slices.GetIndexer().Add(cached)
			// The informer's handler indexes a slice by Service (indexSlices).
			h.s.local.slicesByService.Add(cached.(*cachedSlice).service(), o.GetName())
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// writes returns the local clientset's actions since the last call, as
// "verb resource name" strings.
func (h *syncHarness) writes() []string {
	var out []string
	for _, a := range h.local.Actions() {
		name := ""
		switch a := a.(type) {
		case k8stesting.CreateAction:
			name = a.GetObject().(metav1.Object).GetName()
		case k8stesting.UpdateAction:
			name = a.GetObject().(metav1.Object).GetName()
		case k8stesting.DeleteAction:
			name = a.GetName()
		case k8stesting.GetAction:
			name = a.GetName()
		}
		out = append(out, a.GetVerb()+" "+a.GetResource().Resource+" "+name)
	}
	h.local.ClearActions()
	return out
}

// counter reads one series of the registry.
func (h *syncHarness) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := h.metrics.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			n++
		}
	}
	return n == len(want)
}

func exportedService(name, mode string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, ResourceVersion: "10",
			Labels: map[string]string{"app": name, "mirror.linkerd.io/exported": mode}},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}},
	}
}

var readyEndpoint = plan.RemoteEndpoint{Ready: true}

func TestSyncCreatesOnceThenWritesNothing(t *testing.T) {
	h := newSyncHarness(t)
	h.export(exportedService("web", "true"), readyEndpoint)
	ctx := context.Background()
	key := queue.ServiceKey("apps", "web")
	if err := h.s.sync(ctx, key); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"create services web-east", "create endpoints web-east", "create endpointslices web-east.0"}, h.writes()); diff != "" {
		t.Fatalf("first sync (-want +got):\n%s", diff)
	}
	if got := h.counter(t, "svcmirror_writes_total", map[string]string{"kind": "Service", "operation": "create"}); got != 1 {
		t.Errorf("Service creates counted %v, want 1", got)
	}
	// Synced again before the caches show the writes: the recent-writes
	// overlay must make this a no-op.
	if err := h.s.sync(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got := h.writes(); len(got) != 0 {
		t.Fatalf("a sync with everything already right wrote %v", got)
	}
	if got := h.counter(t, "svcmirror_noop_syncs_total", nil); got != 1 {
		t.Errorf("no-op syncs counted %v, want 1", got)
	}
	if got := h.counter(t, "svcmirror_mirrors", map[string]string{"mode": "gateway"}); got != 1 {
		t.Errorf("gateway-mode mirrors gauge %v, want 1", got)
	}
}

func TestSyncOfAMirrorAlreadyRightWritesNothing(t *testing.T) {
	h := newSyncHarness(t)
	remote := exportedService("web", "true")
	h.export(remote, readyEndpoint)
	d, err := plan.DesiredWith(h.s.conn.snapshot().Link, plan.RemoteState{Service: remote, Endpoints: []plan.RemoteEndpoint{readyEndpoint}}, plan.ModeGateway, h.s.gateway(), h.s.output)
	if err != nil {
		t.Fatal(err)
	}
	h.cache(t, d.Service, d.Endpoints, d.Slices[0])
	if err := h.s.sync(context.Background(), queue.ServiceKey("apps", "web")); err != nil {
		t.Fatal(err)
	}
	if got := h.writes(); len(got) != 0 {
		t.Fatalf("wrote %v", got)
	}
}

// The caches keep a digest of each mirror object's owned fields, not the
// fields: drift in any of them must still be found and repaired.
func TestSyncRepairsDriftTheCachedDigestsReveal(t *testing.T) {
	remote := exportedService("web", "true")
	d, err := plan.DesiredWith(newSyncHarness(t).s.conn.snapshot().Link, plan.RemoteState{Service: remote, Endpoints: []plan.RemoteEndpoint{readyEndpoint}},
		plan.ModeGateway, plan.Gateway{Addresses: []plan.GatewayAddress{{IP: "192.0.2.10", Alive: true}}}, plan.DefaultOutput())
	if err != nil {
		t.Fatal(err)
	}
	ep := d.Endpoints.DeepCopy()
	ep.Subsets[0].Addresses[0].IP = "203.0.113.9" // someone re-pointed it
	slice := d.Slices[0].DeepCopy()
	slice.Annotations["example.com/added"] = "x" // someone annotated it
	svc := d.Service.DeepCopy()
	h := newSyncHarness(t, svc, ep, slice)
	h.cache(t, svc, ep, slice)
	h.export(remote, readyEndpoint)
	if err := h.s.sync(context.Background(), queue.ServiceKey("apps", "web")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"get endpoints web-east", "update endpoints web-east", "get endpointslices web-east.0", "update endpointslices web-east.0"}, h.writes()); diff != "" {
		t.Fatalf("repair (-want +got):\n%s", diff)
	}
}

func TestSyncSkipsMissingNamespaceAndSaysSo(t *testing.T) {
	h := newSyncHarness(t)
	svc := exportedService("web", "true")
	svc.Namespace = "elsewhere"
	h.export(svc, readyEndpoint)
	if err := h.s.sync(context.Background(), queue.ServiceKey("elsewhere", "web")); err != nil {
		t.Fatalf("a missing namespace waits for the namespace informer, not a retry: %v", err)
	}
	if got := h.writes(); len(got) != 0 {
		t.Fatalf("wrote %v for a Service whose namespace is missing", got)
	}
	if got := h.counter(t, "svcmirror_skips_total", map[string]string{"reason": "MissingNamespace"}); got != 1 {
		t.Errorf("MissingNamespace skips %v, want 1", got)
	}
	if ev := <-h.events.Events; !strings.Contains(ev, "MissingNamespace") {
		t.Errorf("event %q, want a MissingNamespace Warning", ev)
	}
}

func TestSyncLeavesForeignServiceAloneAndRetriesLater(t *testing.T) {
	foreign := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web-east"}}
	h := newSyncHarness(t, foreign)
	h.export(exportedService("web", "true"), readyEndpoint)
	err := h.s.sync(context.Background(), queue.ServiceKey("apps", "web"))
	if !queue.IsRetryAfter(err) {
		t.Fatalf("sync error %v, want a timed retry", err)
	}
	if diff := cmp.Diff([]string{"create services web-east", "get services web-east"}, h.writes()); diff != "" {
		t.Fatalf("writes (-want +got):\n%s", diff)
	}
	live, _ := h.local.CoreV1().Services("apps").Get(context.Background(), "web-east", metav1.GetOptions{})
	if len(live.Labels) != 0 {
		t.Fatalf("foreign Service changed: labels %v", live.Labels)
	}
	if got := h.counter(t, "svcmirror_skips_total", map[string]string{"reason": "Conflict"}); got != 1 {
		t.Errorf("Conflict skips %v, want 1", got)
	}
}

func TestSyncUsesTheObjectOfALostCreate(t *testing.T) {
	h := newSyncHarness(t)
	h.export(exportedService("web", "true"), readyEndpoint)
	// The API server made the Service, but its answer was lost: a retried
	// create says AlreadyExists. The object there is ours.
	d, err := plan.DesiredWith(h.s.conn.snapshot().Link, plan.RemoteState{Service: h.remote.services["apps/web"], Endpoints: []plan.RemoteEndpoint{readyEndpoint}}, plan.ModeGateway, h.s.gateway(), h.s.output)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.local.CoreV1().Services("apps").Create(context.Background(), d.Service, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.writes()
	if err := h.s.sync(context.Background(), queue.ServiceKey("apps", "web")); err != nil {
		t.Fatalf("a create answered AlreadyExists for our own object must not fail: %v", err)
	}
	if diff := cmp.Diff([]string{"create services web-east", "get services web-east", "create endpoints web-east", "create endpointslices web-east.0"}, h.writes()); diff != "" {
		t.Fatalf("writes (-want +got):\n%s", diff)
	}
	if err := h.s.sync(context.Background(), queue.ServiceKey("apps", "web")); err != nil {
		t.Fatal(err)
	}
	if got := h.writes(); len(got) != 0 {
		t.Fatalf("the next sync wrote %v; the live object should have been remembered", got)
	}
}

func TestSyncReportsAnObjectTheAPIServerRejectsOnce(t *testing.T) {
	h := newSyncHarness(t)
	h.export(exportedService("web", "true"), readyEndpoint)
	h.local.PrependReactor("create", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "web-east", nil)
	})
	err := h.s.sync(context.Background(), queue.ServiceKey("apps", "web"))
	if !queue.IsPermanent(err) {
		t.Fatalf("sync error %v, want a permanent one (retrying cannot help)", err)
	}
	if got := h.counter(t, "svcmirror_skips_total", map[string]string{"reason": "InvalidService"}); got != 1 {
		t.Errorf("InvalidService skips %v, want 1", got)
	}
}

func TestSyncDeletesMirrorOnlyAfterTheRemoteConfirms(t *testing.T) {
	h := newSyncHarness(t)
	remote := exportedService("web", "true")
	d, err := plan.DesiredWith(h.s.conn.snapshot().Link, plan.RemoteState{Service: remote, Endpoints: []plan.RemoteEndpoint{readyEndpoint}}, plan.ModeGateway, h.s.gateway(), h.s.output)
	if err != nil {
		t.Fatal(err)
	}
	h.cache(t, d.Service, d.Endpoints, d.Slices[0])
	key := queue.ServiceKey("apps", "web")

	// Gone from the cache, but the API server still has it exported (a
	// relabel in flight): nothing is deleted.
	h.remote.live["apps/web"] = remote
	h.remote.endpoints["apps/web"] = []plan.RemoteEndpoint{readyEndpoint}
	if err := h.s.sync(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	if got := h.writes(); len(got) != 0 || h.remote.liveGets != 1 {
		t.Fatalf("writes %v after %d live reads; want none after one", got, h.remote.liveGets)
	}

	delete(h.remote.live, "apps/web")
	if err := h.s.sync(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"delete endpointslices web-east.0", "delete endpoints web-east", "delete services web-east"}, h.writes()); diff != "" {
		t.Fatalf("writes after the remote delete (-want +got):\n%s", diff)
	}
}

func TestSyncOfAHeadlessServiceFillsItsEndpointsFromAssignedClusterIPs(t *testing.T) {
	h := newSyncHarness(t)
	db := exportedService("db", "true")
	db.Spec.ClusterIP = corev1.ClusterIPNone
	h.export(db, plan.RemoteEndpoint{Hostname: "db-0", Ready: true})
	// The API server assigns ClusterIPs; the fake clientset does not.
	h.local.PrependReactor("create", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		svc := a.(k8stesting.CreateAction).GetObject().(*corev1.Service)
		if svc.Spec.ClusterIP == "" {
			svc.Spec.ClusterIP = "10.96.0.10"
		}
		return false, nil, nil
	})
	if err := h.s.sync(context.Background(), queue.ServiceKey("apps", "db")); err != nil {
		t.Fatal(err)
	}
	want := []string{"create services db-0-east", "create endpoints db-0-east", "create endpointslices db-0-east.0",
		"create services db-east", "create endpoints db-east", "create endpointslices db-east.0"}
	if diff := cmp.Diff(want, h.writes()); diff != "" {
		t.Fatalf("writes (-want +got):\n%s", diff)
	}
	ep, err := h.local.CoreV1().Endpoints("apps").Get(context.Background(), "db-east", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1 || ep.Subsets[0].Addresses[0] != (corev1.EndpointAddress{IP: "10.96.0.10", Hostname: "db-0"}) {
		t.Fatalf("headless Endpoints %+v, want db-0 at the endpoint mirror's ClusterIP", ep.Subsets)
	}
}

func TestSyncStopsAtTheFirstFailedWrite(t *testing.T) {
	h := newSyncHarness(t)
	h.export(exportedService("web", "true"), readyEndpoint)
	h.local.PrependReactor("create", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	err := h.s.sync(context.Background(), queue.ServiceKey("apps", "web"))
	if err == nil || queue.IsPermanent(err) || queue.IsRetryAfter(err) {
		t.Fatalf("sync error %v, want a plain error to retry with back-off", err)
	}
	if diff := cmp.Diff([]string{"create services web-east"}, h.writes()); diff != "" {
		t.Fatalf("writes (-want +got):\n%s", diff)
	}
}

// The local cache keeps only what the plan compares, so an update must
// write the live object with our fields set: a finalizer someone added and
// the fields the API server assigned survive it.
func TestUpdateWritesTheLiveObjectWithOurFieldsKeepingWhatTheCacheLeavesOut(t *testing.T) {
	remote := exportedService("web", "true")
	d, err := plan.DesiredWith(newSyncHarness(t).s.conn.snapshot().Link, plan.RemoteState{Service: remote, Endpoints: []plan.RemoteEndpoint{readyEndpoint}},
		plan.ModeGateway, plan.Gateway{Addresses: []plan.GatewayAddress{{IP: "192.0.2.10", Alive: true}}}, plan.DefaultOutput())
	if err != nil {
		t.Fatal(err)
	}
	live := d.Service.DeepCopy()
	live.UID, live.ResourceVersion = "uid-1", "5"
	live.Finalizers = []string{"example.com/keep"}
	live.Spec.ClusterIP, live.Spec.ClusterIPs = "10.96.0.7", []string{"10.96.0.7"}
	live.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	h := newSyncHarness(t, live, d.Endpoints, d.Slices[0])
	h.cache(t, live, d.Endpoints, d.Slices[0])

	changed := remote.DeepCopy()
	changed.ResourceVersion, changed.Labels["tier"] = "11", "front"
	h.export(changed, readyEndpoint)
	if err := h.s.sync(context.Background(), queue.ServiceKey("apps", "web")); err != nil {
		t.Fatal(err)
	}
	var written *corev1.Service
	for _, a := range h.local.Actions() {
		if u, ok := a.(k8stesting.UpdateAction); ok && a.GetResource().Resource == "services" {
			written = u.GetObject().(*corev1.Service)
		}
	}
	if written == nil {
		t.Fatalf("no Service update among %v", h.writes())
	}
	if written.Labels["tier"] != "front" {
		t.Errorf("the update's labels %v lack the remote's new label", written.Labels)
	}
	if !slices.Equal(written.Finalizers, live.Finalizers) || written.Spec.ClusterIP != "10.96.0.7" ||
		!slices.Equal(written.Spec.ClusterIPs, live.Spec.ClusterIPs) || !slices.Equal(written.Spec.IPFamilies, live.Spec.IPFamilies) ||
		written.UID != live.UID || written.ResourceVersion != live.ResourceVersion {
		t.Errorf("the update dropped what the cache leaves out: finalizers %v, clusterIP %q %v, ipFamilies %v, uid %q, rv %q",
			written.Finalizers, written.Spec.ClusterIP, written.Spec.ClusterIPs, written.Spec.IPFamilies, written.UID, written.ResourceVersion)
	}
}
