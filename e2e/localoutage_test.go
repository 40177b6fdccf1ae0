package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

// TestLocalOutageIsReportedAndCaughtUpExactly: with the local API server
// down, /ready says so (it said ok throughout), the log says so once, and
// a remote change made meanwhile is written when it returns, with exactly
// the writes it needs.
func TestLocalOutageIsReportedAndCaughtUpExactly(t *testing.T) {
	// The audit log outlives the API server's restart; its request
	// counters would not.
	p := linkedPair(t, nil, testbed.WithAuditLog())
	ctx := context.Background()
	const ns = "apps"
	if err := p.Source.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	makeRemoteService(t, p.Target, ns, "web", "10.4.0.1", exported("true"))
	d := startDaemon(t, p)
	waitEndpoints(t, p.Source, ns, "web-target", func(ep *corev1.Endpoints) (bool, string) { return len(ep.Subsets) == 1, "" })
	d.waitReady()
	waitSettled(t, d, 1)

	p.Source.StopAPIServer()
	waitNotReady(t, d, "local API server unreachable")
	if got := d.metric("svcmirror_local_reachable"); got != 0 {
		t.Errorf("svcmirror_local_reachable = %v during the outage, want 0", got)
	}
	retries := d.metric("svcmirror_syncs_total", `result="retry"`)
	updateRemote(t, p.Target, ns, "web", func(s *corev1.Service) { s.Labels["during"] = "outage" })
	// The daemon tries the change and fails, several times, while the
	// server is away.
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		got := d.metric("svcmirror_syncs_total", `result="retry"`)
		return got >= retries+3, fmt.Sprintf("%v failed syncs during the outage", got-retries)
	})
	restarting := time.Now() // nothing can be written before this
	if err := p.Source.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	returned := time.Now()
	waitService(t, p.Source, ns, "web-target", func(s *corev1.Service) (bool, string) {
		return s.Labels["during"] == "outage", "the change made during the outage is not mirrored yet"
	})
	t.Logf("the change made during the outage was mirrored %s after the server returned", time.Since(returned).Round(10*time.Millisecond))
	waitEndpoints(t, p.Source, ns, "web-target", func(ep *corev1.Endpoints) (bool, string) {
		return ep.Labels["during"] == "outage", "label not on the Endpoints yet"
	})
	d.waitReady()
	waitSettled(t, d, 1)
	// The label is on the mirror Service and its Endpoints.
	if got := writesBy(t, p.Source, "", restarting); got != 2 {
		t.Errorf("%d writes after the outage, want exactly 2 (the Service and Endpoints the change needs)", got)
	}
	log, err := os.ReadFile(filepath.Join(d.dir, fmt.Sprintf("svcmirror-%d.log", d.runNo)))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "Local API server unreachable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once", n)
	}
	if n := strings.Count(string(log), "Sync failed; will retry"); n != 0 {
		t.Errorf("%d per-failure lines at -v=2, want none (they are -v=4)", n)
	}
}
