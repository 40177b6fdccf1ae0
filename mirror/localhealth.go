package mirror

import (
	"context"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/metrics"
)

// How often the local API server is asked whether it answers (GET
// /version): rarely while it does, every second while it does not, so
// that its return is noticed at once.
const (
	localCheckEvery     = 5 * time.Second
	localCheckEveryDown = time.Second
	localCheckTimeout   = 5 * time.Second
)

// localHealth tracks whether the local API server answers. Without it a
// local outage was invisible: every write failed and was retried, quietly,
// while /ready said ok. It says so once per change (log line, metric,
// /ready) and, when the server returns, has every key synced again at once
// rather than after each key's back-off.
type localHealth struct {
	client    kubernetes.Interface
	metrics   *metrics.Metrics
	recovered func()
	down      atomic.Bool
}

// run checks until ctx ends.
func (h *localHealth) run(ctx context.Context) {
	for {
		every := localCheckEvery
		if h.down.Load() {
			every = localCheckEveryDown
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		h.observe(ctx, h.check(ctx))
	}
}

func (h *localHealth) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, localCheckTimeout)
	defer cancel()
	return h.client.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Error()
}

// observe records one check's outcome, reporting a change of state once.
func (h *localHealth) observe(ctx context.Context, err error) {
	down := err != nil
	if h.down.Swap(down) == down {
		return
	}
	if h.metrics != nil {
		h.metrics.LocalReachable(!down)
	}
	logger := klog.FromContext(ctx)
	if down {
		logger.Info("Local API server unreachable; nothing is written until it returns", "err", err)
		return
	}
	logger.Info("Local API server reachable again; syncing every mirror")
	if h.recovered != nil {
		h.recovered()
	}
}

// notReady is /ready's reason while the local API server is away.
func (h *localHealth) notReady() string {
	if h.down.Load() {
		return "local API server unreachable"
	}
	return ""
}
