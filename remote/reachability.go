package remote

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// How often to ask the API server whether it answers: a GET of /version,
// tiny next to the informers' watches. Informer errors alone cannot be
// relied on, since client-go's reflectors retry a refused watch in their
// own back-off without reporting to the watch error handler; they only
// trigger an immediate check. While anything is wrong the check runs twice
// a second: it is what notices the server's return, and the catch-up
// target (a change made after the return reaches its mirror within 2 s)
// leaves no room for a slower one. A server that answers but is still
// starting (it refuses even /version, or fails lists, for about a second
// after a restart) is asked again sooner still.
const (
	reachableCheckInterval   = 5 * time.Second
	unreachableCheckInterval = 500 * time.Millisecond
	startingCheckInterval    = 100 * time.Millisecond
	// After this many 403s in a row on /version (5 s at the starting
	// interval) the server is not starting: its RBAC lacks the usual
	// system:public-info-viewer binding, and the answer itself counts.
	maxStartingVersionRefusals = 50
	checkTimeout               = 5 * time.Second
)

// health tracks whether the remote API server answers and whether it
// accepts the credentials, so that the daemon can say so once per change
// (log, /ready, metric, Event) instead of once per failed request, and
// tells the Cluster when the server serves again after either went wrong,
// so that it re-lists at once instead of waiting out client-go's back-off.
type health struct {
	client   kubernetes.Interface
	handlers Handlers
	// lost and recovered are the Cluster's: the watches stopped being
	// current, and the server serves our lists again.
	lost      func()
	recovered func(context.Context)
	poke      chan struct{}
	// authSeen is set by an informer's 401 or 403: the next check lists
	// to find out exactly what is refused.
	authSeen atomic.Bool
	// starting is set while the server answers but does not serve yet.
	starting atomic.Bool
	// versionRefusals counts 403s in a row on /version.
	versionRefusals atomic.Int32
	// quiet silences the log lines of a candidate connection; the engine
	// reports its problems as credentials problems instead.
	quiet atomic.Bool

	mu         sync.Mutex
	reachable  bool
	reachKnown bool
	credErr    *CredentialsError // nil: accepted (or not refused yet)
	// unhealthy is set when the server stopped answering or refused the
	// credentials after the watches last synced: the next return to
	// health re-lists.
	unhealthy bool
}

func newHealth(client kubernetes.Interface, handlers Handlers, lost func(), recovered func(context.Context)) *health {
	return &health{client: client, handlers: handlers, lost: lost, recovered: recovered, poke: make(chan struct{}, 1)}
}

func (h *health) getReachable() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reachable
}

// version asks the API server for its version, within ctx's deadline.
func (h *health) version(ctx context.Context) error {
	if rc := h.client.Discovery().RESTClient(); rc != nil {
		return rc.Get().AbsPath("/version").Do(ctx).Error()
	}
	// A client without a REST client (the fake clientset) answers here.
	_, err := h.client.Discovery().ServerVersion()
	return err
}

// known is whether any check has answered yet.
func (h *health) known() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reachKnown
}

func (h *health) credentials() *CredentialsError {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.credErr
}

// ok reports whether the last checks found nothing wrong.
func (h *health) ok() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reachable && h.credErr == nil && !h.unhealthy
}

func (h *health) logger(ctx context.Context) klog.Logger {
	if h.quiet.Load() {
		return klog.Logger{} // the zero logr.Logger discards everything
	}
	return klog.FromContext(ctx)
}

// setReachable records whether the server answered (err nil) and reports
// a change of state once.
func (h *health) setReachable(ctx context.Context, err error) {
	reachable := err == nil
	h.mu.Lock()
	changed := !h.reachKnown || h.reachable != reachable
	h.reachKnown, h.reachable = true, reachable
	if !reachable {
		h.unhealthy = true
	}
	h.mu.Unlock()
	if !changed {
		return
	}
	if reachable {
		h.logger(ctx).Info("Remote API server reachable")
	} else {
		h.logger(ctx).Info("Remote API server unreachable; mirrors are kept as they are until it returns", "err", err)
		h.lost()
	}
	if h.handlers.Reachability != nil {
		h.handlers.Reachability(reachable, err)
	}
}

