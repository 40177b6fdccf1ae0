package benchmark

import (
	"fmt"
	"io"
)

// memoryTargets are the peak-RSS targets of issue 12 by number of exported
// Services: a link must fit in its Deployment's memory with room to spare
// (the Deployment sets GOMEMLIMIT=256MiB).
var memoryTargets = map[int]int64{
	10000: 96 << 20,
	50000: 256 << 20,
}

// memoryVerdict says how a result's peak RSS compares with its size's
// target; ok is false when the size has none.
func memoryVerdict(r Result) (line string, ok bool) {
	target, ok := memoryTargets[r.Services]
	if !ok {
		return "", false
	}
	verdict := "met"
	if r.PeakRSS() >= target {
		verdict = "MISSED"
	}
	return fmt.Sprintf("- N=%d: peak RSS %s against a target under %s: %s", r.Services, mib(r.PeakRSS()), mib(target), verdict), true
}

// writeMemoryTargets prints the memory verdicts of the sizes that have a
// target, if any.
func writeMemoryTargets(w io.Writer, results []Result) {
	var lines []string
	for _, r := range results {
		if line, ok := memoryVerdict(r); ok {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Peak RSS against the memory targets:")
	fmt.Fprintln(w)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}
