package remote

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// How often to ask an unreachable API server whether it is back. Nothing is
// polled while it is reachable: informer errors report the next outage.
const unreachablePollInterval = 2 * time.Second

// reachability tracks whether the remote API server answers, so that the
// daemon can say so once per change (log, /ready, metric) instead of once
// per failed request.
type reachability struct {
	client   kubernetes.Interface
	onChange func(bool, error)
	poke     chan struct{}

	mu        sync.Mutex
	reachable bool
	known     bool
}

func newReachability(client kubernetes.Interface, onChange func(bool, error)) *reachability {
	if onChange == nil {
		onChange = func(bool, error) {}
	}
	return &reachability{client: client, onChange: onChange, poke: make(chan struct{}, 1)}
}

func (r *reachability) get() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reachable
}

// set records the state and reports a change once.
func (r *reachability) set(ctx context.Context, reachable bool, err error) {
	r.mu.Lock()
	changed := !r.known || r.reachable != reachable
	r.known, r.reachable = true, reachable
	r.mu.Unlock()
	if !changed {
		return
	}
	if reachable {
		klog.FromContext(ctx).Info("Remote API server reachable")
	} else {
		klog.FromContext(ctx).Info("Remote API server unreachable; mirrors are kept as they are until it returns", "err", err)
		select {
		case r.poke <- struct{}{}:
		default:
		}
	}
	r.onChange(reachable, err)
}

// watchError is the informers' list/watch error handler. Watches that end
// normally (EOF) or expire are routine; anything else means the server did
// not answer as it should.
func (r *reachability) watchError(ctx context.Context, _ *cache.Reflector, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		klog.FromContext(ctx).V(4).Info("Remote watch ended", "err", err)
		return
	}
	r.set(ctx, false, err)
}

// run polls the server's version while it is unreachable, so that its
// return is seen even before an informer's back-off retries.
func (r *reachability) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.poke:
		}
		tick := time.NewTicker(unreachablePollInterval)
		for !r.get() {
			select {
			case <-ctx.Done():
				tick.Stop()
				return
			case <-tick.C:
			}
			if _, err := r.client.Discovery().ServerVersion(); err == nil {
				r.set(ctx, true, nil)
			}
		}
		tick.Stop()
	}
}
