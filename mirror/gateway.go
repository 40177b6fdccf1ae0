package mirror

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/metrics"
	"github.com/svcmirror/svcmirror/mirror/plan"
)

// resolveTimeout bounds one DNS lookup of a gateway name.
const resolveTimeout = 5 * time.Second

// resolveGateway turns the Link's gateway addresses (IPs and DNS names)
// into a sorted, de-duplicated set of IPs. A name that does not resolve is
// an error, so the caller can keep the last good set.
func resolveGateway(ctx context.Context, addresses []string) ([]string, error) {
	seen := map[string]bool{}
	var ips []string
	for _, a := range addresses {
		found := []net.IP{net.ParseIP(a)}
		if found[0] == nil {
			lookupCtx, cancel := context.WithTimeout(ctx, resolveTimeout)
			var err error
			found, err = net.DefaultResolver.LookupIP(lookupCtx, "ip", a)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("resolve gateway address %q: %w", a, err)
			}
		}
		for _, ip := range found {
			if s := ip.String(); !seen[s] {
				seen[s] = true
				ips = append(ips, s)
			}
		}
	}
	sort.Strings(ips)
	return ips, nil
}

// gatewayWatcher is the only owner of the gateway set. It
// re-resolves the Link's gateway addresses every resolveEvery (a load
// balancer's DNS name may start pointing elsewhere) and probes each IP per
// the Link's probeSpec. It hands the engine a new gateway set only when the
// set or an address's liveness changes, so mirrors are written on
// transitions only.
type gatewayWatcher struct {
	resolveEvery time.Duration
	metrics      *metrics.Metrics
	// onChange is told that the published gateway set changed; it reads it
	// with current, so notifications arriving out of order do no harm.
	onChange func()
	client   *http.Client

	mu        sync.Mutex
	cancel    context.CancelFunc
	addresses []string
	probe     plan.ProbeSpec
	port      int32
	ips       []string        // last good resolution
	alive     map[string]bool // per IP
	probers   map[string]context.CancelFunc
	published plan.Gateway
	dnsFailed bool
}

func newGatewayWatcher(resolveEvery time.Duration, m *metrics.Metrics, onChange func()) *gatewayWatcher {
	if resolveEvery <= 0 {
		resolveEvery = 30 * time.Second
	}
	return &gatewayWatcher{
		resolveEvery: resolveEvery, metrics: m, onChange: onChange,
		// Probes must not reuse a connection to a gateway that died: each
		// probe is a fresh connection, as a client's would be.
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
		alive:  map[string]bool{}, probers: map[string]context.CancelFunc{},
	}
}

// configure applies the Link's gateway fields. When they changed it
// resolves the addresses at once (so the first sync after a change uses
// them) and restarts the loop; it returns the gateway set to use now.
func (w *gatewayWatcher) configure(ctx context.Context, link *plan.Link) plan.Gateway {
	w.mu.Lock()
	if w.cancel != nil && slices.Equal(w.addresses, link.GatewayAddresses) && w.probe == link.Probe && w.port == link.GatewayPort {
		gw := w.published
		w.mu.Unlock()
		return gw
	}
	if w.cancel != nil {
		w.cancel()
	}
	for ip, stop := range w.probers {
		stop()
		delete(w.probers, ip)
	}
	loopCtx, cancel := context.WithCancel(ctx)
	w.cancel, w.addresses, w.probe, w.port = cancel, slices.Clone(link.GatewayAddresses), link.Probe, link.GatewayPort
	w.alive = map[string]bool{}
	w.mu.Unlock()

	enabled := len(link.GatewayAddresses) > 0 && link.Probe.Enabled()
	if w.metrics != nil {
		w.metrics.GatewayEnabled(enabled)
		w.metrics.GatewayAlive(true)
	}
	cfg := gatewayConfig{addresses: slices.Clone(link.GatewayAddresses), probe: link.Probe}
	w.resolve(loopCtx, cfg)
	go w.run(loopCtx, cfg)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.published
}

// stop ends the loop and every prober.
func (w *gatewayWatcher) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		w.cancel()
	}
}

// gatewayConfig is the loop's own copy of the Link's gateway fields, so
// that it never reads fields configure replaces.
type gatewayConfig struct {
	addresses []string
	probe     plan.ProbeSpec
}

func (w *gatewayWatcher) run(ctx context.Context, cfg gatewayConfig) {
	if len(cfg.addresses) == 0 {
		return
	}
	tick := time.NewTicker(w.resolveEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			w.resolve(ctx, cfg)
		}
	}
}

