// Package benchmark measures svcmirror against real API servers and against
// the floor of the same machine: how fast it converges, how much it writes,
// how quickly a remote change reaches its mirror, how fast unexport cleans
// up, and what the daemon costs in memory and CPU. `make bench` runs it
// through e2e/bench; e2e's TestBenchmarkRuns runs it small.
package benchmark

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/svcmirror/svcmirror/e2e/testbed"
	"github.com/svcmirror/svcmirror/mirror/plan"
)

// gatewayIP stands in for the target's gateway (a documentation address:
// Endpoints may not hold loopback IPs). The Link has no probe, so it is ready.
const gatewayIP = "192.0.2.10"

// Options shape a benchmark run.
type Options struct {
	// Svcmirror is the daemon binary; DaemonArgs are extra flags for its
	// run command (e.g. --workers=32). DaemonEnv ("KEY=value") is added to
	// the daemon's environment alone, not the API servers' (e.g.
	// GOMEMLIMIT=256MiB, which the Deployment sets).
	Svcmirror  string
	DaemonArgs []string
	DaemonEnv  []string
	// Sizes are the numbers of exported Services, one measurement each.
	Sizes []int
	// Rounds is how many times each size measures the floor and then the
	// daemon's convergence (at least once); the ratio reported is the
	// median of the rounds' ratios. Everything else is measured once, in
	// the last round.
	Rounds int
	// Endpoints is the number of ready endpoints of each remote Service.
	Endpoints int
	// Mode is how the remote Services are exported: plan.ModeGateway (the
	// default when empty: mirrors get gateway Endpoints and slices) or
	// plan.ModeRemoteDiscovery (flat: mirrors get slices of the remote
	// pods' addresses and no Endpoints). e2e/bench runs RunFailover in
	// gateway mode whatever -mode says.
	Mode plan.Mode
	// Workers is the parallelism of the benchmark's own bulk writes: the
	// floor, the remote set-up and the unexport relabel.
	Workers int
	// Quiet is how long writes are counted after convergence.
	Quiet time.Duration
	// NoFloor skips the floor (no ratio is reported): a memory or latency
	// measurement at a large size then takes minutes less.
	NoFloor bool
	// LiveSetup creates the remote Services while the daemon already runs,
	// then restarts the daemon against the converged state (see
	// livesetup.go). For the largest sizes, where the API servers' ClusterIP
	// allocation makes a set-up followed by a convergence take hours here:
	// the two then overlap, one API server on each core. It needs one round
	// and no floor.
	LiveSetup bool
	// Restarts is how many times the converged daemon is restarted after a
	// live set-up (at least once): the peaks of a cold start vary by a few
	// percent from one to the next, and the verdict takes the highest.
	Restarts int
	// NoUnexport skips the unexport phase, which at the largest sizes costs
	// as long as the set-up (every ClusterIP release is O(N) too).
	NoUnexport bool
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
	// Failover is the number of exported Services RunFailover converges
	// two replicas on; FailoverLeases the leader-election timings it
	// measures a takeover under, one after another; FailoverWindow how long
	// after taking the Lease the new leader's writes are counted.
	Failover       int
	FailoverLeases []LeaseTimings
	FailoverWindow time.Duration
	// Logf receives progress lines.
	Logf func(format string, args ...any)
}

// mode is Mode with its default applied.
func (o Options) mode() plan.Mode {
	if o.Mode == plan.ModeNone {
		return plan.ModeGateway
	}
	return o.Mode
}

// Round is one paired measurement: the floor, then the daemon converging
// on the same clusters right after it.
type Round struct {
	// Floor is creating the mirror objects directly until all are seen
	// right; FloorDelete deleting them until all are seen gone.
	Floor, FloorDelete time.Duration
	// Convergence is from starting the daemon until every mirror is right.
	Convergence time.Duration
	// Writes are the source API server's mutating requests during
	// convergence.
	Writes RequestCounts
}

