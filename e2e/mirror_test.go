package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/svcmirror/svcmirror/manifests"
)

// TestGatewayMirrorIsExact exports a Service in gateway mode and checks
// every label, annotation, port and endpoint of its mirror against the
// Linkerd contract.
func TestGatewayMirrorIsExact(t *testing.T) {
	p := linkedPair(t, nil)
	d := startDaemon(t, p)
	ctx := context.Background()
	if err := p.Source.EnsureNamespace(ctx, "mc-demo"); err != nil {
		t.Fatal(err)
	}
	remote := makeRemoteService(t, p.Target, "mc-demo", "bb", "10.1.0.5",
		exported("true"), withLabels("team", "blue", "mirror.linkerd.io/other", "dropped"))
	remote.Annotations = nil

	svc := waitService(t, p.Source, "mc-demo", "bb-target", func(*corev1.Service) (bool, string) { return true, "" })
	wantLabels := map[string]string{
		"app": "bb", "team": "blue",
		"mirror.linkerd.io/mirrored-service": "true",
		"mirror.linkerd.io/cluster-name":     clusterName,
	}
	if diff := cmp.Diff(wantLabels, svc.Labels); diff != "" {
		t.Errorf("mirror Service labels (-want +got):\n%s", diff)
	}
	if got := svc.Annotations[fqAnnotation]; got != "bb.mc-demo.svc.cluster.local" {
		t.Errorf("%s = %q", fqAnnotation, got)
	}
	if svc.Annotations[rvAnnotation] == "" {
		t.Errorf("%s missing", rvAnnotation)
	}
	if svc.Spec.Selector != nil || svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Errorf("mirror must be a selector-less ClusterIP Service: selector %v clusterIP %q", svc.Spec.Selector, svc.Spec.ClusterIP)
	}
	if diff := cmp.Diff([]corev1.ServicePort{httpPort(8080)}, svc.Spec.Ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}

	ep := waitEndpoints(t, p.Source, "mc-demo", "bb-target", func(ep *corev1.Endpoints) (bool, string) {
		return len(ep.Subsets) == 1, fmt.Sprintf("subsets %v", ep.Subsets)
	})
	wantSubsets := []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: gatewayIP}},
		Ports:     []corev1.EndpointPort{{Name: "http", Port: gatewayPort, Protocol: corev1.ProtocolTCP}},
	}}
	if diff := cmp.Diff(wantSubsets, ep.Subsets); diff != "" {
		t.Errorf("Endpoints subsets (-want +got):\n%s", diff)
	}
	// The remote's labels too, as Linkerd copies them onto Endpoints.
	if diff := cmp.Diff(map[string]string{
		"app": "bb", "team": "blue",
		"mirror.linkerd.io/mirrored-service":      "true",
		"mirror.linkerd.io/cluster-name":          clusterName,
		"endpointslice.kubernetes.io/skip-mirror": "true",
	}, ep.Labels); diff != "" {
		t.Errorf("Endpoints labels (-want +got):\n%s", diff)
	}
	// Its EndpointSlice says the same, for kube-proxy and CoreDNS. It is
	// written just after the Endpoints, so it is waited for too.
	slice := waitSlice(t, p.Source, "mc-demo", "bb-target.0", func(s *discoveryv1.EndpointSlice) bool { return len(readyIPs(s)) > 0 })
	mustBeOurSlice(t, slice)
	if diff := cmp.Diff(map[string]string{
		"mirror.linkerd.io/mirrored-service":     "true",
		"mirror.linkerd.io/cluster-name":         clusterName,
		"kubernetes.io/service-name":             "bb-target",
		"endpointslice.kubernetes.io/managed-by": managedBy,
	}, slice.Labels); diff != "" {
		t.Errorf("EndpointSlice labels (-want +got):\n%s", diff)
	}
	if got := readyIPs(slice); len(got) != 1 || got[0] != gatewayIP || len(slice.Ports) != 1 || *slice.Ports[0].Port != gatewayPort || *slice.Ports[0].Name != "http" {
		t.Errorf("EndpointSlice ready addresses %v ports %+v, want the gateway %s at http %d", got, slice.Ports, gatewayIP, gatewayPort)
	}
	if ep.Annotations[fqAnnotation] != "bb.mc-demo.svc.cluster.local" || ep.Annotations[gwIDAnnoation] == "" {
		t.Errorf("Endpoints annotations %v", ep.Annotations)
	}
	d.waitReady()
	if got := d.metric("svcmirror_mirrors", `mode="gateway"`); got != 1 {
		t.Errorf("svcmirror_mirrors{mode=gateway} = %v, want 1", got)
	}

	// Every series the Grafana dashboard queries is exported by the binary.
	names, err := manifests.DashboardMetricNames()
	if err != nil {
		t.Fatal(err)
	}
	body, err := d.get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if !strings.Contains(body, "# TYPE "+name+" ") {
			t.Errorf("dashboard queries %s, which the daemon does not export", name)
		}
	}
}