// resolve looks the addresses up; on failure the last good set stays.
func (w *gatewayWatcher) resolve(ctx context.Context, cfg gatewayConfig) {
	logger := klog.FromContext(ctx)
	ips, err := resolveGateway(ctx, cfg.addresses)
	w.mu.Lock()
	defer w.mu.Unlock()
	if ctx.Err() != nil {
		return // reconfigured meanwhile
	}
	if err != nil {
		if !w.dnsFailed {
			logger.Error(err, "Resolving the gateway failed; keeping the last good addresses", "addresses", w.ips)
		}
		w.dnsFailed = true
		if w.metrics != nil {
			w.metrics.GatewayResolveFailed()
		}
		return
	}
	if w.dnsFailed {
		logger.Info("Resolving the gateway works again", "addresses", ips)
		w.dnsFailed = false
	}
	if w.ips != nil && !slices.Equal(ips, w.ips) {
		logger.Info("Gateway addresses changed", "from", w.ips, "to", ips)
	}
	w.ips = ips
	keep := map[string]bool{}
	for _, ip := range ips {
		keep[ip] = true
		if _, ok := w.alive[ip]; !ok {
			w.alive[ip] = true // alive until the probe proves otherwise
		}
		if _, running := w.probers[ip]; !running && cfg.probe.Enabled() {
			pctx, cancel := context.WithCancel(ctx)
			w.probers[ip] = cancel
			go w.probeLoop(pctx, ip, cfg.probe)
		}
	}
	for ip := range w.alive {
		if !keep[ip] {
			delete(w.alive, ip)
			if stop, ok := w.probers[ip]; ok {
				stop()
				delete(w.probers, ip)
			}
			if w.metrics != nil {
				w.metrics.GatewayAddressGone(ip)
			}
		}
	}
	w.publishLocked()
}

// probeLoop probes one gateway IP every period, with up to 10% jitter so
// that many daemons do not probe in step. failureThreshold consecutive
// failures mark it down; one success marks it up again.
func (w *gatewayWatcher) probeLoop(ctx context.Context, ip string, p plan.ProbeSpec) {
	logger := klog.FromContext(ctx).WithValues("gatewayAddress", ip)
	url := "http://" + net.JoinHostPort(ip, strconv.Itoa(int(p.Port))) + p.Path
	failures := 0
	for {
		jitter := time.Duration(rand.Int64N(int64(p.Period)/10 + 1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(p.Period + jitter):
		}
		ok, took, err := w.probeOnce(ctx, url, p.Timeout)
		if ctx.Err() != nil {
			return
		}
		if w.metrics != nil {
			w.metrics.GatewayProbed(ok, took)
		}
		if ok {
			failures = 0
		} else {
			failures++
			logger.V(4).Info("Gateway probe failed", "failures", failures, "err", err)
		}
		w.mu.Lock()
		if ctx.Err() != nil {
			w.mu.Unlock()
			return
		}
		was := w.alive[ip]
		now := was
		if ok {
			now = true
		} else if failures >= p.FailureThreshold {
			now = false
		}
		if now != was {
			if _, current := w.alive[ip]; current {
				w.alive[ip] = now
				if now {
					logger.Info("Gateway is up")
				} else {
					logger.Info("Gateway is down; its address moves to notReadyAddresses", "failures", failures, "err", err)
				}
				w.publishLocked()
			}
		}
		w.mu.Unlock()
	}
}

func (w *gatewayWatcher) probeOnce(ctx context.Context, url string, timeout time.Duration) (bool, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, 0, err
	}
	resp, err := w.client.Do(req)
	took := time.Since(start)
	if err != nil {
		return false, took, err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return false, took, fmt.Errorf("status %d", resp.StatusCode)
	}
	return true, took, nil
}

// publishLocked hands the engine the current set if it changed; mu held.
func (w *gatewayWatcher) publishLocked() {
	var gw plan.Gateway
	anyAlive := false
	for _, ip := range w.ips {
		gw.Addresses = append(gw.Addresses, plan.GatewayAddress{IP: ip, Alive: w.alive[ip]})
		anyAlive = anyAlive || w.alive[ip]
		if w.metrics != nil {
			w.metrics.GatewayAddressAlive(ip, w.alive[ip])
		}
	}
	if w.metrics != nil {
		w.metrics.GatewayAlive(anyAlive || len(w.ips) == 0)
	}
	if plan.GatewaysEqual(gw, w.published) {
		return
	}
	w.published = gw
	if w.onChange != nil {
		go w.onChange() // never call out while holding mu
	}
}

// current is the gateway set last published.
func (w *gatewayWatcher) current() plan.Gateway {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.published
}
