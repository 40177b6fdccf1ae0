package mirror

import (
	"github.com/svcmirror/svcmirror/mirror/plan"

	"context"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// healthServer is a stand-in gateway health endpoint on ip:port whose
// answer can be switched between 200 and 503.
type healthServer struct {
	healthy atomic.Bool
	srv     *http.Server
}

func startHealth(t *testing.T, ip string, port int) (*healthServer, int) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	h := &healthServer{}
	h.healthy.Store(true)
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ready" || !h.healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})}
	go h.srv.Serve(l)
	t.Cleanup(func() { h.srv.Close() })
	return h, l.Addr().(*net.TCPAddr).Port
}

// watch runs a gatewayWatcher for link and records every published set.
type watch struct {
	w         *gatewayWatcher
	mu        sync.Mutex
	published []plan.Gateway
}

func startWatch(t *testing.T, link *plan.Link) *watch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &watch{}
	r.w = newGatewayWatcher(50*time.Millisecond, nil, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.published = append(r.published, r.w.current())
	})
	r.w.configure(ctx, link)
	return r
}

func (r *watch) waitFor(t *testing.T, want map[string]bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := map[string]bool{}
		for _, a := range r.w.current().Addresses {
			got[a.IP] = a.Alive
		}
		if equalMaps(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func equalMaps(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func probedLink(port int, addresses ...string) *plan.Link {
	return &plan.Link{GatewayAddresses: addresses, GatewayPort: 4143, Probe: plan.ProbeSpec{
		Path: "/ready", Port: int32(port), Period: 20 * time.Millisecond, Timeout: time.Second, FailureThreshold: 3,
	}}
}

func TestProbeMarksDownAfterThresholdAndUpAfterOneSuccess(t *testing.T) {
	h, port := startHealth(t, "127.0.0.1", 0)
	r := startWatch(t, probedLink(port, "127.0.0.1"))
	r.waitFor(t, map[string]bool{"127.0.0.1": true})

	h.healthy.Store(false)
	r.waitFor(t, map[string]bool{"127.0.0.1": false})
	h.healthy.Store(true)
	r.waitFor(t, map[string]bool{"127.0.0.1": true})

	// Transitions only: the initial set, down, up. Probes in between
	// publish nothing.
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.published) != 3 {
		t.Fatalf("published %d times (%v), want 3", len(r.published), r.published)
	}
}

func TestOnlyTheFailingAddressIsMarkedDown(t *testing.T) {
	_, port := startHealth(t, "127.0.0.1", 0)
	down, _ := startHealth(t, "127.0.0.2", port)
	r := startWatch(t, probedLink(port, "127.0.0.1", "127.0.0.2"))
	down.healthy.Store(false)
	r.waitFor(t, map[string]bool{"127.0.0.1": true, "127.0.0.2": false})
}

func TestNoProbeSpecMeansAlwaysAlive(t *testing.T) {
	link := &plan.Link{GatewayAddresses: []string{"192.0.2.10"}, GatewayPort: 4143}
	r := startWatch(t, link)
	r.waitFor(t, map[string]bool{"192.0.2.10": true})
}

func TestDNSNameResolvesAndFailureKeepsTheLastGoodSet(t *testing.T) {
	ips, err := resolveGateway(context.Background(), []string{"localhost", "192.0.2.10", "192.0.2.10"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ips, "127.0.0.1") || !slices.Contains(ips, "192.0.2.10") || len(ips) != len(slices.Compact(slices.Clone(ips))) {
		t.Fatalf("resolved %v: want localhost's 127.0.0.1 and 192.0.2.10 once", ips)
	}
	if _, err := resolveGateway(context.Background(), []string{"no-such-host.invalid"}); err == nil {
		t.Fatal("an unresolvable name must be an error")
	}

	r := startWatch(t, &plan.Link{GatewayAddresses: []string{"192.0.2.10"}, GatewayPort: 4143})
	r.waitFor(t, map[string]bool{"192.0.2.10": true})
	// Reconfigure to a name that does not resolve: the last good set stays.
	r.w.configure(context.Background(), &plan.Link{GatewayAddresses: []string{"no-such-host.invalid"}, GatewayPort: 4143})
	r.waitFor(t, map[string]bool{"192.0.2.10": true})
}