// Ratio is convergence over floor.
func (r Round) Ratio() float64 { return r.Convergence.Seconds() / r.Floor.Seconds() }

// Result is one size's measurements.
type Result struct {
	Services, Endpoints int
	// Mode is how the remote Services were exported.
	Mode plan.Mode
	// RemoteSetup is how long the benchmark took to create the remote
	// Services and EndpointSlices (for scale; not a figure of svcmirror's).
	RemoteSetup time.Duration
	// Rounds are the paired floor and convergence measurements, in order.
	Rounds []Round
	// QuietWrites are the source API server's mutating requests during
	// Quiet after the last round's convergence.
	QuietWrites RequestCounts
	Quiet       time.Duration
	// LabelLatency is remote label change → mirror right; EmptyLatency
	// remote endpoints all unready (and back) → mirror Endpoints right.
	LabelLatency, EmptyLatency Latencies
	// UnexportRelabel is removing the export label from every remote
	// Service; Unexport from its start until every mirror is gone.
	UnexportRelabel, Unexport time.Duration
	// AtConvergence and End are the daemon's usage then.
	AtConvergence, End ProcUsage
	// Restarts are the restarts after a live set-up, if there was one.
	Restarts []RestartResult
}

// PeakRSS is the highest peak RSS of the daemon processes measured: the
// one that converged and, after a live set-up, each one restarted then.
func (r Result) PeakRSS() int64 {
	peak := max(r.AtConvergence.PeakRSSBytes, r.End.PeakRSSBytes)
	for _, restart := range r.Restarts {
		peak = max(peak, restart.Usage.PeakRSSBytes)
	}
	return peak
}

// Ratio is the median of the rounds' ratios: each round's floor and
// convergence ran back to back, so each ratio saw the machine in one state,
// and the median drops a round that a burst of noise hit on one side.
func (r Result) Ratio() float64 {
	ratios := make([]float64, len(r.Rounds))
	for i, round := range r.Rounds {
		ratios[i] = round.Ratio()
	}
	return median(ratios)
}

// Floor and Convergence are the medians over the rounds.
func (r Result) Floor() time.Duration {
	return medianDuration(r.Rounds, func(x Round) time.Duration { return x.Floor })
}

func (r Result) Convergence() time.Duration {
	return medianDuration(r.Rounds, func(x Round) time.Duration { return x.Convergence })
}

// ConvergenceWrites are the last round's writes while converging.
func (r Result) ConvergenceWrites() RequestCounts {
	if len(r.Rounds) == 0 {
		return nil
	}
	return r.Rounds[len(r.Rounds)-1].Writes
}

func medianDuration(rounds []Round, field func(Round) time.Duration) time.Duration {
	values := make([]float64, len(rounds))
	for i, x := range rounds {
		values[i] = float64(field(x))
	}
	return time.Duration(median(values))
}

// median is the middle value, or the mean of the two middle ones; 0 when
// values is empty.
func median(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	mid := len(sorted) / 2
	if len(sorted)%2 == 1 {
		return sorted[mid]
	}
	return (sorted[mid-1] + sorted[mid]) / 2
}

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
	root    string // the clusters' folder
	// auditLog starts the source API server with an audit log, which tells
	// writes apart by user agent (RunFailover's replicas).
	auditLog bool

	source, target *testbed.Cluster
	src, tgt       kubernetes.Interface // unthrottled admin clients
	remote         []*corev1.Service    // the remote Services as last written

	// The current round's Link (each round links the clusters under its
	// own name, so its mirrors have names no earlier round used), the
	// tracker of its mirrors and their "namespace/mirror name" keys.
	round       int
	pair        *testbed.Pair
	link        *plan.Link
	tracker     *tracker
	stopTracker context.CancelFunc
	keys        []string

	res Result
}

func (r *sizeRun) logf(format string, args ...any) {
	r.opts.Logf("[N=%d] "+format, append([]any{r.n}, args...)...)
}

