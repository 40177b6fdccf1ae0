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

// How often to ask the API server whether it answers: a GET of /version,
// tiny next to the informers' watches. Informer errors alone cannot be
// relied on, since client-go's streaming list retries without reporting to
// the watch error handler; they only trigger an immediate check.
const (
	reachableCheckInterval   = 5 * time.Second
	unreachableCheckInterval = time.Second
	checkTimeout             = 5 * time.Second
)

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

// set records the outcome of a check (nil: reachable) and reports a
// change of state once.
func (r *reachability) set(ctx context.Context, err error) {
	reachable := err == nil
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
	}
	r.onChange(reachable, err)
}

// watchError is the informers' list/watch error handler. Watches that end
// normally (EOF) or expire are routine; anything else triggers a check.
func (r *reachability) watchError(ctx context.Context, _ *cache.Reflector, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		klog.FromContext(ctx).V(4).Info("Remote watch ended", "err", err)
		return
	}
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

// run checks the API server periodically, and at once when poked, until
// ctx ends.
func (r *reachability) run(ctx context.Context) {
	for {
		interval := reachableCheckInterval
		if !r.get() {
			interval = unreachableCheckInterval
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-r.poke:
			timer.Stop()
		case <-timer.C:
		}
		r.set(ctx, r.check(ctx))
	}
}

// check asks the API server for its version.
func (r *reachability) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	return r.client.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Error()
}
