package benchmark

import (
	"bytes"
	"strings"
	"testing"
)

func TestMemoryVerdictComparesPeakRSSWithTheTarget(t *testing.T) {
	var under, over Result
	under.Services, under.End.PeakRSSBytes = 10000, 90<<20
	over.Services, over.End.PeakRSSBytes = 50000, 300<<20
	if line, ok := memoryVerdict(under); !ok || !strings.HasSuffix(line, ": met") || !strings.Contains(line, "96.0 MiB") {
		t.Errorf("10,000 at 90 MiB: %q, %v; want met against 96 MiB", line, ok)
	}
	if line, ok := memoryVerdict(over); !ok || !strings.HasSuffix(line, ": MISSED") {
		t.Errorf("50,000 at 300 MiB: %q, %v; want MISSED", line, ok)
	}
	var none Result
	none.Services = 500
	if _, ok := memoryVerdict(none); ok {
		t.Error("500 Services have no memory target, yet got a verdict")
	}
	var b bytes.Buffer
	writeMemoryTargets(&b, []Result{none})
	if b.Len() != 0 {
		t.Errorf("no target among the sizes, yet printed %q", b.String())
	}
}
