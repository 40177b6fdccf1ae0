package benchmark

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/svcmirror/svcmirror/e2e/testbed"
	"github.com/svcmirror/svcmirror/mirror/plan"
)

// LeaseTimings are the daemon's leader-election flags.
type LeaseTimings struct {
	Duration, RenewDeadline, RetryPeriod time.Duration
}

var (
	// DefaultLease is the daemon's default (Linkerd's own timings).
	DefaultLease = LeaseTimings{30 * time.Second, 10 * time.Second, 2 * time.Second}
	// ShortLease is the e2e HA tests' short lease.
	ShortLease = LeaseTimings{8 * time.Second, 4 * time.Second, time.Second}
)

func (l LeaseTimings) flags() []string {
	return []string{
		"--leader-elect-lease-duration=" + l.Duration.String(),
		"--leader-elect-renew-deadline=" + l.RenewDeadline.String(),
		"--leader-elect-retry-period=" + l.RetryPeriod.String(),
	}
}

// String is "lease / renew deadline / retry", e.g. "30s / 10s / 2s".
func (l LeaseTimings) String() string {
	return fmt.Sprintf("%s / %s / %s", l.Duration, l.RenewDeadline, l.RetryPeriod)
}

// Takeover is one kill -9 of the leader and the standby taking over.
type Takeover struct {
	// Changed says a remote change (one Service's endpoints going unready,
	// or ready again) was made right after the kill.
	Changed bool
	// ToLease is from the kill to the standby holding the Lease (its
	// acquireTime, which the new holder writes from the same clock).
	ToLease time.Duration
	// ToFirstWrite is from the kill to the new leader's first mirror write,
	// as the API server's audit log received it; zero when nothing changed.
	ToFirstWrite time.Duration
	// MirrorWrites are the new leader's successful Service, Endpoints and
	// EndpointSlice writes from the kill until Window after it acquired the
	// Lease; Writes all its successful writes then, by "verb resource".
	MirrorWrites int
	Writes       map[string]int
}

// FailoverResult is the failover measurement under one set of lease timings.
type FailoverResult struct {
	Services int
	Lease    LeaseTimings
	// Window is how long after taking the Lease the new leader's writes
	// are counted.
	Window time.Duration
	// NothingChanged is a takeover with no remote change; OneChange one
	// with a single remote change made at the kill.
	NothingChanged, OneChange Takeover
}

// RunFailover measures, on two fresh clusters with an audit log, two
// replicas converged on opts.Failover Services: for each of
// opts.FailoverLeases, a takeover with nothing changed and one with one
// remote change, each by kill -9 of the leader.
func RunFailover(ctx context.Context, opts Options) ([]FailoverResult, error) {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	f := &failoverRun{sizeRun: sizeRun{opts: opts, n: opts.Failover, auditLog: true}}
	return f.run(ctx)
}

// failoverRun is the failover measurement: one Link, replicas started one
// after another ("replica-1", "replica-2", ...), each the next leader.
type failoverRun struct {
	sizeRun
	replicas int
	leader   *replica
	// unready says whether the Service the one-change takeovers flip has
	// its endpoints unready now.
	unready bool
	results []FailoverResult
}

// replica is one daemon serving the Link; its user agent names it.
type replica struct {
	name, addr string
	proc       *testbed.Process
}

