package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

// quietPeriod is how long the write counters are watched for writes that
// must not happen. It is a measurement window, not a wait for a condition.
const quietPeriod = 5 * time.Second

// TestRestartWritesNothingAndCatchesUp proves the zero-write promises: no
// writes while idle, none after a restart with nothing changed, and that
// changes made while the daemon was down are applied at start-up.
func TestRestartWritesNothingAndCatchesUp(t *testing.T) {
	p := linkedPair(t, nil)
	ctx := context.Background()
	const ns = "apps"
	if err := p.Source.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a", "b", "c"} {
		makeRemoteService(t, p.Target, ns, name, fmt.Sprintf("10.2.0.%d", i+1), exported("true"))
	}
	makeRemoteService(t, p.Target, ns, "flat", "10.2.0.9", exported("remote-discovery"))
	initial := localWrites(t, p.Source)
	d := startDaemon(t, p)
	for _, name := range []string{"a", "b", "c"} {
		waitEndpoints(t, p.Source, ns, name+"-target", func(ep *corev1.Endpoints) (bool, string) { return len(ep.Subsets) == 1, "" })
	}
	waitService(t, p.Source, ns, "flat-target", func(*corev1.Service) (bool, string) { return true, "" })
	d.waitReady()
	waitSettled(t, d, 4)
	// Exactly one write per object: three gateway-mode Services with their
	// Endpoints and EndpointSlice, one remote-discovery Service with its
	// slice of the remote pod. This also proves the counter sees creates,
	// so the zeros below mean something.
	if got := localWrites(t, p.Source) - initial; got != 11 {
		t.Errorf("%v Service/Endpoints/EndpointSlice writes to mirror 4 Services, want 11", got)
	}

	before := localWrites(t, p.Source)
	idle := d.metric("svcmirror_writes_total")
	time.Sleep(quietPeriod)
	if got := localWrites(t, p.Source) - before; got != 0 {
		t.Errorf("%v Service/Endpoints/EndpointSlice writes in a %s quiet period, want 0", got, quietPeriod)
	}
	if got := d.metric("svcmirror_writes_total") - idle; got != 0 {
		t.Errorf("daemon counted %v writes while idle, want 0", got)
	}

	// A restart with nothing changed writes nothing.
	before = localWrites(t, p.Source)
	d.restart()
	d.waitReady()
	waitSettled(t, d, 4)
	if got := localWrites(t, p.Source) - before; got != 0 {
		t.Errorf("%v Service/Endpoints/EndpointSlice writes after a restart with nothing changed, want 0", got)
	}
	if got := d.metric("svcmirror_noop_syncs_total"); got < 4 {
		t.Errorf("svcmirror_noop_syncs_total = %v after restart, want at least 4 (one per mirror)", got)
	}

	// Changes made while the daemon is down are applied when it starts.
	d.stop()
	updateRemote(t, p.Target, ns, "a", func(s *corev1.Service) { delete(s.Labels, exportLabel) })
	updateRemote(t, p.Target, ns, "b", func(s *corev1.Service) { s.Spec.Ports[0].Port = 8181 })
	makeRemoteService(t, p.Target, ns, "d", "10.2.0.4", exported("true"))
	d.start()
	waitGone(t, p.Source, ns, "a-target")
	waitService(t, p.Source, ns, "b-target", func(s *corev1.Service) (bool, string) {
		return s.Spec.Ports[0].Port == 8181, fmt.Sprintf("port %d", s.Spec.Ports[0].Port)
	})
	waitEndpoints(t, p.Source, ns, "d-target", func(ep *corev1.Endpoints) (bool, string) { return len(ep.Subsets) == 1, "" })
}

// waitSettled waits until the daemon has at least mirrors mirrors and an
// empty queue whose depth stays at zero.
func waitSettled(t testing.TB, d *daemon, mirrors float64) {
	t.Helper()
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		m := d.metric("svcmirror_mirrors")
		depth := d.metric("svcmirror_workqueue_depth")
		busy := d.metric("svcmirror_workqueue_unfinished_work_seconds")
		return m >= mirrors && depth == 0 && busy == 0, fmt.Sprintf("mirrors %v (want %v), queue depth %v, unfinished %v", m, mirrors, depth, busy)
	})
}
