package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/svcmirror/svcmirror/e2e/benchmark"
)

// TestBenchmarkRuns runs `make bench`'s measurement small, so that it
// cannot rot, and checks the figures it is meant to show: every mirror
// converges with exactly two writes (Service + Endpoints) per Service, none
// while idle, and every timed remote change reaches its mirror.
func TestBenchmarkRuns(t *testing.T) {
	const n = 40
	opts := benchmark.Options{
		Svcmirror: svcmirrorBin(t),
		Sizes:     []int{n},
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
			data, _ := os.ReadFile(filepath.Join(opts.LogDir, fmt.Sprintf("svcmirror-%d.log", n)))
			t.Logf("--- svcmirror log ---\n%s", data)
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
	if r.Floor <= 0 || r.Convergence <= 0 || r.Unexport <= 0 {
		t.Errorf("timings missing: floor %s, convergence %s, unexport %s", r.Floor, r.Convergence, r.Unexport)
	}
	if got := benchmark.MirrorWrites(r.ConvergenceWrites); got != 2*n {
		t.Errorf("writes to Services and Endpoints while converging = %v, want %d (one Service and one Endpoints per mirror): %s", got, 2*n, r.ConvergenceWrites)
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
