package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/svcmirror/svcmirror/e2e/benchmark"
)

// TestBenchmarkRuns runs `make bench`'s measurement small, so that it
// cannot rot, and checks the figures it is meant to show: in every round
// every mirror converges with exactly three writes (Service, Endpoints,
// EndpointSlice) per Service, none while idle, and every timed remote change reaches its mirror.
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
}
