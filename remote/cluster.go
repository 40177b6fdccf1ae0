package remote

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/mirror/intern"
	"github.com/svcmirror/svcmirror/mirror/plan"
)

// Handlers are called from informer goroutines; they must not block.
type Handlers struct {
	// ServiceChanged hears of any change to an exported Service or to the
	// endpoints of one, including its deletion or un-export.
	ServiceChanged func(namespace, name string)
	// Synced is called when every informer has a full list: first at
	// start-up, and again each time the watches are re-established after
	// the server stopped answering or refused the credentials. Whatever
	// changed meanwhile is only in the new lists, so the handler must
	// queue every Service again.
	Synced func()
	// Reachability hears of each change in whether the API server answers.
	Reachability func(reachable bool, err error)
	// Credentials hears of each change in whether the API server accepts
	// the credentials: nil when it does, else a *CredentialsError naming
	// what is refused.
	Credentials func(err error)
}

// Options shape a Cluster.
type Options struct {
	// Selectors are the Link's export selectors; each non-empty one gets
	// its own Service informer, filtered by the API server.
	Selectors []labels.Selector
	Handlers  Handlers
	// Candidate marks a connection made to test new credentials while a
	// working one still serves: it logs nothing of its own state (its
	// handlers report it) until Promote.
	Candidate bool
}

// Cluster watches one remote cluster. Make it with Start; it runs until
// its context ends.
type Cluster struct {
	client kubernetes.Interface
	opts   Options
	health *health

	mu sync.RWMutex
	// watches serves reads; relist is a newer generation still listing
	// after the server's return, swapped in once synced (see watchSet).
	watches, relist *watchSet

	synced     chan struct{} // closed at the first full list
	syncedOnce sync.Once
	// live is whether the watches are current: false from start-up or
	// from an outage or refusal until a full list has replaced them.
	live atomic.Bool
}

// Start begins watching. It returns at once: the informers list and watch
// in the background, retrying for as long as the API server is away, so a
// remote outage at start-up never stops the daemon.
func Start(ctx context.Context, client kubernetes.Interface, opts Options) *Cluster {
	if opts.Handlers.ServiceChanged == nil {
		opts.Handlers.ServiceChanged = func(string, string) {}
	}
	c := &Cluster{client: client, opts: opts, synced: make(chan struct{})}
	c.health = newHealth(client, opts.Handlers, c.watchesLost, c.startWatches)
	c.health.quiet.Store(opts.Candidate)
	c.startWatches(ctx)
	go c.health.run(ctx)
	return c
}

// startWatches starts a generation of informers: the first one at
// start-up, a fresh one each time the server serves again after a problem,
// since the old one's reflectors are still in their back-off.
func (c *Cluster) startWatches(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	ws := c.newWatchSet(ctx, cancel)
	c.mu.Lock()
	first := c.watches == nil
	if first {
		c.watches = ws
		ws.forwarding.Store(true)
	} else {
		if c.relist != nil {
			c.relist.cancel()
		}
		c.relist = ws
	}
	c.mu.Unlock()
	if !first {
		klog.FromContext(ctx).V(2).Info("Re-establishing the remote watches")
	}
	ws.run(ctx, c.health.watchError)
	go func() {
		if !ws.waitSynced(ctx) {
			return
		}
		if !c.takeOver(ws) {
			return
		}
		c.live.Store(true)
		c.health.synced(parent)
		c.syncedOnce.Do(func() { close(c.synced) })
		if c.opts.Handlers.Synced != nil {
			c.opts.Handlers.Synced()
		}
	}()
}

// takeOver makes a synced generation the one that serves reads and stops
// the one it replaces. It is false for a generation superseded meanwhile.
func (c *Cluster) takeOver(ws *watchSet) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watches == ws {
		return true
	}
	if c.relist != ws {
		return false
	}
	old := c.watches
	c.watches, c.relist = ws, nil
	ws.forwarding.Store(true)
	old.cancel()
	return true
}

// watchesLost is called when the server stops answering or refuses the
// credentials: the watches may miss changes from then on, and a re-list
// under way is abandoned (the next return to health starts another).
func (c *Cluster) watchesLost() {
	c.live.Store(false)
	c.mu.Lock()
	if c.relist != nil {
		c.relist.cancel()
		c.relist = nil
	}
	c.mu.Unlock()
}

func (c *Cluster) current() *watchSet {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.watches
}

// Promote makes a candidate connection the one in use: from now on it
// logs its own state changes.
func (c *Cluster) Promote() { c.health.quiet.Store(false) }

