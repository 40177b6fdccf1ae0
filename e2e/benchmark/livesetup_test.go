package benchmark

import (
	"strings"
	"testing"
)

func TestSumSeriesAddsEverySeriesOfAName(t *testing.T) {
	body := `# HELP svcmirror_workqueue_depth Depth.
svcmirror_workqueue_depth{name="services"} 3
svcmirror_workqueue_depth{name="status"} 1
svcmirror_noop_syncs_total 500
svcmirror_noop_syncs_total_other 7
`
	if noop, depth := SumSeries(body, "svcmirror_noop_syncs_total"), SumSeries(body, "svcmirror_workqueue_depth"); noop != 500 || depth != 4 {
		t.Fatalf("noop = %v, depth = %v; want 500 (not the _other series) and 4", noop, depth)
	}
	if got := SumSeries(body, "svcmirror_workqueue_depth", `name="status"`); got != 1 {
		t.Fatalf("depth of name=\"status\" = %v, want 1", got)
	}
}

func TestPeakRSSIsTheHighestOfEveryProcess(t *testing.T) {
	var r Result
	r.AtConvergence.PeakRSSBytes, r.End.PeakRSSBytes = 200<<20, 150<<20
	if r.PeakRSS() != 200<<20 {
		t.Fatalf("PeakRSS = %d, want the converged process's 200 MiB", r.PeakRSS())
	}
	r.Restart = &RestartResult{Usage: ProcUsage{PeakRSSBytes: 260 << 20}}
	if line, _ := memoryVerdict(Result{Services: 50000, Restart: r.Restart}); !strings.Contains(line, "MISSED") {
		t.Fatalf("a restart peaking at 260 MiB must miss the 50,000 target: %q", line)
	}
}
