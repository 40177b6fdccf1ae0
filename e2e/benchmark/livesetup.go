package benchmark

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

// A live set-up (Options.LiveSetup) exists because kube-apiserver 1.36's
// ClusterIP allocator lists every IPAddress twice per allocation (for its
// gauges), so the n-th Service create costs O(n) on each side: at 50,000
// Services a set-up followed by a convergence took over two hours here,
// more than a session has. Run together, the target's API server (the
// set-up) and the source's (the daemon's mirror creates) each take a
// core. The daemon then never lists a full remote at once, which is where
// its memory peaks on a cold start, so the converged daemon is restarted
// and the restart is measured too: it lists every remote Service and
// every mirror at once and must find nothing to write.

// RestartResult is the restart after a live set-up.
type RestartResult struct {
	// Checked is from the new process's start until it had synced every
	// Service and found each mirror right.
	Checked time.Duration
	// Writes are the source API server's mutating requests meanwhile
	// (none, when the restart is as cheap as it must be).
	Writes RequestCounts
	// Usage is the new process's, when every mirror was checked.
	Usage ProcUsage
}

// restart stops the converged daemon and starts another with the same
// flags, as a rollout or an OOM kill would, and waits until it has found
// every mirror right. nth counts the restarts from 1.
func (r *sizeRun) restart(ctx context.Context, old *testbed.Process, args []string, addr, logDir string, nth int) (*testbed.Process, error) {
	r.logf("restart %d against the converged state", nth)
	old.Stop(10 * time.Second)
	before, err := ScrapeRequests(ctx, r.source)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	daemon, err := testbed.StartProcessWithEnv("svcmirror", r.opts.Svcmirror, args, r.opts.DaemonEnv, filepath.Join(logDir, RestartLogName(r.n, r.round, nth)))
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(r.patience(15 * time.Minute))
	for {
		done, why := restartDone(ctx, addr, r.n)
		if done {
			break
		}
		if exited, err := daemon.Exited(); exited {
			return daemon, fmt.Errorf("restarted svcmirror exited: %v (log: %s)", err, daemon.LogPath)
		}
		if time.Now().After(deadline) {
			return daemon, fmt.Errorf("restarted daemon did not check every mirror in time: %s (log: %s)", why, daemon.LogPath)
		}
		select {
		case <-ctx.Done():
			return daemon, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	res := &RestartResult{Checked: time.Since(start)}
	if res.Usage, err = readUsage(daemon.Pid()); err != nil {
		return daemon, err
	}
	after, err := ScrapeRequests(ctx, r.source)
	if err != nil {
		return daemon, err
	}
	res.Writes = after.since(before)
	r.res.Restarts = append(r.res.Restarts, *res)
	r.logf("restart %d: every mirror checked in %s with %.0f mirror writes; daemon peak RSS %s", nth,
		res.Checked.Round(time.Second), MirrorWrites(res.Writes), mib(res.Usage.PeakRSSBytes))
	return daemon, nil
}

// restartDone reports whether the daemon at addr has made at least n syncs
// that found every object right and has nothing queued; why says what it
// lacks otherwise.
func restartDone(ctx context.Context, addr string, n int) (done bool, why string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err.Error()
	}
	noop := SumSeries(string(body), "svcmirror_noop_syncs_total")
	depth := SumSeries(string(body), "svcmirror_workqueue_depth")
	return noop >= float64(n) && depth == 0, fmt.Sprintf("%.0f of %d Services found right, %.0f queued", noop, n, depth)
}

// SumSeries adds up the samples of a Prometheus text exposition named
// name whose label sets contain every one of match (e.g. `mode="gateway"`).
func SumSeries(body, name string, match ...string) float64 {
	total := 0.0
	s := bufio.NewScanner(strings.NewReader(body))
	s.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for s.Scan() {
		line := s.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, m := range match {
			if !strings.Contains(line, m) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		fields := strings.Fields(line)
		if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
			total += v
		}
	}
	return total
}

// RestartLogName is the file name of the nth restarted daemon's log.
func RestartLogName(n, round, nth int) string {
	return fmt.Sprintf("svcmirror-%d-%d-restart%d.log", n, round, nth)
}
