// Package benchmark measures svcmirror against real API servers and against
// the floor of the same machine: how fast it converges, how much it writes,
// how quickly a remote change reaches its mirror, how fast unexport cleans
// up, and what the daemon costs in memory and CPU. `make bench` runs it
// through e2e/bench; e2e's TestBenchmarkRuns runs it small.
package benchmark

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/svcmirror/svcmirror/e2e/testbed"
	"github.com/svcmirror/svcmirror/mirror"
)

// gatewayIP stands in for the target's gateway (a documentation address:
// Endpoints may not hold loopback IPs). The Link has no probe, so it is ready.
const gatewayIP = "192.0.2.10"

// Options shape a benchmark run.
type Options struct {
	// Svcmirror is the daemon binary; DaemonArgs are extra flags for its
	// run command (e.g. --workers=32).
	Svcmirror  string
	DaemonArgs []string
	// Sizes are the numbers of exported Services, one measurement each.
	Sizes []int
	// Endpoints is the number of ready endpoints of each remote Service.
	Endpoints int
	// Workers is the parallelism of the benchmark's own bulk writes: the
	// floor, the remote set-up and the unexport relabel.
	Workers int
	// Quiet is how long writes are counted after convergence.
	Quiet time.Duration
	// Changes is how many remote label changes the latency phase makes, at
	// Rate per second; Flaps how many Services go empty and back, at Rate.
	Changes, Flaps int
	Rate           float64
	// ProfileDir, when set, receives a CPU profile of the daemon covering
	// its first ProfileSeconds and a heap profile at convergence, for the
	// largest size only.
	ProfileDir     string
	ProfileSeconds int
	// LogDir, when set, keeps the daemon's log of each size there
	// (svcmirror-<N>.log); otherwise it goes with the clusters' folder.
	LogDir string
	// Logf receives progress lines.
	Logf func(format string, args ...any)
}

// Result is one size's measurements.
type Result struct {
	Services, Endpoints int
	// RemoteSetup is how long the benchmark took to create the remote
	// Services and EndpointSlices (for scale; not a figure of svcmirror's).
	RemoteSetup time.Duration
	// Floor is creating the mirror objects directly until all are seen
	// right; FloorDelete deleting them until all are seen gone.
	Floor, FloorDelete time.Duration
	// Convergence is from starting the daemon until every mirror is right.
	Convergence time.Duration
	// ConvergenceWrites and QuietWrites are the source API server's
	// mutating requests during convergence and during Quiet after it.
	ConvergenceWrites, QuietWrites RequestCounts
	Quiet                          time.Duration
	// LabelLatency is remote label change → mirror right; EmptyLatency
	// remote endpoints all unready (and back) → mirror Endpoints right.
	LabelLatency, EmptyLatency Latencies
	// UnexportRelabel is removing the export label from every remote
	// Service; Unexport from its start until every mirror is gone.
	UnexportRelabel, Unexport time.Duration
	// AtConvergence and End are the daemon's usage then.
	AtConvergence, End ProcUsage
}

// Ratio is convergence over floor.
func (r Result) Ratio() float64 { return r.Convergence.Seconds() / r.Floor.Seconds() }

// Run measures every size in turn, each on two fresh clusters.
func Run(ctx context.Context, opts Options) ([]Result, error) {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	largest := 0
	for _, n := range opts.Sizes {
		largest = max(largest, n)
	}
	var results []Result
	for _, n := range opts.Sizes {
		r := &sizeRun{opts: opts, n: n, profile: opts.ProfileDir != "" && n == largest}
		res, err := r.run(ctx)
		if err != nil {
			return results, fmt.Errorf("N=%d: %w", n, err)
		}
		results = append(results, res)
	}
	return results, nil
}

// sizeRun is the measurement at one size.
type sizeRun struct {
	opts    Options
	n       int
	profile bool

	source, target *testbed.Cluster
	pair           *testbed.Pair
	src, tgt       kubernetes.Interface // unthrottled admin clients
	link           *mirror.Link
	tracker        *tracker
	remote         []*corev1.Service // the remote Services as last written
	keys           []string          // "namespace/mirror name" of each
	res            Result
}

func (r *sizeRun) logf(format string, args ...any) {
	r.opts.Logf("[N=%d] "+format, append([]any{r.n}, args...)...)
}

func (r *sizeRun) run(ctx context.Context) (Result, error) {
	r.res = Result{Services: r.n, Endpoints: r.opts.Endpoints, Quiet: r.opts.Quiet}
	root, err := os.MkdirTemp("", "svcmirror-bench-")
	if err != nil {
		return r.res, err
	}
	defer os.RemoveAll(root)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the tracker's informers
	if err := r.startClusters(ctx, root); err != nil {
		return r.res, err
	}
	defer r.source.Stop()
	defer r.target.Stop()

	steps := []struct {
		name string
		do   func(context.Context) error
	}{
		{"remote set-up", r.createRemote},
		{"floor", r.measureFloor},
	}
	for _, s := range steps {
		r.logf("%s", s.name)
		if err := s.do(ctx); err != nil {
			return r.res, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return r.res, r.measureDaemon(ctx, root)
}

func (r *sizeRun) startClusters(ctx context.Context, root string) error {
	for _, name := range []string{"source", "target"} {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		c, err := testbed.New(ctx, testbed.Options{Name: name, Dir: dir})
		if err != nil {
			if r.source != nil {
				r.source.Stop()
			}
			return err
		}
		if name == "source" {
			r.source = c
		} else {
			r.target = c
		}
	}
	var err error
	if r.pair, err = testbed.LinkClusters(ctx, r.source, r.target, "target"); err != nil {
		return err
	}
	linkObj := r.pair.LinkObject(gatewayIP, nil)
	if err := r.pair.ApplyLink(ctx, linkObj); err != nil {
		return err
	}
	if r.link, err = mirror.ParseLink(linkObj); err != nil {
		return err
	}
	if r.src, err = unthrottled(r.source); err != nil {
		return err
	}
	if r.tgt, err = unthrottled(r.target); err != nil {
		return err
	}
	for i := 0; i < namespaces; i++ {
		ns := namespaceOf(i)
		for _, ensure := range []func() error{
			func() error { return r.target.EnsureNamespace(ctx, ns) },
			func() error { return r.source.EnsureNamespace(ctx, ns) },
			func() error { return r.source.EnsureNamespace(ctx, floorNamespace(ns)) },
		} {
			if err := ensure(); err != nil {
				return err
			}
		}
	}
	r.tracker = newTracker()
	return r.tracker.start(ctx, r.src, "target")
}

// unthrottled is an admin client with no client-side rate limit, so the
// benchmark's own writes go as fast as the API server takes them.
func unthrottled(c *testbed.Cluster) (kubernetes.Interface, error) {
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS = -1
	return kubernetes.NewForConfig(cfg)
}
