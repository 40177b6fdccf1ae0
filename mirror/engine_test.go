package mirror

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/svcmirror/svcmirror/queue"
	"github.com/svcmirror/svcmirror/remote"
)

// engineHarness is an Engine wired to fake local and remote clientsets,
// with its caches synced, for calling the sync handler directly.
type engineHarness struct {
	e      *Engine
	local  *fake.Clientset
	remote *fake.Clientset
}

func newEngineHarness(t *testing.T, remoteObjs ...runtime.Object) *engineHarness {
	t.Helper()
	return newEngineHarnessWithLocal(t, nil, remoteObjs...)
}

// newEngineHarnessWithLocal also puts localObjs in the local cluster before
// the informers start. Objects that must stay out of the engine's caches
// (foreign ones) have to be made this way: the fake clientset's List honours
// label selectors, but its Watch does not.
func newEngineHarnessWithLocal(t *testing.T, localObjs []runtime.Object, remoteObjs ...runtime.Object) *engineHarness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	local := fake.NewClientset(append([]runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}}, localObjs...)...)
	rem := fake.NewClientset(remoteObjs...)

	e := New(Config{Namespace: "linkerd-multicluster", LinkName: "east", Local: local, Workers: 1})
	e.cluster, e.runCtx = "east", ctx
	e.events = record.NewFakeRecorder(100)
	e.link = &Link{
		Namespace: "linkerd-multicluster", Name: "east", TargetClusterName: "east", TargetClusterDomain: "cluster.local",
		GatewayAddresses: []string{"192.0.2.10"}, GatewayPort: 4143,
		Selector:                 labels.SelectorFromSet(labels.Set{"mirror.linkerd.io/exported": "true"}),
		RemoteDiscoverySelector:  labels.SelectorFromSet(labels.Set{"mirror.linkerd.io/exported": "remote-discovery"}),
		FederatedServiceSelector: labels.Nothing(),
	}
	e.gateway = Gateway{Addresses: []GatewayAddress{{IP: "192.0.2.10", Alive: true}}}
	e.startLocalInformers(ctx)
	e.remote = remote.Start(ctx, rem, remote.Options{
		Selectors: []labels.Selector{e.link.Selector, e.link.RemoteDiscoverySelector},
		Handlers:  remote.Handlers{ServiceChanged: func(string, string) {}},
	})
	if !cache.WaitForCacheSync(ctx.Done(), e.services.HasSynced, e.endpoints.HasSynced, e.namespaces.HasSynced) {
		t.Fatal("local caches did not sync")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !e.remote.HasSynced() {
		if time.Now().After(deadline) {
			t.Fatal("remote caches did not sync")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &engineHarness{e: e, local: local, remote: rem}
}

// writes returns the local clientset's mutating actions since the last
// call, as "verb resource name" strings.
func (h *engineHarness) writes() []string {
	var out []string
	for _, a := range h.local.Actions() {
		switch a.GetVerb() {
		case "create", "update", "delete", "patch":
			name := ""
			switch a := a.(type) {
			case k8stesting.CreateAction:
				name = a.GetObject().(metav1.Object).GetName()
			case k8stesting.UpdateAction:
				name = a.GetObject().(metav1.Object).GetName()
			case k8stesting.DeleteAction:
				name = a.GetName()
			}
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource+" "+name)
		}
	}
	h.local.ClearActions()
	return out
}

func exportedService(name, mode string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, ResourceVersion: "10",
			Labels: map[string]string{"app": name, "mirror.linkerd.io/exported": mode}},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}},
	}
}

func readySlice(service string) *discoveryv1.EndpointSlice {
	ready := true
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "apps", Name: service + "-abc", Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
	}
}

func TestSyncServiceWritesOnceThenNothing(t *testing.T) {
	h := newEngineHarness(t, exportedService("web", "true"), readySlice("web"))
	ctx := context.Background()
	key := queue.ServiceKey("apps", "web")

	if err := h.e.syncService(ctx, key); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"create services web-east", "create endpoints web-east"}, h.writes()); diff != "" {
		t.Fatalf("first sync writes (-want +got):\n%s", diff)
	}
	// Synced again at once, before the informers have seen the writes: the
	// recent-writes guard must make this a no-op, not a second create.
	if err := h.e.syncService(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got := h.writes(); len(got) != 0 {
		t.Fatalf("a sync with everything already right wrote %v", got)
	}
}