func (r *sizeRun) run(ctx context.Context) (Result, error) {
	r.res = Result{Services: r.n, Endpoints: r.opts.Endpoints, Mode: r.opts.mode(), Quiet: r.opts.Quiet}
	root, err := os.MkdirTemp("", "svcmirror-bench-")
	if err != nil {
		return r.res, err
	}
	defer os.RemoveAll(root)
	r.root = root
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the trackers' informers
	if err := r.startClusters(ctx); err != nil {
		return r.res, err
	}
	defer r.source.Stop()
	defer r.target.Stop()

	if r.opts.LiveSetup {
		if r.opts.Rounds > 1 || !r.opts.NoFloor {
			return r.res, errors.New("a live set-up measures one round with no floor (-rounds 1 -no-floor)")
		}
	} else {
		r.logf("remote set-up")
		if err := r.createRemote(ctx); err != nil {
			return r.res, fmt.Errorf("remote set-up: %w", err)
		}
	}
	rounds := max(r.opts.Rounds, 1)
	for r.round = 1; r.round <= rounds; r.round++ {
		if err := r.measureRound(ctx, r.round == rounds); err != nil {
			return r.res, fmt.Errorf("round %d: %w", r.round, err)
		}
	}
	return r.res, nil
}

// measureRound takes the floor, then the daemon's convergence under a Link
// of the round's own; in the last round the daemon goes on to the rest of
// the measurements, in the others it is stopped and its mirrors deleted.
func (r *sizeRun) measureRound(ctx context.Context, last bool) error {
	if err := r.linkRound(ctx); err != nil {
		return err
	}
	r.res.Rounds = append(r.res.Rounds, Round{})
	if !r.opts.NoFloor {
		r.logf("round %d: floor", r.round)
		if err := r.measureFloor(ctx); err != nil {
			return fmt.Errorf("floor: %w", err)
		}
	}
	return r.measureDaemon(ctx, last)
}

// thisRound is the current round's measurements.
func (r *sizeRun) thisRound() *Round { return &r.res.Rounds[len(r.res.Rounds)-1] }

func (r *sizeRun) startClusters(ctx context.Context) error {
	for _, name := range []string{"source", "target"} {
		dir := filepath.Join(r.root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		c, err := testbed.New(ctx, testbed.Options{Name: name, Dir: dir, AuditLog: r.auditLog && name == "source"})
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
	return nil
}

// linkRound links the clusters under the round's name ("target1", ...),
// computes the keys of the mirrors it will have and starts their tracker.
func (r *sizeRun) linkRound(ctx context.Context) error {
	if r.stopTracker != nil {
		r.stopTracker()
	}
	var err error
	if r.pair, err = testbed.LinkClusters(ctx, r.source, r.target, fmt.Sprintf("target%d", r.round)); err != nil {
		return err
	}
	linkObj := r.pair.LinkObject(gatewayIP, nil)
	if err := r.pair.ApplyLink(ctx, linkObj); err != nil {
		return err
	}
	if r.link, err = plan.ParseLink(linkObj); err != nil {
		return err
	}
	r.keys = make([]string, r.n)
	for i := range r.keys {
		svc := remoteService(i, r.opts.mode()) // the names only: with a live set-up it does not exist yet
		r.keys[i] = svc.Namespace + "/" + plan.MirrorName(svc.Name, r.link.TargetClusterName)
	}
	var trackerCtx context.Context
	trackerCtx, r.stopTracker = context.WithCancel(ctx)
	r.tracker = newTracker()
	return r.tracker.start(trackerCtx, r.src, r.link.TargetClusterName)
}

// unthrottled is an admin client with no client-side rate limit, so the
// benchmark's own writes go as fast as the API server takes them.
func unthrottled(c *testbed.Cluster) (kubernetes.Interface, error) {
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS = -1
	return kubernetes.NewForConfig(cfg)
}
