package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

const (
	gwA = "192.0.2.10"
	gwB = "192.0.2.11"
)

// TestGatewayProbe runs real HTTP servers on two gateway addresses in a
// private network namespace and checks that liveness drives readiness:
// after failureThreshold × period a stopped gateway's address is not
// ready in every gateway-mode mirror and gateway_alive follows; only the
// failing address moves; writes happen on transitions only; and a
// DNS-named gateway is resolved and followed when its address changes.
func TestGatewayProbe(t *testing.T) {
	if !inPrivateNetwork(t, "192.0.2.10 gateway.test\n", gwA, gwB) {
		return
	}
	ctx := context.Background()
	a := startGateway(t, gwA, "4191")
	b := startGateway(t, gwB, "4191")
	probe := map[string]any{"path": "/ready", "port": "4191", "period": "1s", "timeout": "1s", "failureThreshold": "2"}
	cs := testbed.StartAll(t, []string{"source", "target"})
	p, err := testbed.LinkClusters(ctx, cs[0], cs[1], clusterName)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ApplyLink(ctx, p.LinkObject(gwA+","+gwB, map[string]any{"probeSpec": probe})); err != nil {
		t.Fatal(err)
	}
	const ns = "apps"
	if err := p.Source.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	makeRemoteService(t, p.Target, ns, "one", "10.7.0.1", exported("true"))
	makeRemoteService(t, p.Target, ns, "two", "10.7.0.2", exported("true"))
	makeRemoteService(t, p.Target, ns, "flat", "10.7.0.3", exported("remote-discovery"))
	d := startDaemon(t, p, "--gateway-resolve-interval=500ms")

	waitAddresses := func(ready, notReady []string) {
		t.Helper()
		for _, name := range []string{"one-target", "two-target"} {
			waitEndpoints(t, p.Source, ns, name, func(ep *corev1.Endpoints) (bool, string) {
				r, n := gatewayAddresses(ep)
				return slices.Equal(r, ready) && slices.Equal(n, notReady), fmt.Sprintf("%s ready %v notReady %v, want %v %v", name, r, n, ready, notReady)
			})
		}
	}
	waitMetric := func(name string, want float64, match ...string) {
		t.Helper()
		testbed.Eventually(t, 30*time.Second, func() (bool, string) {
			got := d.metric(name, match...)
			return got == want, fmt.Sprintf("%s%v = %v, want %v", name, match, got, want)
		})
	}
	waitAddresses([]string{gwA, gwB}, nil)
	waitMetric("gateway_alive", 1)
	waitMetric("gateway_enabled", 1)
	// Linkerd's probe objects, which `linkerd multicluster check` reads:
	// every gateway IP at port mc-probe, whatever the probe says.
	probeEp := waitEndpoints(t, p.Source, testbed.LinkNamespace, "probe-gateway-"+clusterName, func(ep *corev1.Endpoints) (bool, string) {
		r, _ := gatewayAddresses(ep)
		return slices.Equal(r, []string{gwA, gwB}), fmt.Sprintf("probe Endpoints ready %v", r)
	})
	if ports := probeEp.Subsets[0].Ports; len(ports) != 1 || ports[0].Name != "mc-probe" || ports[0].Port != 4191 {
		t.Errorf("probe Endpoints ports %+v, want mc-probe at 4191", ports)
	}
	if probeEp.Labels["mirror.linkerd.io/cluster-name"] != clusterName {
		t.Errorf("probe Endpoints labels %v lack the cluster-name label", probeEp.Labels)
	}
	waitService(t, p.Source, testbed.LinkNamespace, "probe-gateway-"+clusterName, func(s *corev1.Service) (bool, string) {
		return len(s.Spec.Ports) == 1 && s.Spec.Ports[0].Name == "mc-probe", fmt.Sprintf("ports %+v", s.Spec.Ports)
	})
	testbed.Eventually(t, 10*time.Second, func() (bool, string) {
		return a.hits.Load() > 0 && b.hits.Load() > 0, fmt.Sprintf("gateways not probed: %d and %d requests", a.hits.Load(), b.hits.Load())
	})
	flat := waitService(t, p.Source, ns, "flat-target", func(*corev1.Service) (bool, string) { return true, "" })
	waitSettled(t, d, 3)
	updates := func() float64 { return d.metric("svcmirror_writes_total", `kind="Endpoints"`, `operation="update"`) }

	// One of two gateways down: only its address becomes not ready.
	before := updates()
	b.stop()
	waitAddresses([]string{gwA}, []string{gwB})
	waitMetric("svcmirror_gateway_address_alive", 0, `address="`+gwB+`"`)
	waitMetric("gateway_alive", 1)
	if got := updates() - before; got != 2 {
		t.Errorf("%v Endpoints updates for one transition, want 2 (one per gateway-mode mirror)", got)
	}
	// Probes keep failing, but nothing changes, so nothing is written.
	quiet := localWrites(t, p.Source)
	time.Sleep(3 * time.Second) // three more failed probe periods
	if got := localWrites(t, p.Source) - quiet; got != 0 {
		t.Errorf("%v writes while the gateway stayed down, want 0", got)
	}

	// Both down: gateway_alive is 0.
	a.stop()
	waitAddresses(nil, []string{gwA, gwB})
	waitMetric("gateway_alive", 0)
	if got := d.metric("gateway_probes", `probe_successful="false"`); got == 0 {
		t.Error("no failed probes counted")
	}

	// Back up: one success each brings them back.
	a.start()
	b.start()
	waitAddresses([]string{gwA, gwB}, nil)
	waitMetric("gateway_alive", 1)
	now, err := p.Source.Client.CoreV1().Services(ns).Get(ctx, "flat-target", metav1.GetOptions{})
	if err != nil || now.ResourceVersion != flat.ResourceVersion {
		t.Errorf("remote-discovery mirror rewritten by gateway transitions: %v", err)
	}

	// A DNS-named gateway is resolved, and followed when its address moves.
	link, err := p.GetLink(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(link.Object, "gateway.test", "spec", "gatewayAddress"); err != nil {
		t.Fatal(err)
	}
	if err := p.ApplyLink(ctx, link); err != nil {
		t.Fatal(err)
	}
	waitAddresses([]string{gwA}, nil)
	if err := os.WriteFile(os.Getenv(hostsEnv), []byte("127.0.0.1 localhost\n"+gwB+" gateway.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitAddresses([]string{gwB}, nil)
	d.alive()
}