func TestSyncServiceSkipsMissingNamespaceWithoutWriting(t *testing.T) {
	svc := exportedService("web", "true")
	svc.Namespace = "elsewhere"
	h := newEngineHarness(t, svc)
	if err := h.e.syncService(context.Background(), queue.ServiceKey("elsewhere", "web")); err != nil {
		t.Fatal(err)
	}
	if got := h.writes(); len(got) != 0 {
		t.Fatalf("wrote %v for a Service whose namespace is missing", got)
	}
	_, failing, entries := h.e.report.snapshot(10)
	if failing != 1 || entries[0].Reason != ReasonMissingNamespace {
		t.Fatalf("report: %d failing %+v, want one MissingNamespace", failing, entries)
	}
}

func TestSyncServiceLeavesForeignServiceAlone(t *testing.T) {
	foreign := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web-east"}}
	h := newEngineHarnessWithLocal(t, []runtime.Object{foreign}, exportedService("web", "true"))
	ctx := context.Background()
	h.local.ClearActions()
	err := h.e.syncService(ctx, queue.ServiceKey("apps", "web"))
	if err == nil {
		t.Fatal("a foreign Service in the way must be an error to retry")
	}
	if got := h.writes(); !cmp.Equal(got, []string{"create services web-east"}) {
		t.Fatalf("writes %v, want only the refused create", got)
	}
	live, _ := h.local.CoreV1().Services("apps").Get(ctx, "web-east", metav1.GetOptions{})
	if len(live.Labels) != 0 {
		t.Fatalf("foreign Service changed: labels %v", live.Labels)
	}
}

func TestSyncServiceDeletesMirrorOfUnexportedService(t *testing.T) {
	h := newEngineHarness(t, exportedService("web", "true"), readySlice("web"))
	ctx := context.Background()
	key := queue.ServiceKey("apps", "web")
	if err := h.e.syncService(ctx, key); err != nil {
		t.Fatal(err)
	}
	h.writes()
	if err := h.remote.CoreV1().Services("apps").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, found := h.e.remote.Service("apps", "web"); !found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("remote cache never saw the delete")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := h.e.syncService(ctx, key); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"delete endpoints web-east", "delete services web-east"}, h.writes()); diff != "" {
		t.Fatalf("writes after remote delete (-want +got):\n%s", diff)
	}
}

func TestLinkDeletionRemovesObjectsWithoutRemoteIdentity(t *testing.T) {
	h := newEngineHarness(t)
	ctx := context.Background()
	// Ours by its labels, but with no remote-svc-fq-name: no Service key
	// ever names it.
	stray := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "stray-east", Labels: OwnershipLabels("east")}}
	if _, err := h.local.CoreV1().Services("apps").Create(ctx, stray, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(h.e.services.GetStore().ListKeys()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("informer never saw the stray Service")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.local.ClearActions()
	if err := h.e.deleteUnattributed(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"delete services stray-east"}, h.writes()); diff != "" {
		t.Fatalf("writes (-want +got):\n%s", diff)
	}
}

func TestLinkStatusOnlyChange(t *testing.T) {
	base := func() *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "multicluster.linkerd.io/v1alpha3", "kind": "Link",
			"metadata": map[string]any{"namespace": "linkerd-multicluster", "name": "east", "resourceVersion": "1"},
			"spec":     map[string]any{"targetClusterName": "east", "gatewayAddress": "192.0.2.10"},
		}}
		u.SetFinalizers([]string{Finalizer})
		return u
	}
	cases := []struct {
		name   string
		change func(u *unstructured.Unstructured)
		want   bool
	}{
		{"a status write is status only", func(u *unstructured.Unstructured) {
			u.Object["status"] = map[string]any{"summary": map[string]any{"mirrored": int64(3)}}
			u.SetResourceVersion("2")
		}, true},
		{"a spec change is not", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "192.0.2.11", "spec", "gatewayAddress")
		}, false},
		{"a finalizer change is not", func(u *unstructured.Unstructured) { u.SetFinalizers(nil) }, false},
		{"a deletion is not", func(u *unstructured.Unstructured) {
			now := metav1.Now()
			u.SetDeletionTimestamp(&now)
		}, false},
		{"a label change is not", func(u *unstructured.Unstructured) { u.SetLabels(map[string]string{"a": "b"}) }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			old, updated := base(), base()
			c.change(updated)
			if got := linkStatusOnlyChange(old, updated); got != c.want {
				t.Errorf("linkStatusOnlyChange = %v, want %v", got, c.want)
			}
		})
	}
	if linkStatusOnlyChange("not a Link", base()) {
		t.Error("an object of another type must not be taken for a status-only change")
	}
}
