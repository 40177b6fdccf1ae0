package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

// TestRemoteOutage stops the remote API server under a running daemon and
// at its start-up: the daemon keeps running, keeps the mirrors, says so on
// /ready and in its metrics, and recovers by itself.
func TestRemoteOutage(t *testing.T) {
	p := linkedPair(t, nil)
	ctx := context.Background()
	const ns = "apps"
	if err := p.Source.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	makeRemoteService(t, p.Target, ns, "web", "10.3.0.1", exported("true"))
	d := startDaemon(t, p)
	before := waitEndpoints(t, p.Source, ns, "web-target", func(ep *corev1.Endpoints) (bool, string) { return len(ep.Subsets) == 1, "" })
	d.waitReady()

	p.Target.StopAPIServer()
	waitNotReady(t, d, "unreachable")
	if got := d.metric("svcmirror_remote_reachable"); got != 0 {
		t.Errorf("svcmirror_remote_reachable = %v during the outage, want 0", got)
	}
	ep, err := p.Source.Client.CoreV1().Endpoints(ns).Get(ctx, "web-target", metav1.GetOptions{})
	if err != nil || ep.ResourceVersion != before.ResourceVersion {
		t.Fatalf("mirror changed during the outage: %v (rv %s→%s)", err, before.ResourceVersion, ep.ResourceVersion)
	}

	// The daemon restarting while the remote is still away stays up.
	d.restart()
	waitNotReady(t, d, "")
	d.alive()

	if err := p.Target.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	d.waitReady()
	if got := d.metric("svcmirror_remote_reachable"); got != 1 {
		t.Errorf("svcmirror_remote_reachable = %v after recovery, want 1", got)
	}
	updateRemote(t, p.Target, ns, "web", func(s *corev1.Service) { s.Labels["after"] = "outage" })
	waitService(t, p.Source, ns, "web-target", func(s *corev1.Service) (bool, string) {
		return s.Labels["after"] == "outage", "change after recovery propagates"
	})
}

// waitNotReady waits until /ready fails with a body containing why.
func waitNotReady(t testing.TB, d *daemon, why string) {
	t.Helper()
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		d.alive()
		body, err := d.get("/ready")
		return err != nil && strings.Contains(body, why), fmt.Sprintf("/ready: %q %v", body, err)
	})
}

// TestCredentialsRotationAndLinkDeletion rotates the credentials Secret to
// another ServiceAccount's token and revokes the old one, then deletes the
// Link: its mirrors go, and then the Link does.
func TestCredentialsRotationAndLinkDeletion(t *testing.T) {
	p := linkedPair(t, nil)
	ctx := context.Background()
	const ns = "apps"
	if err := p.Source.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	makeRemoteService(t, p.Target, ns, "web", "10.4.0.1", exported("true"))
	makeRemoteService(t, p.Target, ns, "flat", "10.4.0.2", exported("remote-discovery"))
	d := startDaemon(t, p)
	waitEndpoints(t, p.Source, ns, "web-target", func(ep *corev1.Endpoints) (bool, string) { return len(ep.Subsets) == 1, "" })

	// A second reader account with the same read-only role.
	if _, err := p.Target.Client.CoreV1().ServiceAccounts(testbed.LinkNamespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader-b"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bindReader(t, p.Target, "reader-b")
	if err := p.WriteCredentials(ctx, "reader-b"); err != nil {
		t.Fatal(err)
	}
	// Revoke the old token: deleting its ServiceAccount invalidates it.
	if err := p.Target.Client.CoreV1().ServiceAccounts(testbed.LinkNamespace).Delete(ctx, "svcmirror-remote-reader", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	updateRemote(t, p.Target, ns, "web", func(s *corev1.Service) { s.Labels["rotated"] = "yes" })
	waitService(t, p.Source, ns, "web-target", func(s *corev1.Service) (bool, string) {
		return s.Labels["rotated"] == "yes", "a change after rotation propagates with the new token"
	})
	d.waitReady()

	if err := p.Source.Dynamic().Resource(testbed.LinkGVR).Namespace(testbed.LinkNamespace).Delete(ctx, p.ClusterName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, p.Source, ns, "web-target")
	waitGone(t, p.Source, ns, "flat-target")
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		_, err := p.GetLink(ctx)
		return apierrors.IsNotFound(err), fmt.Sprintf("Link still there: %v", err)
	})
	d.alive()
}

// bindReader grants account the remote reader ClusterRole from
// manifests/rbac-remote.yaml.
func bindReader(t testing.TB, c *testbed.Cluster, account string) {
	t.Helper()
	objs := []map[string]any{{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
		"metadata": map[string]any{"name": "svcmirror-" + account},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "svcmirror-remote-reader"},
		"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": account, "namespace": testbed.LinkNamespace}},
	}}
	for _, o := range objs {
		if err := c.Apply(context.Background(), unstructuredOf(o)); err != nil {
			t.Fatal(err)
		}
	}
}
