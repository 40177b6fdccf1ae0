package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/e2e/testbed"
	"github.com/svcmirror/svcmirror/mirror/plan"
)

// Lease timings for the HA tests: short, so a takeover takes seconds; like
// the defaults (30 s / 10 s / 2 s), a leader that cannot renew stops
// (renew deadline plus one retry) well before its lease lapses. A standby
// polls every retry period with up to 120% jitter, and notices the last
// renewal as late, so a takeover comes at most lease + 2 × 2.2 × retry
// after the kill: 9.76 s here, inside the lease + 2 s the test allows.
var haFlags = []string{"--leader-elect-lease-duration=8s", "--leader-elect-renew-deadline=4s", "--leader-elect-retry-period=400ms"}

const haLease = 8 * time.Second

// replica is one of several daemons serving the same Link.
type replica struct {
	*daemon
	name string
}

func startReplica(t *testing.T, p *testbed.Pair, name, kubeconfig string) *replica {
	t.Helper()
	args := append([]string{"--kubeconfig=" + kubeconfig}, haFlags...)
	d := startDaemonWithEnv(t, p, []string{"POD_NAME=" + name}, args...)
	return &replica{daemon: d, name: name}
}

// writesBy counts the successful Service and Endpoints writes the source
// API server logged for replica name (its user agent names it; "" counts
// every replica's).
func writesBy(t *testing.T, c *testbed.Cluster, name string, since time.Time) int {
	t.Helper()
	writes, err := c.AuditWrites()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, w := range writes {
		r := w.ObjectRef.Resource
		if strings.HasPrefix(w.UserAgent, "svcmirror/") && strings.Contains(w.UserAgent, "("+name) && (r == "services" || r == "endpoints") &&
			w.ResponseStatus.Code < 300 && !w.Received.Before(since) {
			n++
		}
	}
	return n
}

