package mirror

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"

	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/remote"
)

// remoteView is what a sync reads of the remote cluster; *remote.Cluster
// is the real one.
type remoteView interface {
	// HasSynced reports whether the caches hold a full list; until then
	// nothing may be concluded from a Service's absence.
	HasSynced() bool
	Reachable() bool
	// NotReady says why the caches cannot be relied on right now
	// (unreachable, credentials refused, not synced, re-listing), "" when
	// they can.
	NotReady() string
	// CredentialsProblem is what the API server refuses, nil when it
	// accepts the credentials.
	CredentialsProblem() *remote.CredentialsError
	Service(namespace, name string) (*corev1.Service, bool)
	Endpoints(namespace, name string) []plan.RemoteEndpoint
	// LiveService asks the API server itself; found is false only when it
	// says NotFound.
	LiveService(ctx context.Context, namespace, name string) (*corev1.Service, bool, error)
	Services(namespace string) []cache.ObjectName
}

// connection holds the Link in force and the remote connection made from
// it, under one lock, so that every sync works from one consistent
// snapshot of both.
type connection struct {
	mu         sync.RWMutex
	link       *plan.Link // the last valid Link; nil until one is loaded
	linkObj    *unstructured.Unstructured
	remote     remoteView
	stopRemote context.CancelFunc
	// kubeconfig and selectors are what remote was built from, so that a
	// Link sync can tell whether to reconnect.
	kubeconfig []byte
	selectors  string
	// candidate is a connection with new credentials or selectors, tested
	// while the working one serves (remotecreds.go); nil when none.
	candidate *remoteCandidate
}

// snapshot is one consistent view of the connection.
type snapshot struct {
	Link    *plan.Link
	LinkObj *unstructured.Unstructured
	Remote  remoteView // nil until credentials are loaded
}

func (c *connection) snapshot() snapshot {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return snapshot{Link: c.link, LinkObj: c.linkObj, Remote: c.remote}
}

// setLink installs a newly loaded Link and returns the one it replaces.
func (c *connection) setLink(link *plan.Link, obj *unstructured.Unstructured) (old *plan.Link) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old = c.link
	c.link, c.linkObj = link, obj
	return old
}

// sameRemote reports whether the current connection was built from
// kubeconfig and selectors.
func (c *connection) sameRemote(kubeconfig []byte, selectors string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.remote != nil && string(c.kubeconfig) == string(kubeconfig) && c.selectors == selectors
}

// replaceRemote installs a new remote connection, stopping the old one;
// first is true when there was none.
func (c *connection) replaceRemote(rv remoteView, stop context.CancelFunc, kubeconfig []byte, selectors string) (first bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	first = c.remote == nil
	if c.stopRemote != nil {
		c.stopRemote()
	}
	c.remote, c.stopRemote, c.kubeconfig, c.selectors = rv, stop, kubeconfig, selectors
	return first
}

// beginDeletion marks the Link as being deleted and drops the remote
// connection: from now on every sync removes its mirrors.
func (c *connection) beginDeletion(link *plan.Link) {
	deleting := *link
	deleting.DeletionRequested = true
	c.mu.Lock()
	defer c.mu.Unlock()
	c.link = &deleting
	if c.stopRemote != nil {
		c.stopRemote()
	}
	if c.candidate != nil {
		c.candidate.stop()
	}
	c.remote, c.stopRemote, c.kubeconfig, c.candidate = nil, nil, nil, nil
}

// close stops the remote connection.
func (c *connection) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopRemote != nil {
		c.stopRemote()
	}
}
