package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/e2e/testbed"
	"github.com/svcmirror/svcmirror/manifests"
)

// TestBadInputIsReportedAndLosesNothing feeds the daemon a malformed Link
// and then an unparsable kubeconfig: each is reported (Event, metric,
// /ready), the daemon stays up, existing mirrors stay, and fixing the input
// resumes mirroring.
func TestBadInputIsReportedAndLosesNothing(t *testing.T) {
	p := linkedPair(t, map[string]any{"gatewayPort": "not-a-port"})
	ctx := context.Background()
	const ns = "apps"
	if err := p.Source.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	makeRemoteService(t, p.Target, ns, "web", "10.5.0.1", exported("true"))
	d := startDaemon(t, p)

	waitEvent(t, p.Source, "InvalidLink", "spec.gatewayPort")
	waitNotReady(t, d, "Link not loaded")
	if got := d.metric("svcmirror_config_errors_total", `source="link"`); got < 1 {
		t.Errorf("svcmirror_config_errors_total{source=link} = %v, want ≥ 1", got)
	}
	if exists(t, p.Source, ns, "web-target") {
		t.Fatal("mirrored with an invalid Link")
	}

	// Fixing the Link starts mirroring without a restart.
	if err := p.ApplyLink(ctx, p.LinkObject(gatewayIP, nil)); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, p.Source, ns, "web-target", func(ep *corev1.Endpoints) (bool, string) { return len(ep.Subsets) == 1, "" })
	d.waitReady()

	// A broken Link later keeps the last valid configuration and its mirrors.
	if err := p.ApplyLink(ctx, p.LinkObject(gatewayIP, map[string]any{"selector": map[string]any{
		"matchExpressions": []any{map[string]any{"key": "not a valid key!", "operator": "Exists"}},
	}})); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p.Source, "InvalidLink", "spec.selector")
	waitNotReady(t, d, "mirroring goes on with its last valid configuration")
	d.alive()
	if !exists(t, p.Source, ns, "web-target") {
		t.Fatal("a broken Link removed a mirror")
	}
	if err := p.ApplyLink(ctx, p.LinkObject(gatewayIP, nil)); err != nil {
		t.Fatal(err)
	}

	// Unparsable credentials are reported; the working connection is kept.
	before, err := p.Source.Client.CoreV1().Services(ns).Get(ctx, "web-target", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WriteSecret(ctx, []byte("this: is: not: a kubeconfig")); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p.Source, "InvalidCredentials", "kubeconfig")
	if got := d.metric("svcmirror_config_errors_total", `source="secret"`); got < 1 {
		t.Errorf("svcmirror_config_errors_total{source=secret} = %v, want ≥ 1", got)
	}
	d.alive()
	updateRemote(t, p.Target, ns, "web", func(s *corev1.Service) { s.Labels["still"] = "mirrored" })
	after := waitService(t, p.Source, ns, "web-target", func(s *corev1.Service) (bool, string) {
		return s.Labels["still"] == "mirrored", fmt.Sprintf("labels %v", s.Labels)
	})
	if after.UID != before.UID {
		t.Fatal("mirror was recreated")
	}
	if err := p.WriteCredentials(ctx, "svcmirror-remote-reader"); err != nil {
		t.Fatal(err)
	}
	d.waitReady()
}

// TestNamespaceCreation: with --enable-namespace-creation a missing
// namespace is created, with the ownership labels.
func TestNamespaceCreation(t *testing.T) {
	// The daemon's RBAC as `svcmirror install --enable-namespace-creation` renders it.
	cs := testbed.StartAll(t, []string{"source", "target"})
	p, err := testbed.LinkClustersWith(context.Background(), cs[0], cs[1], manifests.InstallOptions{Link: clusterName, EnableNamespaceCreation: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ApplyLink(context.Background(), p.LinkObject(gatewayIP, nil)); err != nil {
		t.Fatal(err)
	}
	makeRemoteService(t, p.Target, "fresh", "web", "10.6.0.1", exported("true"))
	startDaemon(t, p, "--enable-namespace-creation")
	waitEndpoints(t, p.Source, "fresh", "web-target", func(ep *corev1.Endpoints) (bool, string) { return len(ep.Subsets) == 1, "" })
	ns, err := p.Source.Client.CoreV1().Namespaces().Get(context.Background(), "fresh", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Labels["mirror.linkerd.io/mirrored-service"] != "true" || ns.Labels["mirror.linkerd.io/cluster-name"] != clusterName {
		t.Fatalf("created namespace labels %v lack the ownership mark", ns.Labels)
	}
}

// TestAServiceTheLocalAPIServerRejectsIsReportedOnce: a remote Service
// whose annotations fit the remote API server's 256 KiB limit but not once
// the mirror's own are added is refused locally with 422. It is reported
// once (Event, Link status, skips metric) and not retried until the remote
// Service changes, which then mirrors it.
func TestAServiceTheLocalAPIServerRejectsIsReportedOnce(t *testing.T) {
	p := linkedPair(t, nil)
	ctx := context.Background()
	const ns = "apps"
	if err := p.Source.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	// 256 KiB in all, keys and values: the remote's own fits; the mirror
	// adds remote-svc-fq-name and remote-resource-version.
	big := strings.Repeat("x", 256*1024-len("big")-16)
	makeRemoteService(t, p.Target, ns, "huge", "10.5.0.2", exported("true"), func(s *corev1.Service) {
		s.Annotations = map[string]string{"big": big}
	})
	d := startDaemon(t, p)
	waitEvent(t, p.Source, "InvalidService", "huge")
	waitLinkFailure(t, p, ns, "huge", "InvalidService")
	if skips := d.metric("svcmirror_skips_total", `reason="InvalidService"`); skips != 1 {
		t.Fatalf("InvalidService reported %v times, want once", skips)
	}
	// Start-up queues every key more than once (the remote's first list,
	// the Link's load), so count from here.
	permanent := d.metric("svcmirror_syncs_total", `result="permanent"`)
	// Nothing retries it: a remote change to another Service proves the
	// daemon is busy, and the counts have not moved.
	makeRemoteService(t, p.Target, ns, "small", "10.5.0.3", exported("true"))
	waitService(t, p.Source, ns, "small-target", func(*corev1.Service) (bool, string) { return true, "" })
	if got := d.metric("svcmirror_syncs_total", `result="permanent"`); got != permanent {
		t.Errorf("the rejected Service was synced again (%v permanent outcomes, %v before)", got, permanent)
	}
	if got := d.metric("svcmirror_skips_total", `reason="InvalidService"`); got != 1 {
		t.Errorf("InvalidService reported %v times, want once", got)
	}
	if exists(t, p.Source, ns, "huge-target") {
		t.Fatal("a mirror of the rejected Service exists")
	}

	updateRemote(t, p.Target, ns, "huge", func(s *corev1.Service) { s.Annotations = map[string]string{"big": "no longer"} })
	waitService(t, p.Source, ns, "huge-target", func(s *corev1.Service) (bool, string) {
		return s.Annotations["big"] == "no longer", "not mirrored yet"
	})
}
