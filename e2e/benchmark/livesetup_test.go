package benchmark

import (
	"strings"
	"testing"
)

func TestReadSamplesSumsEverySeriesOfAName(t *testing.T) {
	body := `# HELP svcmirror_workqueue_depth Depth.
svcmirror_workqueue_depth{name="services"} 3
svcmirror_workqueue_depth{name="status"} 1
svcmirror_noop_syncs_total 500
svcmirror_noop_syncs_total_other 7
`
	got, err := readSamples(strings.NewReader(body), "svcmirror_noop_syncs_total", "svcmirror_workqueue_depth")
	if err != nil {
		t.Fatal(err)
	}
	if got["svcmirror_noop_syncs_total"] != 500 || got["svcmirror_workqueue_depth"] != 4 {
		t.Fatalf("samples = %v, want noop 500 (not the _other series) and depth 4", got)
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
