package benchmark

import (
	"strings"
	"testing"
	"time"
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
	r.Restarts = []RestartResult{{Usage: ProcUsage{PeakRSSBytes: 240 << 20}}, {Usage: ProcUsage{PeakRSSBytes: 260 << 20}}}
	if r.PeakRSS() != 260<<20 {
		t.Fatalf("PeakRSS = %d, want the highest restart's 260 MiB", r.PeakRSS())
	}
	if line, _ := memoryVerdict(Result{Services: 50000, Restarts: r.Restarts}); !strings.Contains(line, "MISSED") {
		t.Fatalf("a second restart peaking at 260 MiB must miss the 50,000 target: %q", line)
	}
}

func TestReportListsEveryRestart(t *testing.T) {
	r := Result{Services: 50000, Restarts: []RestartResult{
		{Checked: 70 * time.Second, Usage: ProcUsage{PeakRSSBytes: 240 << 20}},
		{Checked: 65 * time.Second, Usage: ProcUsage{PeakRSSBytes: 245 << 20}},
	}}
	var out strings.Builder
	WriteReport(&out, []Result{r})
	for _, want := range []string{"peak RSS 240.0 MiB; then every mirror checked in 65", "peak RSS 245.0 MiB", "245.0 MiB against a target under 256.0 MiB: met"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("report lacks %q:\n%s", want, out.String())
		}
	}
}
