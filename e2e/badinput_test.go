package e2e

import (
	"context"
	"fmt"
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