// HasSynced reports whether every informer has its first full list. Until
// then the caches are incomplete and nothing may be concluded from a
// Service's absence.
func (c *Cluster) HasSynced() bool {
	select {
	case <-c.synced:
		return true
	default:
		return false
	}
}

// Reachable reports whether the API server answered last time we knew.
func (c *Cluster) Reachable() bool { return c.health.getReachable() }

// CredentialsProblem is what the API server last refused, nil when it
// accepts the credentials (or has not been asked yet).
func (c *Cluster) CredentialsProblem() *CredentialsError { return c.health.credentials() }

// NotReady says why the Cluster cannot be relied on right now, most
// pressing reason first, or "" when its caches are complete and its
// watches live.
func (c *Cluster) NotReady() string {
	switch {
	case !c.Reachable() && c.health.known():
		return "remote API server unreachable"
	case c.CredentialsProblem() != nil:
		return "remote credentials rejected: " + c.CredentialsProblem().Error()
	case !c.HasSynced():
		return "remote caches not synced"
	case !c.live.Load():
		return "remote watches not live yet: re-listing after the remote API server returned"
	}
	return ""
}

// Service returns the exported remote Service namespace/name from the
// cache; when both selectors' informers hold a copy (mid-relabel), the
// newer one. It is built anew from the cache's compact copy on each call.
func (c *Cluster) Service(namespace, name string) (*corev1.Service, bool) {
	if s := c.cachedService(namespace, name); s != nil {
		return s.service(), true
	}
	return nil, false
}

// cachedService is Service's lookup, without building the API object.
func (c *Cluster) cachedService(namespace, name string) *cachedService {
	key := namespace + "/" + name
	var newest *cachedService
	for _, inf := range c.current().services {
		if obj, ok, err := inf.GetIndexer().GetByKey(key); err == nil && ok {
			svc := obj.(*cachedService)
			if newest == nil || parseRV(svc.ResourceVersion) > parseRV(newest.ResourceVersion) {
				newest = svc
			}
		}
	}
	return newest
}

// LiveService reads the Service namespace/name from the API server itself,
// for decisions that must not rest on a cache: before deleting a mirror,
// the engine checks that the Service is really gone or unexported, since
// a relabel shows up in one selector's informer as a delete before the
// other's sees the add. It is a LIST filtered by metadata.name rather than
// a GET, so the remote credentials need only list and watch
// (manifests/rbac-remote.yaml). found is false only when the answer holds
// no such Service.
func (c *Cluster) LiveService(ctx context.Context, namespace, name string) (svc *corev1.Service, found bool, err error) {
	list, err := c.client.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(),
	})
	if err != nil {
		return nil, false, err
	}
	for i := range list.Items {
		// The fake clientsets of unit tests ignore field selectors.
		if list.Items[i].Name == name {
			return &list.Items[i], true, nil
		}
	}
	return nil, false, nil
}

// parseRV reads a resourceVersion as the number every etcd-backed API
// server issues (0 when it is not one).
func parseRV(rv string) uint64 {
	n, _ := strconv.ParseUint(rv, 10, 64)
	return n
}

// Services lists the exported remote Services' keys, in namespace (all
// namespaces when empty).
func (c *Cluster) Services(namespace string) []cache.ObjectName {
	seen := map[cache.ObjectName]bool{}
	var out []cache.ObjectName
	for _, inf := range c.current().services {
		var objs []any
		if namespace == "" {
			objs = inf.GetIndexer().List()
		} else {
			objs, _ = inf.GetIndexer().ByIndex(cache.NamespaceIndex, namespace)
		}
		for _, obj := range objs {
			svc := obj.(*cachedService)
			n := cache.ObjectName{Namespace: svc.Namespace, Name: svc.Name}
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// Endpoints returns every endpoint of the Service namespace/name across
// its EndpointSlices. Addresses and Ports are shared with the cache: the
// caller must not modify them.
func (c *Cluster) Endpoints(namespace, name string) []plan.RemoteEndpoint {
	ws := c.current()
	store := ws.slices.GetStore()
	var out []plan.RemoteEndpoint
	for _, slice := range ws.bySvc.Members(intern.Group{Namespace: namespace, Name: name}) {
		// A slice deleted since its handler last ran is simply gone.
		if obj, ok, _ := store.GetByKey(namespace + "/" + slice); ok {
			out = obj.(*cachedSlice).remoteEndpoints(out)
		}
	}
	return out
}

func enqueueObject(obj any, changed func(namespace, name string)) {
	if m, err := meta.Accessor(tombstoned(obj)); err == nil {
		changed(m.GetNamespace(), m.GetName())
	}
}

// tombstoned unwraps the object of a delete whose final state was missed.
func tombstoned(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}