func (f *failoverRun) run(ctx context.Context) ([]FailoverResult, error) {
	f.res = Result{Services: f.n, Endpoints: f.opts.Endpoints}
	root, err := os.MkdirTemp("", "svcmirror-failover-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(root)
	f.root = root
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := f.startClusters(ctx); err != nil {
		return nil, err
	}
	defer f.source.Stop()
	defer f.target.Stop()
	defer func() {
		if f.leader != nil {
			f.leader.proc.Kill()
		}
	}()
	f.logf("failover: remote set-up")
	if err := f.createRemote(ctx); err != nil {
		return nil, fmt.Errorf("remote set-up: %w", err)
	}
	f.round = 1
	if err := f.linkRound(ctx); err != nil {
		return nil, err
	}
	all, err := f.allDesired()
	if err != nil {
		return nil, err
	}
	f.expectAll(all)
	for _, lease := range f.opts.FailoverLeases {
		res, err := f.measure(ctx, lease)
		if err != nil {
			return f.results, fmt.Errorf("failover (lease %s): %w", lease, err)
		}
		f.results = append(f.results, res)
	}
	return f.results, nil
}

// measure starts a leader with the given timings (ending the last one with
// SIGTERM, which releases the Lease), waits until every mirror is right,
// then takes over twice: with nothing changed, then with one change.
func (f *failoverRun) measure(ctx context.Context, lease LeaseTimings) (FailoverResult, error) {
	res := FailoverResult{Services: f.n, Lease: lease, Window: f.opts.FailoverWindow}
	if f.leader != nil {
		f.leader.proc.Stop(10 * time.Second)
	}
	var err error
	if f.leader, err = f.startReplica(lease); err != nil {
		return res, err
	}
	if err := f.waitReady(ctx, f.leader, "leader", 2*time.Minute); err != nil {
		return res, err
	}
	f.logf("failover (lease %s): leader %s converging", lease, f.leader.name)
	if err := f.tracker.waitRight(ctx, 15*time.Minute, "convergence", f.keys); err != nil {
		return res, err
	}
	if res.NothingChanged, err = f.takeover(ctx, lease, false); err != nil {
		return res, fmt.Errorf("nothing changed: %w", err)
	}
	if res.OneChange, err = f.takeover(ctx, lease, true); err != nil {
		return res, fmt.Errorf("one change: %w", err)
	}
	return res, nil
}

// takeover starts a standby, kills the leader with SIGKILL, optionally
// makes one remote change at once, and measures the standby taking over.
func (f *failoverRun) takeover(ctx context.Context, lease LeaseTimings, change bool) (Takeover, error) {
	t := Takeover{Changed: change}
	standby, err := f.startReplica(lease)
	if err != nil {
		return t, err
	}
	if err := f.waitReady(ctx, standby, "standby", 5*time.Minute); err != nil {
		standby.proc.Kill()
		return t, err
	}
	f.logf("failover (lease %s): killing leader %s (remote change: %v)", lease, f.leader.name, change)
	f.leader.proc.Kill()
	killed := time.Now()
	f.leader = standby
	var changedKey string
	if change {
		if changedKey, err = f.flipEndpoints(ctx); err != nil {
			return t, err
		}
	}
	acquired, err := f.waitHolder(ctx, standby.name, lease.Duration+lease.RetryPeriod+time.Minute)
	if err != nil {
		return t, err
	}
	t.ToLease = acquired.Sub(killed)
	if change {
		if err := f.tracker.waitRight(ctx, 2*time.Minute, "the change made at the kill", []string{changedKey}); err != nil {
			return t, err
		}
		first, err := f.firstWrite(ctx, standby.name, killed)
		if err != nil {
			return t, err
		}
		t.ToFirstWrite = first.Sub(killed)
	}
	end := acquired.Add(f.opts.FailoverWindow)
	f.logf("failover (lease %s): %s holds the Lease after %s; counting its writes until %s", lease, standby.name, secs(t.ToLease), end.Format("15:04:05"))
	select { // a measurement window, not a wait for a condition
	case <-time.After(time.Until(end)):
	case <-ctx.Done():
		return t, ctx.Err()
	}
	if exited, err := standby.proc.Exited(); exited {
		return t, fmt.Errorf("%s exited: %v (log: %s)", standby.name, err, standby.proc.LogPath)
	}
	t.MirrorWrites, t.Writes, err = f.writesBy(standby.name, killed, end)
	return t, err
}

// flipEndpoints turns the endpoints of the first remote Service unready
// (or ready again, every other time): a change to its mirror Endpoints
// alone, so the new leader has exactly one object to write. It returns the
// mirror's key.
func (f *failoverRun) flipEndpoints(ctx context.Context) (string, error) {
	const i = 0
	f.unready = !f.unready
	d, err := f.desired(i, !f.unready)
	if err != nil {
		return "", err
	}
	f.tracker.expect(d.Service.Namespace, d.Service.Name, d)
	slice := remoteSlice(i, f.opts.Endpoints, !f.unready)
	patch, err := json.Marshal(map[string]any{"endpoints": slice.Endpoints})
	if err != nil {
		return "", err
	}
	_, err = f.tgt.DiscoveryV1().EndpointSlices(slice.Namespace).Patch(ctx, slice.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	return f.keys[i], err
}

// startReplica starts the next replica with the given lease timings; its
// POD_NAME is its Lease identity and the tag of its user agent.
func (f *failoverRun) startReplica(lease LeaseTimings) (*replica, error) {
	f.replicas++
	name := fmt.Sprintf("replica-%d", f.replicas)
	addr, err := testbed.FreeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{"run", "--kubeconfig=" + f.pair.DaemonKubeconfig, "--namespace=" + testbed.LinkNamespace,
		"--link=" + f.pair.ClusterName, "--metrics-addr=" + addr, "-v=2"}, lease.flags()...)
	args = append(args, f.opts.DaemonArgs...)
	logDir := f.root
	if f.opts.LogDir != "" {
		logDir = f.opts.LogDir
	}
	proc, err := testbed.StartProcessWithEnv(name, f.opts.Svcmirror, args, append([]string{"POD_NAME=" + name}, f.opts.DaemonEnv...),
		filepath.Join(logDir, FailoverLogName(f.n, name)))
	if err != nil {
		return nil, err
	}
	return &replica{name: name, addr: addr, proc: proc}, nil
}

// FailoverLogName is the file name of a failover replica's log.
func FailoverLogName(n int, replica string) string {
	return fmt.Sprintf("svcmirror-failover-%d-%s.log", n, replica)
}

// waitReady waits until the replica's /ready answers 200 in the given role
// ("leader" or "standby").
func (f *failoverRun) waitReady(ctx context.Context, r *replica, role string, timeout time.Duration) error {
	last := ""
	return poll(ctx, timeout, func() (bool, error) {
		if exited, err := r.proc.Exited(); exited {
			return false, fmt.Errorf("%s exited: %v (log: %s)", r.name, err, r.proc.LogPath)
		}
		resp, err := http.Get("http://" + r.addr + "/ready")
		if err != nil {
			last = err.Error()
			return false, nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = strings.TrimSpace(string(body))
		return resp.StatusCode == http.StatusOK && strings.Contains(last, "("+role+")"), nil
	}, func() string { return fmt.Sprintf("%s to be ready as %s (last /ready: %q)", r.name, role, last) })
}

// waitHolder waits until name holds the Lease and returns its acquireTime.
func (f *failoverRun) waitHolder(ctx context.Context, name string, timeout time.Duration) (time.Time, error) {
	var acquired time.Time
	holder := ""
	err := poll(ctx, timeout, func() (bool, error) {
		lease, err := f.src.CoordinationV1().Leases(testbed.LinkNamespace).Get(ctx, plan.LeaseName(f.pair.ClusterName), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if lease.Spec.HolderIdentity != nil {
			holder = *lease.Spec.HolderIdentity
		}
		if holder != name || lease.Spec.AcquireTime == nil {
			return false, nil
		}
		acquired = lease.Spec.AcquireTime.Time
		return true, nil
	}, func() string { return fmt.Sprintf("%s to hold the Lease (holder: %q)", name, holder) })
	return acquired, err
}

// isMirrorWrite says whether resource is one the failover figures count.
func isMirrorWrite(resource string) bool {
	return resource == "services" || resource == "endpoints" || resource == "endpointslices"
}

// writtenBy says whether an audit entry is a successful write by replica
// name (its user agent is "svcmirror/<version> (<name>)").
func writtenBy(w testbed.AuditWrite, name string) bool {
	return strings.Contains(w.UserAgent, "("+name+")") && w.ResponseStatus.Code >= 200 && w.ResponseStatus.Code < 300
}

// firstWrite waits for replica name's first mirror write since from in the
// audit log and returns when the API server received it.
func (f *failoverRun) firstWrite(ctx context.Context, name string, from time.Time) (time.Time, error) {
	var at time.Time
	err := poll(ctx, time.Minute, func() (bool, error) {
		writes, err := f.source.AuditWrites()
		if err != nil {
			return false, err
		}
		for _, w := range writes {
			if writtenBy(w, name) && isMirrorWrite(w.ObjectRef.Resource) && !w.Received.Before(from) {
				at = w.Received
				return true, nil
			}
		}
		return false, nil
	}, func() string { return fmt.Sprintf("a mirror write by %s in the audit log", name) })
	return at, err
}

// writesBy counts replica name's successful writes received in [from, to]
// in the source's audit log (see countWrites).
func (f *failoverRun) writesBy(name string, from, to time.Time) (int, map[string]int, error) {
	writes, err := f.source.AuditWrites()
	if err != nil {
		return 0, nil, err
	}
	mirror, all := countWrites(writes, name, from, to)
	return mirror, all, nil
}

// countWrites counts replica name's successful writes received in
// [from, to]: the mirror writes, and all of them by
// "verb resource[/subresource]".
func countWrites(writes []testbed.AuditWrite, name string, from, to time.Time) (int, map[string]int) {
	mirror, all := 0, map[string]int{}
	for _, w := range writes {
		if !writtenBy(w, name) || w.Received.Before(from) || w.Received.After(to) {
			continue
		}
		resource := w.ObjectRef.Resource
		if w.ObjectRef.Subresource != "" {
			resource += "/" + w.ObjectRef.Subresource
		}
		all[w.Verb+" "+resource]++
		if isMirrorWrite(w.ObjectRef.Resource) {
			mirror++
		}
	}
	return mirror, all
}

// poll calls done every 100 ms until it is true or fails, or timeout
// passes; what describes the awaited condition for the error.
func poll(ctx context.Context, timeout time.Duration, done func() (bool, error), what func() string) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
