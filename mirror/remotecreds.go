package mirror

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/remote"
)

// remoteCandidate is a connection made with new credentials (or
// selectors) while the current one works. A parsable kubeconfig can still
// be useless (a closed port, a wrong CA, a token without RBAC), and
// switching to it at once would freeze every mirror; so the current
// connection keeps serving until the candidate's caches have synced, and
// the candidate's problems are reported as InvalidCredentials meanwhile.
type remoteCandidate struct {
	cluster    *remote.Cluster
	stop       context.CancelFunc
	kubeconfig []byte
	selectors  string
	// lastProblem is the last problem reported for it (under the
	// connection's lock), so each is reported once.
	lastProblem string
}

// connect makes a remote connection with start, under the lock so that
// its handlers, which ask the connection about it, find it registered.
// While the current connection works the new one becomes the candidate;
// otherwise it replaces the current one at once. first is true when there
// was no connection.
func (c *connection) connect(cand *remoteCandidate, start func(asCandidate bool) *remote.Cluster) (first, asCandidate bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	first = c.remote == nil
	asCandidate = !first && c.remote.NotReady() == ""
	cand.cluster = start(asCandidate)
	if c.candidate != nil {
		c.candidate.stop()
		c.candidate = nil
	}
	if asCandidate {
		c.candidate = cand
		return first, asCandidate
	}
	if c.stopRemote != nil {
		c.stopRemote()
	}
	c.remote, c.stopRemote, c.kubeconfig, c.selectors = cand.cluster, cand.stop, cand.kubeconfig, cand.selectors
	return first, asCandidate
}

// testing reports whether a candidate built from kubeconfig and selectors
// is being tested.
func (c *connection) testing(kubeconfig []byte, selectors string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.candidate != nil && string(c.candidate.kubeconfig) == string(kubeconfig) && c.candidate.selectors == selectors
}

// isCandidate reports whether cand is the candidate (not the connection
// in use).
func (c *connection) isCandidate(cand *remoteCandidate) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.candidate == cand
}

// promote makes cand the current connection, if it still is the
// candidate, and stops the one it replaces. It reports whether it did.
func (c *connection) promote(cand *remoteCandidate) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.candidate != cand {
		return false
	}
	if c.stopRemote != nil {
		c.stopRemote()
	}
	c.remote, c.stopRemote, c.kubeconfig, c.selectors = cand.cluster, cand.stop, cand.kubeconfig, cand.selectors
	c.candidate = nil
	return true
}

// dropCandidate stops the candidate, if any: the Secret went back to the
// credentials in use, or the Link is going away.
func (c *connection) dropCandidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.candidate != nil {
		c.candidate.stop()
		c.candidate = nil
	}
}

// newProblem records problem as the last one reported for cand and says
// whether it is new (and cand still the candidate).
func (c *connection) newProblem(cand *remoteCandidate, problem string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.candidate != cand || cand.lastProblem == problem {
		return false
	}
	cand.lastProblem = problem
	return true
}

// promoteCandidate switches to cand once its caches have synced.
func (e *Engine) promoteCandidate(ctx context.Context, cand *remoteCandidate) {
	if !e.conn.promote(cand) {
		return
	}
	cand.cluster.Promote()
	klog.FromContext(ctx).Info("New remote credentials or selectors work; switched to them")
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.RemoteReachable(true)
		e.cfg.Metrics.RemoteCredentialsValid(true)
	}
}

// candidateProblem reports, once per distinct problem, why the candidate
// connection cannot be used yet: connection refused, x509, 401 or 403.
// It is retried for as long as the Secret holds it.
func (e *Engine) candidateProblem(ctx context.Context, cand *remoteCandidate, err error) {
	problem := remote.Describe(err)
	if !e.conn.newProblem(cand, problem) {
		return
	}
	klog.FromContext(ctx).Error(err, "New remote credentials not usable; keeping the working connection until they are", "problem", problem)
	obj, _, _ := e.links.read()
	e.status.warn(obj, "InvalidCredentials", "New remote credentials not used, the working connection is kept: "+problem)
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.ConfigError("secret")
	}
}

// remoteCredentials hears whether the remote API server accepts the
// credentials of the connection in use (err nil) or refuses them; the
// remote package has logged it, once per change. It is reported on the
// Link as an Event and in the status, and as a metric.
func (e *Engine) remoteCredentials(err error) {
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.RemoteCredentialsValid(err == nil)
		if err != nil {
			e.cfg.Metrics.ConfigError("secret")
		}
	}
	// From the informer: at start-up a refusal can come before the Link
	// worker has loaded the Link.
	obj, _, _ := e.links.read()
	if err != nil {
		e.status.warn(obj, "InvalidCredentials", "The remote API server refuses the credentials; mirrors are kept as they are: "+remote.Describe(err))
	} else {
		e.status.note(obj, "CredentialsAccepted", "The remote API server accepts the credentials")
	}
	e.status.changed()
}

// credentialsOnLeading repeats, for a replica that has just become the
// leader, a refusal of the credentials that it heard while standing by:
// only the leader sends Events, and the remote reports each change once.
func (e *Engine) credentialsOnLeading() {
	rc := e.conn.snapshot().Remote
	if rc == nil {
		return
	}
	if p := rc.CredentialsProblem(); p != nil {
		obj, _, _ := e.links.read()
		e.status.warn(obj, "InvalidCredentials", "The remote API server refuses the credentials; mirrors are kept as they are: "+remote.Describe(p))
	}
}

// note sends a Normal Event on the Link; a standby sends none, as warn.
func (r *statusReporter) note(obj *unstructured.Unstructured, reason, msg string) {
	if obj != nil && r.leading() {
		r.events.Event(linkRef(obj), corev1.EventTypeNormal, reason, msg)
	}
}
