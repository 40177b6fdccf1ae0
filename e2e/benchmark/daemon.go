package benchmark

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

// measureDaemon runs svcmirror and measures its convergence. In the last
// round it goes on to measure writes when quiet, latency, unexport and
// usage; in the others it stops the daemon and deletes its mirrors.
func (r *sizeRun) measureDaemon(ctx context.Context, last bool) error {
	if !r.opts.LiveSetup {
		if err := r.expectDesired(); err != nil {
			return err
		}
	}
	before, err := ScrapeRequests(ctx, r.source)
	if err != nil {
		return err
	}
	addr, err := testbed.FreeAddr()
	if err != nil {
		return err
	}
	profile := r.profile && last
	args := []string{"run", "--kubeconfig=" + r.pair.DaemonKubeconfig, "--namespace=" + testbed.LinkNamespace,
		"--link=" + r.pair.ClusterName, "--metrics-addr=" + addr, "-v=2"}
	if profile {
		args = append(args, "--enable-pprof")
	}
	args = append(args, r.opts.DaemonArgs...)
	r.logf("round %d: convergence", r.round)
	start := time.Now()
	logDir := r.root
	if r.opts.LogDir != "" {
		logDir = r.opts.LogDir
	}
	daemon, err := testbed.StartProcessWithEnv("svcmirror", r.opts.Svcmirror, args, r.opts.DaemonEnv, filepath.Join(logDir, LogName(r.n, r.round)))
	if err != nil {
		return err
	}
	defer func() { daemon.Stop(10 * time.Second) }() // the one running at the end, after a restart too
	profileDone := make(chan error, 1)
	if profile {
		go func() { profileDone <- r.cpuProfile(ctx, addr) }()
	} else {
		profileDone <- nil
	}

	if r.opts.LiveSetup {
		r.logf("remote set-up, with the daemon running")
		if err := r.createRemote(ctx); err != nil {
			return fmt.Errorf("remote set-up: %w", err)
		}
		if err := r.expectDesired(); err != nil {
			return err
		}
	}
	if err := r.tracker.waitRight(ctx, r.patience(15*time.Minute), "convergence", r.keys); err != nil {
		return err
	}
	round := r.thisRound()
	round.Convergence = time.Since(start)
	if r.res.AtConvergence, err = readUsage(daemon.Pid()); err != nil {
		return err
	}
	// Printed now, not only in the final report: at the largest sizes the
	// phases after convergence take as long again, and a cut-short run
	// should still leave its convergence figures behind.
	r.logf("round %d: converged in %s; daemon peak RSS %s, %.1f CPU s", r.round,
		round.Convergence.Round(time.Second), mib(r.res.AtConvergence.PeakRSSBytes), r.res.AtConvergence.CPUSeconds)
	after, err := ScrapeRequests(ctx, r.source)
	if err != nil {
		return err
	}
	round.Writes = after.since(before)
	if profile {
		if err := r.saveProfile(ctx, addr, "heap", "heap-at-convergence"); err != nil {
			return err
		}
	}
	if !last {
		daemon.Stop(10 * time.Second)
		r.logf("round %d: deleting the mirrors", r.round)
		return r.deleteMirrors(ctx, r.keys, "the mirrors")
	}

	if r.opts.LiveSetup {
		for i := range max(r.opts.Restarts, 1) {
			if daemon, err = r.restart(ctx, daemon, args, addr, logDir, i+1); err != nil {
				return err
			}
		}
		after, err = ScrapeRequests(ctx, r.source)
		if err != nil {
			return err
		}
	}

	r.logf("quiet period of %s", r.opts.Quiet)
	select { // a measurement window, not a wait for a condition
	case <-time.After(r.opts.Quiet):
	case <-ctx.Done():
		return ctx.Err()
	}
	quiet, err := ScrapeRequests(ctx, r.source)
	if err != nil {
		return err
	}
	r.res.QuietWrites = quiet.since(after)

	r.logf("propagation latency")
	if r.res.LabelLatency, err = r.labelChanges(ctx); err != nil {
		return err
	}
	if r.res.EmptyLatency, err = r.emptyAndBack(ctx); err != nil {
		return err
	}
	if !r.opts.NoUnexport {
		r.logf("unexport")
		if err := r.unexport(ctx); err != nil {
			return err
		}
	}
	if err := <-profileDone; err != nil {
		return err
	}
	if exited, err := daemon.Exited(); exited {
		return fmt.Errorf("svcmirror exited: %v (log: %s)", err, daemon.LogPath)
	}
	r.res.End, err = readUsage(daemon.Pid())
	return err
}

// unexport removes the export label from every remote Service and times
// until every mirror is gone.
func (r *sizeRun) unexport(ctx context.Context) error {
	r.tracker.forget()
	for _, key := range r.keys {
		ns, name, _ := strings.Cut(key, "/")
		r.tracker.expect(ns, name, nil)
	}
	start := time.Now()
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:null}}}`, exportLabel)
	err := Parallel(ctx, r.n, r.opts.Workers, func(ctx context.Context, i int) error {
		_, err := r.tgt.CoreV1().Services(r.remote[i].Namespace).Patch(ctx, r.remote[i].Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		return err
	})
	if err != nil {
		return err
	}
	r.res.UnexportRelabel = time.Since(start)
	if err := r.tracker.waitRight(ctx, r.patience(15*time.Minute), "every mirror to go", r.keys); err != nil {
		return err
	}
	r.res.Unexport = time.Since(start)
	return nil
}

// LogName is the file name of the daemon's log at size n in round k.
func LogName(n, round int) string { return fmt.Sprintf("svcmirror-%d-%d.log", n, round) }

// cpuProfile fetches a CPU profile of the daemon's first ProfileSeconds.
func (r *sizeRun) cpuProfile(ctx context.Context, addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/ping")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon admin endpoint: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return r.saveProfile(ctx, addr, "profile?seconds="+strconv.Itoa(r.opts.ProfileSeconds), "cpu")
}

func (r *sizeRun) saveProfile(ctx context.Context, addr, path, name string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/"+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof %s: status %d", path, resp.StatusCode)
	}
	if err := os.MkdirAll(r.opts.ProfileDir, 0o755); err != nil {
		return err
	}
	file := filepath.Join(r.opts.ProfileDir, fmt.Sprintf("%s-%d.pprof", name, r.n))
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return err
	}
	r.logf("wrote %s", file)
	return nil
}
