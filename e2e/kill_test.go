package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/e2e/testbed"
	"github.com/svcmirror/svcmirror/mirror/plan"
)

// TestKillMidConvergenceWritesExactlyWhatIsMissing: a daemon killed (-9)
// halfway through mirroring many Services loses nothing, and the next one
// writes exactly the objects still missing, none twice.
func TestKillMidConvergenceWritesExactlyWhatIsMissing(t *testing.T) {
	p := linkedPair(t, nil)
	ctx := context.Background()
	const ns, n = "apps", 150
	if err := p.Source.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		// No pods: no endpoint turns ready later, so every write after
		// the restart is one of the missing objects.
		makeRemoteService(t, p.Target, ns, fmt.Sprintf("svc-%03d", i), "", exported("true"))
	}
	// Few workers, so the kill lands mid-way.
	d := startDaemon(t, p, "--workers=2")
	testbed.Eventually(t, 60*time.Second, func() (bool, string) {
		got := mirrorObjects(t, p.Source, ns)
		return got >= n/2, fmt.Sprintf("%d mirror objects so far", got)
	})
	d.proc.Kill()
	<-d.proc.Done()
	// Requests in flight at the kill may still land: wait until the count
	// holds still between two reads.
	var atKill int
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		a := mirrorObjects(t, p.Source, ns)
		b := mirrorObjects(t, p.Source, ns)
		atKill = b
		return a == b, fmt.Sprintf("mirror objects still changing: %d then %d", a, b)
	})
	if atKill >= 3*n {
		t.Fatalf("the daemon had finished (%d objects) before the kill; the test proves nothing", atKill)
	}
	before := localWrites(t, p.Source)

	d.start()
	testbed.Eventually(t, 120*time.Second, func() (bool, string) {
		got := mirrorObjects(t, p.Source, ns)
		return got == 3*n, fmt.Sprintf("%d of %d mirror objects", got, 3*n)
	})
	d.waitReady()
	waitSettled(t, d, n)
	if got, want := localWrites(t, p.Source)-before, float64(3*n-atKill); got != want {
		t.Errorf("after the restart %v writes, want exactly the %v missing objects (%d existed at the kill)", got, want, atKill)
	}
}

// mirrorObjects counts this link's mirror Services, Endpoints and
// EndpointSlices in ns.
func mirrorObjects(t *testing.T, c *testbed.Cluster, ns string) int {
	t.Helper()
	opts := metav1.ListOptions{LabelSelector: plan.LocalSelector(clusterName).String()}
	ctx := context.Background()
	svcs, err := c.Client.CoreV1().Services(ns).List(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	eps, err := c.Client.CoreV1().Endpoints(ns).List(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	slices, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return len(svcs.Items) + len(eps.Items) + len(slices.Items)
}
