package mirror

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/queue"
)

// remotePod is a remote endpoint as remote/ reports it.
func remotePod(ip string, ready bool) plan.RemoteEndpoint {
	return plan.RemoteEndpoint{Addresses: []string{ip}, AddressType: discoveryv1.AddressTypeIPv4, Ready: ready, Serving: ready,
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}}}
}

// readyAddresses lists the ready addresses of the local slice apps/name.
func (h *syncHarness) readyAddresses(t *testing.T, name string) []string {
	t.Helper()
	s, err := h.local.DiscoveryV1().EndpointSlices("apps").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.local.ClearActions() // a read of the test's, not the sync's
	var out []string
	for _, e := range s.Endpoints {
		if e.Conditions.Ready != nil && *e.Conditions.Ready {
			out = append(out, e.Addresses...)
		}
	}
	return out
}

func TestSyncOfAFlatMirrorWritesTheRemotePodsAndFollowsTheirReadiness(t *testing.T) {
	h := newSyncHarness(t)
	pods := []plan.RemoteEndpoint{remotePod("10.1.0.1", true), remotePod("10.1.0.2", true), remotePod("10.1.0.3", true)}
	h.export(exportedService("web", "remote-discovery"), pods...)
	ctx, key := context.Background(), queue.ServiceKey("apps", "web")
	if err := h.s.sync(ctx, key); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"create services web-east", "create endpointslices web-east.0"}, h.writes()); diff != "" {
		t.Fatalf("first sync (-want +got):\n%s", diff)
	}
	if got := h.readyAddresses(t, "web-east.0"); !cmp.Equal(got, []string{"10.1.0.1", "10.1.0.2", "10.1.0.3"}) {
		t.Fatalf("flat slice's ready addresses %v, want the three pods", got)
	}
	if got := h.counter(t, "svcmirror_writes_total", map[string]string{"kind": "EndpointSlice", "operation": "create"}); got != 1 {
		t.Errorf("EndpointSlice creates counted %v, want 1", got)
	}

	// One pod turns unready: one update, and the overlay of our own write
	// makes the next sync (before the cache shows it) a no-op.
	h.remote.endpoints["apps/web"] = []plan.RemoteEndpoint{pods[0], remotePod("10.1.0.2", false), pods[2]}
	if err := h.s.sync(ctx, key); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"get endpointslices web-east.0", "update endpointslices web-east.0"}, h.writes()); diff != "" {
		t.Fatalf("after a pod turned unready (-want +got):\n%s", diff)
	}
	if got := h.readyAddresses(t, "web-east.0"); !cmp.Equal(got, []string{"10.1.0.1", "10.1.0.3"}) {
		t.Fatalf("ready addresses %v after 10.1.0.2 turned unready", got)
	}
	if err := h.s.sync(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got := h.writes(); len(got) != 0 {
		t.Fatalf("a sync with everything already right wrote %v", got)
	}
}

func TestSyncSplitsAndCollectsSlices(t *testing.T) {
	h := newSyncHarness(t)
	var pods []plan.RemoteEndpoint
	for i := range 150 {
		pods = append(pods, remotePod(fmt.Sprintf("10.1.%d.%d", i/200, i%200+1), true))
	}
	h.export(exportedService("web", "remote-discovery"), pods...)
	ctx, key := context.Background(), queue.ServiceKey("apps", "web")
	if err := h.s.sync(ctx, key); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"create services web-east", "create endpointslices web-east.0", "create endpointslices web-east.1"}, h.writes()); diff != "" {
		t.Fatalf("first sync (-want +got):\n%s", diff)
	}
	h.remote.endpoints["apps/web"] = pods[:10]
	if err := h.s.sync(ctx, key); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"get endpointslices web-east.0", "update endpointslices web-east.0", "delete endpointslices web-east.1"}, h.writes()); diff != "" {
		t.Fatalf("after 140 pods went (-want +got):\n%s", diff)
	}
}

func TestSyncNeverTouchesAForeignSliceOfTheMirrorsName(t *testing.T) {
	foreign := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web-east-foreign", Labels: map[string]string{
			discoveryv1.LabelServiceName: "web-east", discoveryv1.LabelManagedBy: "someone-else"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.9.9.9"}}},
	}
	h := newSyncHarness(t, foreign)
	h.export(exportedService("web", "true"), readyEndpoint)
	ctx, key := context.Background(), queue.ServiceKey("apps", "web")
	if err := h.s.sync(ctx, key); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"create services web-east", "create endpoints web-east", "create endpointslices web-east.0"}, h.writes()); diff != "" {
		t.Fatalf("writes (-want +got):\n%s", diff)
	}
	// Unexported: the mirror goes, the foreign slice stays as it was.
	delete(h.remote.services, "apps/web")
	delete(h.remote.live, "apps/web")
	if err := h.s.sync(ctx, key); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"delete endpointslices web-east.0", "delete endpoints web-east", "delete services web-east"}, h.writes()); diff != "" {
		t.Fatalf("writes after the unexport (-want +got):\n%s", diff)
	}
	live, err := h.local.DiscoveryV1().EndpointSlices("apps").Get(ctx, "web-east-foreign", metav1.GetOptions{})
	if err != nil || !cmp.Equal(live, foreign) {
		t.Fatalf("foreign slice now %+v (%v), want it untouched", live, err)
	}
}

func TestSyncDeletesAnOrphanSliceOnceTheRemoteConfirms(t *testing.T) {
	h := newSyncHarness(t)
	remote := exportedService("web", "remote-discovery")
	d, err := plan.DesiredWith(h.s.conn.snapshot().Link, plan.RemoteState{Service: remote, Endpoints: []plan.RemoteEndpoint{remotePod("10.1.0.1", true)}},
		plan.ModeRemoteDiscovery, h.s.gateway(), h.s.output)
	if err != nil {
		t.Fatal(err)
	}
	// Only the slice is left (its Service was deleted by hand while the
	// daemon was down): it still names its remote Service.
	h.cache(t, d.Slices[0])
	if err := h.s.sync(context.Background(), queue.ServiceKey("apps", "web")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"delete endpointslices web-east.0"}, h.writes()); diff != "" || h.remote.liveGets != 1 {
		t.Fatalf("writes after %d live reads (-want +got):\n%s", h.remote.liveGets, diff)
	}
}