func leaseHolderOf(t *testing.T, c *testbed.Cluster) string {
	t.Helper()
	lease, err := c.Client.CoordinationV1().Leases(testbed.LinkNamespace).Get(context.Background(), plan.LeaseName(clusterName), metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

func waitReadyAs(t *testing.T, r *replica, role string) {
	t.Helper()
	testbed.Eventually(t, 60*time.Second, func() (bool, string) {
		r.alive()
		body, err := r.get("/ready")
		return err == nil && strings.Contains(body, role), fmt.Sprintf("%s /ready: %q %v", r.name, body, err)
	})
}

// TestOnlyTheLeaderWritesAndAStandbyTakesOver runs two replicas on one
// Link: only the Lease holder writes; when it is killed the standby takes
// over within the lease duration plus 2 s, writing exactly the change made
// meanwhile and nothing else (its caches were warm).
func TestOnlyTheLeaderWritesAndAStandbyTakesOver(t *testing.T) {
	p := linkedPair(t, nil, testbed.WithAuditLog())
	ctx := context.Background()
	const n = 10
	for i := range n {
		makeRemoteService(t, p.Target, "apps", fmt.Sprintf("svc-%d", i), fmt.Sprintf("10.0.0.%d", i+1), exported("true"))
	}
	if err := p.Source.EnsureNamespace(ctx, "apps"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a := startReplica(t, p, "replica-a", p.DaemonKubeconfig)
	waitReadyAs(t, a, "leader")
	for i := range n {
		waitEndpoints(t, p.Source, "apps", fmt.Sprintf("svc-%d-%s", i, clusterName), func(ep *corev1.Endpoints) (bool, string) {
			return len(ep.Subsets) == 1, "no subset yet"
		})
	}
	b := startReplica(t, p, "replica-b", p.DaemonKubeconfig)
	waitReadyAs(t, b, "standby")
	if got := leaseHolderOf(t, p.Source); got != "replica-a" {
		t.Fatalf("Lease holder %q, want replica-a", got)
	}
	if got := a.metric("svcmirror_leader"); got != 1 {
		t.Errorf("replica-a svcmirror_leader = %v, want 1", got)
	}
	if got := b.metric("svcmirror_leader"); got != 0 {
		t.Errorf("replica-b svcmirror_leader = %v, want 0", got)
	}

	// A change while both run: only the leader writes it.
	updateRemote(t, p.Target, "apps", "svc-0", func(s *corev1.Service) { s.Labels["version"] = "2" })
	waitService(t, p.Source, "apps", "svc-0-"+clusterName, func(s *corev1.Service) (bool, string) {
		return s.Labels["version"] == "2", "label not mirrored yet"
	})
	if got := writesBy(t, p.Source, "replica-a", start); got < 2*n+1 {
		t.Errorf("replica-a wrote %d times, want at least %d (every mirror and the change)", got, 2*n+1)
	}
	if got := writesBy(t, p.Source, "replica-b", start); got != 0 {
		t.Fatalf("the standby wrote %d times; only the leader may write", got)
	}

	// The leader dies; a remote change is made at once. The standby must
	// take over within the lease duration plus 2 s and write just that.
	a.proc.Kill()
	killed := time.Now()
	updateRemote(t, p.Target, "apps", "svc-1", func(s *corev1.Service) { s.Labels["version"] = "2" })
	waitService(t, p.Source, "apps", "svc-1-"+clusterName, func(s *corev1.Service) (bool, string) {
		return s.Labels["version"] == "2", "label not mirrored yet"
	})
	waitEndpoints(t, p.Source, "apps", "svc-1-"+clusterName, func(ep *corev1.Endpoints) (bool, string) {
		return ep.Labels["version"] == "2", "label not on the Endpoints yet"
	})
	took := time.Since(killed)
	t.Logf("failover: the change made at the kill reached its mirror %s later", took.Round(10*time.Millisecond))
	if took > haLease+2*time.Second {
		t.Errorf("takeover took %s, want at most the lease duration (%s) plus 2 s", took, haLease)
	}
	waitReadyAs(t, b, "leader")
	if got := leaseHolderOf(t, p.Source); got != "replica-b" {
		t.Errorf("Lease holder %q, want replica-b", got)
	}
	// The changed label is on the mirror Service and its Endpoints.
	if got := writesBy(t, p.Source, "replica-b", start); got != 2 {
		t.Errorf("the new leader wrote %d times, want exactly 2 (the Service whose remote changed and its Endpoints)", got)
	}
}

// TestALeaderCutOffFromItsAPIServerStopsWriting cuts the leader's
// connection to the local API server: it must stop writing before its
// lease can pass, the standby takes over, and the old leader, once its
// connection is back, writes nothing.
func TestALeaderCutOffFromItsAPIServerStopsWriting(t *testing.T) {
	p := linkedPair(t, nil, testbed.WithAuditLog())
	ctx := context.Background()
	makeRemoteService(t, p.Target, "apps", "web", "10.0.0.1", exported("true"))
	if err := p.Source.EnsureNamespace(ctx, "apps"); err != nil {
		t.Fatal(err)
	}
	proxy := startCutProxy(t, strings.TrimPrefix(p.Source.Host, "https://"))
	cutConfig := filepath.Join(t.TempDir(), "cut.kubeconfig")
	data, err := os.ReadFile(p.DaemonKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cutConfig, []byte(strings.ReplaceAll(string(data), p.Source.Host, "https://"+proxy.addr())), 0o600); err != nil {
		t.Fatal(err)
	}

	a := startReplica(t, p, "replica-a", cutConfig)
	waitReadyAs(t, a, "leader")
	waitService(t, p.Source, "apps", "web-"+clusterName, func(*corev1.Service) (bool, string) { return true, "" })
	b := startReplica(t, p, "replica-b", p.DaemonKubeconfig)
	waitReadyAs(t, b, "standby")

	proxy.cut()
	cutAt := time.Now()
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		return leaseHolderOf(t, p.Source) == "replica-b", "replica-b has not taken the Lease"
	})
	lease, err := p.Source.Client.CoordinationV1().Leases(testbed.LinkNamespace).Get(ctx, plan.LeaseName(clusterName), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stopped := logTime(t, a.daemon, "Lost the lease; stopped writing")
	acquired := lease.Spec.AcquireTime.Time
	t.Logf("cut at %s; replica-a stopped writing at %s; replica-b acquired at %s",
		cutAt.Format(time.StampMilli), stopped.Format(time.StampMilli), acquired.Format(time.StampMilli))
	if !stopped.Before(acquired) {
		t.Errorf("replica-a stopped writing at %s, not before replica-b acquired the Lease at %s", stopped, acquired)
	}

	proxy.restore()
	restored := time.Now()
	waitReadyAs(t, a, "standby")
	updateRemote(t, p.Target, "apps", "web", func(s *corev1.Service) { s.Labels["version"] = "2" })
	waitService(t, p.Source, "apps", "web-"+clusterName, func(s *corev1.Service) (bool, string) {
		return s.Labels["version"] == "2", "label not mirrored yet"
	})
	waitEndpoints(t, p.Source, "apps", "web-"+clusterName, func(ep *corev1.Endpoints) (bool, string) {
		return ep.Labels["version"] == "2", "label not on the Endpoints yet"
	})
	if got := writesBy(t, p.Source, "replica-a", restored); got != 0 {
		t.Errorf("the deposed leader wrote %d times after its connection came back", got)
	}
	if got := writesBy(t, p.Source, "replica-b", cutAt); got != 2 {
		t.Errorf("the new leader wrote %d times, want exactly 2 (the changed Service and its Endpoints)", got)
	}
}

// logTime returns when the daemon first logged a line containing msg
// (klog's header carries the time of day).
func logTime(t *testing.T, d *daemon, msg string) time.Time {
	t.Helper()
	var at time.Time
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		data, _ := os.ReadFile(filepath.Join(d.dir, fmt.Sprintf("svcmirror-%d.log", d.runNo)))
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.Contains(line, msg) || len(line) < 21 {
				continue
			}
			// I1201 22:17:32.310569 ...
			clock, err := time.ParseInLocation("15:04:05.000000", line[6:21], time.Local)
			if err != nil {
				continue
			}
			now := time.Now()
			at = time.Date(now.Year(), now.Month(), now.Day(), clock.Hour(), clock.Minute(), clock.Second(), clock.Nanosecond(), time.Local)
			return true, ""
		}
		return false, fmt.Sprintf("no %q in the daemon's log yet", msg)
	})
	return at
}

// cutProxy relays TCP to an API server until cut, as a network partition
// between one replica and its API server would.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	isCut  bool
	conns  map[net.Conn]bool
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.isCut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// cut drops every connection and refuses new ones.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isCut = true
	p.closeAll()
}

// drop closes every open connection but goes on accepting new ones, as a
// load balancer or NAT that forgets its connections would: the client
// reconnects at once, and its watches start again where they were.
func (p *cutProxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeAll()
}

// closeAll closes every relayed connection; p.mu is held.
func (p *cutProxy) closeAll() {
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isCut = false
}
