package remote

import (
	"context"
	"sync/atomic"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/mirror/intern"
)

// watchSet is one generation of a Cluster's informers: a Service informer
// per export selector and the EndpointSlice informer.
//
// Why generations: after an outage (or refused credentials) client-go's
// reflectors are deep in their back-off (800 ms doubling to 30 s, plus
// jitter, reset only after two minutes of health), and their first watch
// on a restarted server fails with "too old resource version", which costs
// a second back-off before the relist: a change made after the server's
// return took 25 to 59 s to arrive. A running reflector cannot be told to
// retry now, and a stopped informer cannot be started again, so when the
// health loop sees the server serve again the Cluster starts a fresh set,
// which lists at once, and swaps it in when it has synced. The old set
// keeps serving reads (its caches are complete, if stale) until then.
type watchSet struct {
	services []cache.SharedIndexInformer // one per selector
	slices   cache.SharedIndexInformer
	// forwarding is set once the set serves reads. A set still listing
	// after an outage forwards no events: its first list would queue every
	// Service only to read the old set's caches, and the Synced handler
	// queues every Service anyway once the new set takes over.
	forwarding atomic.Bool
	// cancel stops the set's informers.
	cancel context.CancelFunc
	// bySvc holds the names of each Service's EndpointSlices, and
	// slicesIndexed is done once it holds the slices' first list.
	bySvc         intern.Groups
	slicesIndexed cache.DoneChecker
}

// newWatchSet builds (but does not start) a generation of informers.
func (c *Cluster) newWatchSet(ctx context.Context, cancel context.CancelFunc) *watchSet {
	logger := klog.FromContext(ctx)
	ws := &watchSet{cancel: cancel}
	for _, sel := range c.opts.Selectors {
		if sel == nil || sel.Empty() {
			continue // an empty selector selects nothing, never everything
		}
		if _, ok := sel.Requirements(); !ok {
			continue // labels.Nothing()
		}
		selector := sel.String()
		factory := informers.NewSharedInformerFactoryWithOptions(c.client, 0,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }),
			informers.WithTransform(slimService))
		ws.services = append(ws.services, factory.Core().V1().Services().Informer())
	}

	// Every Service's EndpointSlices, reduced to the fields the engine reads:
	// a remote cluster can hold many more of these than exported Services.
	// No client-go index at all: slices are looked up by Service through
	// ws.bySvc, kept by the handler below at a fifth of an index's memory.
	ws.slices = discoveryinformers.NewFilteredEndpointSliceInformer(c.client, metav1.NamespaceAll, 0, cache.Indexers{},
		func(o *metav1.ListOptions) { o.LabelSelector = discoveryv1.LabelServiceName })
	_ = ws.slices.SetTransform(slimSlice) // fails only once started

	changed := func(namespace, name string) {
		if ws.forwarding.Load() {
			c.opts.Handlers.ServiceChanged(namespace, name)
		}
	}
	for _, inf := range ws.services {
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { enqueueObject(obj, changed) },
			UpdateFunc: func(_, obj any) { enqueueObject(obj, changed) },
			DeleteFunc: func(obj any) { enqueueObject(obj, changed) },
		})
	}
	// The index is brought up to date before the Service is queued, so
	// the sync that follows reads the slice's group as the event left it.
	forward := func(s *cachedSlice) {
		// Only exported Services matter; the rest of the cluster's
		// endpoint churn stays out of the queue.
		if c.cachedService(s.Namespace, s.Service) != nil {
			changed(s.Namespace, s.Service)
		}
	}
	reg, err := ws.slices.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if s, ok := obj.(*cachedSlice); ok {
				ws.bySvc.Add(s.group(), s.Name)
				forward(s)
			}
		},
		UpdateFunc: func(oldObj, obj any) {
			old, okOld := oldObj.(*cachedSlice)
			s, ok := obj.(*cachedSlice)
			if !okOld || !ok {
				return
			}
			ws.bySvc.Move(s.Name, old.group(), s.group())
			if old.Service != s.Service {
				forward(old)
			}
			forward(s)
		},
		DeleteFunc: func(obj any) {
			if s, ok := tombstoned(obj).(*cachedSlice); ok {
				ws.bySvc.Remove(s.group(), s.Name)
				forward(s)
			}
		},
	})
	if err != nil {
		logger.Error(err, "Adding the EndpointSlice handler") // only fails once stopped
	} else {
		ws.slicesIndexed = reg.HasSyncedChecker()
	}
	return ws
}

func (ws *watchSet) all() []cache.SharedIndexInformer {
	return append(append([]cache.SharedIndexInformer(nil), ws.services...), ws.slices)
}

// run starts every informer of the set until ctx ends, reporting their
// list and watch errors to onError.
func (ws *watchSet) run(ctx context.Context, onError cache.WatchErrorHandlerWithContext) {
	for _, inf := range ws.all() {
		_ = inf.SetWatchErrorHandlerWithContext(onError)
		go inf.RunWithContext(ctx)
	}
}

// waitSynced blocks until every informer of the set has its first full
// list (true) or ctx ends (false). cache.WaitFor wakes on the informers'
// own signal; WaitForCacheSync polls every 100 ms, a fair share of a small
// link's start-up and of the 2 s catch-up target.
func (ws *watchSet) waitSynced(ctx context.Context) bool {
	var checkers []cache.DoneChecker
	for _, inf := range ws.all() {
		checkers = append(checkers, inf.HasSyncedChecker())
	}
	if ws.slicesIndexed != nil {
		checkers = append(checkers, ws.slicesIndexed)
	}
	return cache.WaitFor(ctx, "", checkers...)
}
