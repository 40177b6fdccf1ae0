package benchmark

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Latencies are propagation times, one per remote change.
type Latencies []time.Duration

// quantile returns the nearest-rank q-quantile (0 < q <= 1); 0 when empty.
func (l Latencies) quantile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	sorted := slices.Clone(l)
	slices.Sort(sorted)
	rank := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// String is "p50 / p99 / max".
func (l Latencies) String() string {
	return fmt.Sprintf("%s / %s / %s", ms(l.quantile(0.5)), ms(l.quantile(0.99)), ms(l.quantile(1)))
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// ratio prints a convergence/floor ratio, or "no floor" for a run that
// skipped the floor.
func ratio(floor time.Duration, r float64) string {
	if floor == 0 {
		return "no floor"
	}
	return fmt.Sprintf("%.2f×", r)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// WriteReport prints the results as Markdown tables: the headline figures
// per size, then each round, the write breakdown and the set-up times.
func WriteReport(w io.Writer, results []Result) {
	fmt.Fprintln(w, "| N | floor | convergence | ratio | writes/service (converging) | writes in quiet period | label change p50 / p99 / max | empty and back p50 / p99 / max | unexport (relabel) | peak RSS | CPU (at convergence) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		fmt.Fprintf(w, "| %d | %s | %s | %s | %.2f | %.0f in %s | %s | %s | %s (%s) | %s | %.1f s (%.1f s) |\n",
			r.Services, secs(r.Floor()), secs(r.Convergence()), ratio(r.Floor(), r.Ratio()),
			MirrorWrites(r.ConvergenceWrites())/float64(r.Services),
			MirrorWrites(r.QuietWrites), r.Quiet.Round(time.Second),
			r.LabelLatency, r.EmptyLatency,
			secs(r.Unexport), secs(r.UnexportRelabel),
			mib(r.PeakRSS()), r.End.CPUSeconds, r.AtConvergence.CPUSeconds)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Floor and convergence are medians over the rounds, and the ratio is the median of the rounds' own ratios. Each round, floor → convergence (ratio; writes per Service; the floor's delete):")
	fmt.Fprintln(w)
	for _, r := range results {
		parts := make([]string, len(r.Rounds))
		for i, round := range r.Rounds {
			parts[i] = fmt.Sprintf("%s → %s (%s; %.2f; %s)", secs(round.Floor), secs(round.Convergence),
				ratio(round.Floor, round.Ratio()), MirrorWrites(round.Writes)/float64(r.Services), secs(round.FloorDelete))
		}
		fmt.Fprintf(w, "- N=%d: %s\n", r.Services, strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Source API server mutating requests by verb and resource (the last round):")
	fmt.Fprintln(w)
	for _, r := range results {
		fmt.Fprintf(w, "- N=%d converging: %s\n", r.Services, r.ConvergenceWrites())
		fmt.Fprintf(w, "- N=%d quiet %s: %s\n", r.Services, r.Quiet.Round(time.Second), r.QuietWrites)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Set-up, for scale:")
	fmt.Fprintln(w)
	for _, r := range results {
		fmt.Fprintf(w, "- N=%d: remote Services and EndpointSlices (%d endpoints each) created in %s; RSS at the last convergence %s\n",
			r.Services, r.Endpoints, secs(r.RemoteSetup), mib(r.AtConvergence.RSSBytes))
	}
	for _, r := range results {
		if len(r.Restarts) == 0 {
			continue
		}
		var restarts []string
		for _, restart := range r.Restarts {
			restarts = append(restarts, fmt.Sprintf("every mirror checked in %s with %.0f mirror writes, peak RSS %s",
				secs(restart.Checked), MirrorWrites(restart.Writes), mib(restart.Usage.PeakRSSBytes)))
		}
		fmt.Fprintf(w, "- N=%d: live set-up (the daemon ran while the remote was created, so convergence and its writes are not comparable with a cold start); peak RSS %s by convergence; restarted against the converged state: %s\n",
			r.Services, mib(r.AtConvergence.PeakRSSBytes), strings.Join(restarts, "; then "))
	}
	writeMemoryTargets(w, results)
}

// MachineDescription names the machine the figures were taken on.
func MachineDescription() string {
	model, mem := "unknown CPU", "unknown memory"
	if cpu, err := procFields("/proc/cpuinfo"); err == nil && cpu["model name"] != "" {
		model = cpu["model name"]
	}
	if m, err := procFields("/proc/meminfo"); err == nil && m["MemTotal"] != "" {
		mem = fmt.Sprintf("%.1f GiB", float64(kib(m["MemTotal"]))/(1<<30))
	}
	return fmt.Sprintf("%d CPUs (%s), %s memory", runtime.NumCPU(), model, mem)
}

// WriteFailoverReport prints the failover figures as a Markdown table, then
// every write each new leader made while taking over.
func WriteFailoverReport(w io.Writer, results []FailoverResult) {
	fmt.Fprintln(w, "| N | lease / renew deadline / retry | kill → standby holds the Lease (nothing changed; one change) | kill → first write of a change made at the kill | mirror writes in a takeover, nothing changed | mirror writes in a takeover, one change |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range results {
		fmt.Fprintf(w, "| %d | %s | %s; %s | %s | %d in %s | %d in %s |\n",
			r.Services, r.Lease, secs(r.NothingChanged.ToLease), secs(r.OneChange.ToLease),
			secs(r.OneChange.ToFirstWrite),
			r.NothingChanged.MirrorWrites, r.Window.Round(time.Second), r.OneChange.MirrorWrites, r.Window.Round(time.Second))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Mirror writes are the new leader's Service, Endpoints and EndpointSlice writes in the source API server's audit log, from the kill until the window after it took the Lease. All its writes then, by verb and resource:")
	fmt.Fprintln(w)
	for _, r := range results {
		fmt.Fprintf(w, "- N=%d, lease %s, nothing changed: %s\n", r.Services, r.Lease, writeCounts(r.NothingChanged.Writes))
		fmt.Fprintf(w, "- N=%d, lease %s, one change: %s\n", r.Services, r.Lease, writeCounts(r.OneChange.Writes))
	}
}

// writeCounts lists audit counts as "create leases=1, ..." in a stable order.
func writeCounts(c map[string]int) string {
	counts := RequestCounts{}
	for k, v := range c {
		counts[k] = float64(v)
	}
	return counts.String()
}