// setCredentials records whether the server accepts the credentials (ce
// nil) and reports a change of state, or of what is refused, once.
func (h *health) setCredentials(ctx context.Context, ce *CredentialsError) {
	h.mu.Lock()
	// Until refused, credentials count as accepted: the first report is a
	// refusal, never a redundant "accepted" at every start-up.
	was := h.credErr
	changed := (was == nil) != (ce == nil) || (ce != nil && was.Error() != ce.Error())
	h.credErr = ce
	if ce != nil {
		h.unhealthy = true
	}
	h.mu.Unlock()
	if !changed {
		return
	}
	switch {
	case ce != nil:
		kv := []any{"code", ce.Code, "user", ce.User}
		for i, p := range ce.Denied {
			if i == 0 { // the first refused permission, as keys an operator can grep
				kv = append(kv, "verb", p.Verb, "resource", p.Resource, "group", p.Group)
			}
		}
		h.logger(ctx).Error(ce.Err, "Remote credentials rejected; mirrors are kept as they are until access is granted",
			append(kv, "problem", ce.Error())...)
		h.lost()
	case was != nil:
		h.logger(ctx).Info("Remote credentials accepted again")
	}
	if h.handlers.Credentials != nil {
		h.handlers.Credentials(asError(ce))
	}
}

// asError keeps a nil *CredentialsError a nil error.
func asError(ce *CredentialsError) error {
	if ce == nil {
		return nil
	}
	return ce
}

// synced records what a completed list proves: the server answers and
// accepts the credentials, and the watches are current.
func (h *health) synced(ctx context.Context) {
	h.setReachable(ctx, nil)
	h.setCredentials(ctx, nil)
	h.mu.Lock()
	h.unhealthy = false
	h.mu.Unlock()
}

// watchError is the informers' list/watch error handler. Watches that end
// normally (EOF) or expire are routine; a 401 or 403 asks the next check
// to find out what is refused; anything else triggers a check.
func (h *health) watchError(ctx context.Context, _ *cache.Reflector, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		klog.FromContext(ctx).V(4).Info("Remote watch ended", "err", err)
		return
	}
	if asCredentialsError(err, "list") != nil {
		h.authSeen.Store(true)
	}
	select {
	case h.poke <- struct{}{}:
	default:
	}
}

// run checks the API server periodically, and at once when poked, until
// ctx ends.
func (h *health) run(ctx context.Context) {
	for {
		interval := reachableCheckInterval
		switch {
		case h.starting.Load():
			interval = startingCheckInterval
		case !h.ok():
			interval = unreachableCheckInterval
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-h.poke:
			timer.Stop()
		case <-timer.C:
		}
		h.check(ctx)
	}
}

// check asks the API server for its version and, when something was wrong
// or an informer was refused, whether it lets us list and watch what the
// informers need. When that works again after a problem, the Cluster
// re-lists.
func (h *health) check(ctx context.Context) {
	reqCtx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	err := h.version(reqCtx)
	h.starting.Store(false)
	if !apierrors.IsForbidden(err) {
		h.versionRefusals.Store(0)
	} else if h.versionRefusals.Add(1) > maxStartingVersionRefusals {
		err = nil // it answered; whether it serves our lists is Validate's question
	}
	if apierrors.IsForbidden(err) {
		// Every authenticated identity may read /version (RBAC's
		// system:public-info-viewer), so a 403 here is not a missing
		// permission: the authorizer of a server still starting has not
		// loaded its roles (seen for up to a second after a restart).
		h.setReachable(ctx, nil)
		h.starting.Store(true)
		klog.FromContext(ctx).V(4).Info("Remote API server answers but does not authorize requests yet", "err", err)
		return
	}
	if ce := asCredentialsError(err, "get"); ce != nil {
		// The server answered: it is the credentials it refuses (a bad
		// token gets 401 even for /version).
		h.setReachable(ctx, nil)
		h.setCredentials(ctx, ce)
		return
	}
	if err != nil {
		h.setReachable(ctx, err)
		return
	}
	h.setReachable(ctx, nil)

	h.mu.Lock()
	validate := h.unhealthy || h.credErr != nil
	h.mu.Unlock()
	if h.authSeen.Swap(false) {
		validate = true
	}
	if !validate {
		return
	}
	err = Validate(reqCtx, h.client)
	if ce := asCredentialsError(err, "list"); ce != nil {
		h.setCredentials(ctx, ce)
		return
	}
	if err != nil {
		// Answers /version but does not serve lists yet (a server still
		// starting): not healthy, nothing to report; check again soon.
		h.starting.Store(true)
		klog.FromContext(ctx).V(4).Info("Remote API server answers but does not serve lists yet", "err", err)
		return
	}
	h.setCredentials(ctx, nil)
	h.mu.Lock()
	wasUnhealthy := h.unhealthy
	h.unhealthy = false
	h.mu.Unlock()
	if wasUnhealthy {
		h.recovered(ctx)
	}
}
