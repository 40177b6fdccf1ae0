package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/svcmirror/svcmirror/e2e/benchmark"
	"github.com/svcmirror/svcmirror/mirror/plan"
)

// TestBenchmarkRuns runs `make bench`'s measurement small, so that it
// cannot rot, and checks the figures it is meant to show: in every round
// every mirror converges with exactly three writes (Service, Endpoints,
// EndpointSlice) per Service, none while idle, and every timed remote change
// reaches its mirror. Then the failover measurement, small and with the
// short lease: a takeover with nothing changed writes no mirror, one with
// one endpoint's readiness changed exactly its Endpoints and EndpointSlice.
// Then one round in flat mode (checkFlat).
func TestBenchmarkRuns(t *testing.T) {
	const n, rounds = 40, 2
	opts := benchmark.Options{
		Svcmirror: svcmirrorBin(t),
		Sizes:     []int{n},
		Rounds:    rounds,
		Endpoints: 2,
		Workers:   16,
		Quiet:     3 * time.Second,
		Changes:   20,
		Flaps:     10,
		Rate:      20,
		Logf:      t.Logf,
		LogDir:    t.TempDir(),
	}
	t.Cleanup(func() {
		if t.Failed() {
			for k := 1; k <= rounds; k++ {
				data, _ := os.ReadFile(filepath.Join(opts.LogDir, benchmark.LogName(n, k)))
				t.Logf("--- svcmirror log, round %d ---\n%s", k, data)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	results, err := benchmark.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 {
		t.Fatalf("got %d results, want 1", len(results))
	}
	r := results[0]
	if len(r.Rounds) != rounds {
		t.Fatalf("got %d rounds, want %d", len(r.Rounds), rounds)
	}
	for k, round := range r.Rounds {
		if round.Floor <= 0 || round.FloorDelete <= 0 || round.Convergence <= 0 {
			t.Errorf("round %d: timings missing: %+v", k+1, round)
		}
		// Each round starts the daemon on a cluster without mirrors (the
		// last round's were deleted), so it writes every mirror anew.
		if got := benchmark.MirrorWrites(round.Writes); got != 3*n {
			t.Errorf("round %d: writes to Services, Endpoints and EndpointSlices while converging = %v, want %d (one of each per mirror): %s", k+1, got, 3*n, round.Writes)
		}
		if got := benchmark.SliceWrites(round.Writes); got != n {
			t.Errorf("round %d: EndpointSlice writes while converging = %v, want %d: %s", k+1, got, n, round.Writes)
		}
	}
	if r.Unexport <= 0 {
		t.Errorf("unexport not timed")
	}
	if got := benchmark.MirrorWrites(r.QuietWrites); got != 0 {
		t.Errorf("writes in the quiet period = %v, want 0: %s", got, r.QuietWrites)
	}
	if len(r.LabelLatency) != opts.Changes || len(r.EmptyLatency) != 2*opts.Flaps {
		t.Errorf("timed %d label changes and %d endpoint changes, want %d and %d", len(r.LabelLatency), len(r.EmptyLatency), opts.Changes, 2*opts.Flaps)
	}
	for _, l := range append(r.LabelLatency, r.EmptyLatency...) {
		if l <= 0 {
			t.Errorf("latency %s is not positive: the mirror cannot follow a change before it is sent", l)
		}
	}
	if r.End.PeakRSSBytes <= 0 || r.End.CPUSeconds <= 0 {
		t.Errorf("daemon usage not read: %+v", r.End)
	}
	var out bytes.Buffer
	benchmark.WriteReport(&out, results)
	if !strings.Contains(out.String(), "| 40 |") {
		t.Errorf("report lacks the N=40 row:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())

	checkFailover(t)
	checkFlat(t)
}

// checkFlat runs one small round in flat (remote-discovery) mode, where the
// daemon writes, for each mirror, its Service and one EndpointSlice of the
// remote pods' addresses and no Endpoints: two writes per mirror while
// converging, none while quiet, and every label change and endpoint
// readiness change timed to the mirror's slice being right (the tracker
// compares the slice's addresses, ports and conditions with the plan's).
func checkFlat(t *testing.T) {
	const n = 20
	opts := benchmark.Options{
		Svcmirror: svcmirrorBin(t),
		Sizes:     []int{n},
		Rounds:    1,
		Endpoints: 2,
		Mode:      plan.ModeRemoteDiscovery,
		Workers:   8,
		Quiet:     3 * time.Second,
		Changes:   10,
		Flaps:     5,
		Rate:      20,
		Logf:      t.Logf,
		LogDir:    t.TempDir(),
	}
	t.Cleanup(func() {
		if t.Failed() {
			data, _ := os.ReadFile(filepath.Join(opts.LogDir, benchmark.LogName(n, 1)))
			t.Logf("--- svcmirror log, flat round ---\n%s", data)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	results, err := benchmark.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || len(results[0].Rounds) != 1 {
		t.Fatalf("got %d flat results, want 1 with 1 round: %+v", len(results), results)
	}
	r := results[0]
	if r.Mode != plan.ModeRemoteDiscovery {
		t.Errorf("flat result's mode = %q, want %q", r.Mode, plan.ModeRemoteDiscovery)
	}
	writes := r.Rounds[0].Writes
	if got := benchmark.MirrorWrites(writes); got != 2*n {
		t.Errorf("flat: writes to Services, Endpoints and EndpointSlices while converging = %v, want %d (a Service and a slice per mirror): %s", got, 2*n, writes)
	}
	if got := benchmark.SliceWrites(writes); got != n {
		t.Errorf("flat: EndpointSlice writes while converging = %v, want %d: %s", got, n, writes)
	}
	if got := benchmark.MirrorWrites(writes) - benchmark.SliceWrites(writes) - benchmark.ServiceWrites(writes); got != 0 {
		t.Errorf("flat: %v Endpoints writes while converging, want 0 (remote-discovery mirrors have none): %s", got, writes)
	}
	if got := benchmark.MirrorWrites(r.QuietWrites); got != 0 {
		t.Errorf("flat: writes in the quiet period = %v, want 0: %s", got, r.QuietWrites)
	}
	if len(r.LabelLatency) != opts.Changes || len(r.EmptyLatency) != 2*opts.Flaps {
		t.Errorf("flat: timed %d label changes and %d endpoint changes, want %d and %d", len(r.LabelLatency), len(r.EmptyLatency), opts.Changes, 2*opts.Flaps)
	}
	for _, l := range append(r.LabelLatency, r.EmptyLatency...) {
		if l <= 0 {
			t.Errorf("flat: latency %s is not positive", l)
		}
	}
	if r.Unexport <= 0 {
		t.Errorf("flat: unexport not timed")
	}
	var out bytes.Buffer
	benchmark.WriteReport(&out, results)
	t.Logf("flat mode:\n%s", out.String())
}

// checkFailover runs the failover measurement at a tiny size with the short
// lease; it asserts what each takeover writes and that every figure was
// measured, not how long anything took (the machine is shared).
func checkFailover(t *testing.T) {
	const n = 10
	opts := benchmark.Options{
		Svcmirror:      svcmirrorBin(t),
		Endpoints:      2,
		Workers:        8,
		Failover:       n,
		FailoverLeases: []benchmark.LeaseTimings{benchmark.ShortLease},
		FailoverWindow: 10 * time.Second,
		Logf:           t.Logf,
		LogDir:         t.TempDir(),
	}
	t.Cleanup(func() {
		if t.Failed() {
			for k := 1; k <= 3; k++ {
				name := "replica-" + strconv.Itoa(k)
				data, _ := os.ReadFile(filepath.Join(opts.LogDir, benchmark.FailoverLogName(n, name)))
				t.Logf("--- svcmirror log, failover %s ---\n%s", name, data)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	results, err := benchmark.RunFailover(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 {
		t.Fatalf("got %d failover results, want 1", len(results))
	}
	r := results[0]
	if r.NothingChanged.ToLease <= 0 || r.OneChange.ToLease <= 0 {
		t.Errorf("kill → Lease not measured: nothing changed %s, one change %s", r.NothingChanged.ToLease, r.OneChange.ToLease)
	}
	if r.OneChange.ToFirstWrite <= 0 {
		t.Errorf("kill → first write of the change not measured: %s", r.OneChange.ToFirstWrite)
	}
	if r.NothingChanged.MirrorWrites != 0 {
		t.Errorf("a takeover with nothing changed made %d mirror writes, want 0: %v", r.NothingChanged.MirrorWrites, r.NothingChanged.Writes)
	}
	// The change is one endpoint's readiness: that mirror's Endpoints and
	// its EndpointSlice.
	if r.OneChange.MirrorWrites != 2 {
		t.Errorf("a takeover with one remote change made %d mirror writes, want exactly 2: %v", r.OneChange.MirrorWrites, r.OneChange.Writes)
	}
	// The new leader's own Lease writes are in the audit log too: proof
	// that the counts read the new leader's writes, not nobody's.
	for _, takeover := range []benchmark.Takeover{r.NothingChanged, r.OneChange} {
		if takeover.Writes["update leases"] == 0 {
			t.Errorf("no Lease write by the new leader counted (%v): the audit log was not read for it", takeover.Writes)
		}
	}
	var out bytes.Buffer
	benchmark.WriteFailoverReport(&out, results)
	if !strings.Contains(out.String(), "| 10 | 8s / 4s / 1s |") {
		t.Errorf("failover report lacks the N=10 row:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
}
