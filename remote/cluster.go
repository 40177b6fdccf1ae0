package remote

import (
	"context"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/mirror/plan"
)

// Handlers are called from informer goroutines; they must not block.
type Handlers struct {
	// ServiceChanged hears of any change to an exported Service or to the
	// endpoints of one, including its deletion or un-export.
	ServiceChanged func(namespace, name string)
	// Synced is called once, when every informer has its first full list.
	Synced func()
	// Reachability hears of each change in whether the API server answers.
	Reachability func(reachable bool, err error)
}

// Options shape a Cluster.
type Options struct {
	// Selectors are the Link's export selectors; each non-empty one gets
	// its own Service informer, filtered by the API server.
	Selectors []labels.Selector
	Handlers  Handlers
}

// serviceNameIndex indexes EndpointSlices by "<namespace>/<service>".
const serviceNameIndex = "service"

// Cluster watches one remote cluster. Make it with Start; it runs until
// its context ends.
type Cluster struct {
	client       kubernetes.Interface
	services     []cache.SharedIndexInformer // one per selector
	slices       cache.SharedIndexInformer
	reachability *reachability
	synced       chan struct{}
}

// Start begins watching. It returns at once: the informers list and watch
// in the background, retrying for as long as the API server is away, so a
// remote outage at start-up never stops the daemon.
func Start(ctx context.Context, client kubernetes.Interface, opts Options) *Cluster {
	logger := klog.FromContext(ctx)
	c := &Cluster{client: client, synced: make(chan struct{})}
	c.reachability = newReachability(client, opts.Handlers.Reachability)

	for _, sel := range opts.Selectors {
		if sel == nil || sel.Empty() {
			continue // an empty selector selects nothing, never everything
		}
		if _, ok := sel.Requirements(); !ok {
			continue // labels.Nothing()
		}
		selector := sel.String()
		factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }),
			informers.WithTransform(slimService))
		inf := factory.Core().V1().Services().Informer()
		c.services = append(c.services, inf)
	}

	// Every Service's EndpointSlices, reduced to the fields the engine reads:
	// a remote cluster can hold many more of these than exported Services.
	sliceFactory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = discoveryv1.LabelServiceName }),
		informers.WithTransform(slimSlice))
	c.slices = sliceFactory.Discovery().V1().EndpointSlices().Informer()
	if err := c.slices.AddIndexers(cache.Indexers{serviceNameIndex: sliceServiceIndex}); err != nil {
		logger.Error(err, "Adding EndpointSlice index") // only fails once started
	}

	changed := opts.Handlers.ServiceChanged
	for _, inf := range c.services {
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { enqueueObject(obj, changed) },
			UpdateFunc: func(_, obj any) { enqueueObject(obj, changed) },
			DeleteFunc: func(obj any) { enqueueObject(obj, changed) },
		})
	}
	onSlice := func(obj any) {
		if s, ok := tombstoned(obj).(*discoveryv1.EndpointSlice); ok {
			svc := s.Labels[discoveryv1.LabelServiceName]
			// Only exported Services matter; the rest of the cluster's
			// endpoint churn stays out of the queue.
			if _, found := c.Service(s.Namespace, svc); found {
				changed(s.Namespace, svc)
			}
		}
	}
	_, _ = c.slices.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onSlice,
		UpdateFunc: func(_, obj any) { onSlice(obj) },
		DeleteFunc: onSlice,
	})

	all := append(append([]cache.SharedIndexInformer(nil), c.services...), c.slices)
	for _, inf := range all {
		_ = inf.SetWatchErrorHandlerWithContext(c.reachability.watchError)
		go inf.RunWithContext(ctx)
	}
	go c.reachability.run(ctx)
	go func() {
		// WaitFor wakes on the informers' own signal; WaitForCacheSync
		// polls every 100 ms, which is a fair share of a small link's
		// start-up.
		if !cache.WaitFor(ctx, "", syncedCheckers(all)...) {
			return
		}
		c.reachability.set(ctx, nil)
		close(c.synced)
		if opts.Handlers.Synced != nil {
			opts.Handlers.Synced()
		}
	}()
	return c
}

func syncedCheckers(infs []cache.SharedIndexInformer) []cache.DoneChecker {
	var checkers []cache.DoneChecker
	for _, inf := range infs {
		checkers = append(checkers, inf.HasSyncedChecker())
	}
	return checkers
}

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
func (c *Cluster) Reachable() bool { return c.reachability.get() }

// Service returns the exported remote Service namespace/name from the
// cache; when both selectors' informers hold a copy (mid-relabel), the
// newer one. The object is shared with the cache: do not modify it.
func (c *Cluster) Service(namespace, name string) (*corev1.Service, bool) {
	key := namespace + "/" + name
	var newest *corev1.Service
	for _, inf := range c.services {
		if obj, ok, err := inf.GetIndexer().GetByKey(key); err == nil && ok {
			svc := obj.(*corev1.Service)
			if newest == nil || resourceVersion(svc) > resourceVersion(newest) {
				newest = svc
			}
		}
	}
	return newest, newest != nil
}

// LiveService reads the Service namespace/name from the API server itself,
// for decisions that must not rest on a cache: before deleting a mirror,
// the engine checks that the Service is really gone or unexported, since
// a relabel shows up in one selector's informer as a delete before the
// other's sees the add. found is false only on a NotFound answer.
func (c *Cluster) LiveService(ctx context.Context, namespace, name string) (svc *corev1.Service, found bool, err error) {
	svc, err = c.client.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return svc, true, nil
}

func resourceVersion(o metav1.Object) uint64 {
	rv, _ := strconv.ParseUint(o.GetResourceVersion(), 10, 64)
	return rv
}

// Services lists the exported remote Services' keys, in namespace (all
// namespaces when empty).
func (c *Cluster) Services(namespace string) []cache.ObjectName {
	seen := map[cache.ObjectName]bool{}
	var out []cache.ObjectName
	for _, inf := range c.services {
		var objs []any
		if namespace == "" {
			objs = inf.GetIndexer().List()
		} else {
			objs, _ = inf.GetIndexer().ByIndex(cache.NamespaceIndex, namespace)
		}
		for _, obj := range objs {
			n := cache.MetaObjectToName(obj.(*corev1.Service))
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
	objs, _ := c.slices.GetIndexer().ByIndex(serviceNameIndex, namespace+"/"+name)
	var out []plan.RemoteEndpoint
	for _, obj := range objs {
		s := obj.(*discoveryv1.EndpointSlice)
		for _, e := range s.Endpoints {
			out = append(out, remoteEndpoint(s, e))
		}
	}
	return out
}

// remoteEndpoint is what the engine keeps of one endpoint of slice s, with
// the API's meaning of absent conditions: ready unless it says otherwise,
// serving as ready when absent, not terminating when absent.
func remoteEndpoint(s *discoveryv1.EndpointSlice, e discoveryv1.Endpoint) plan.RemoteEndpoint {
	ready := e.Conditions.Ready == nil || *e.Conditions.Ready
	ep := plan.RemoteEndpoint{
		Ready: ready, Serving: ready,
		Terminating: e.Conditions.Terminating != nil && *e.Conditions.Terminating,
		AddressType: s.AddressType, Addresses: e.Addresses, Ports: s.Ports,
	}
	if e.Conditions.Serving != nil {
		ep.Serving = *e.Conditions.Serving
	}
	if e.Hostname != nil {
		ep.Hostname = *e.Hostname
	}
	if e.Zone != nil {
		ep.Zone = *e.Zone
	}
	return ep
}

func sliceServiceIndex(obj any) ([]string, error) {
	s := obj.(*discoveryv1.EndpointSlice)
	if svc := s.Labels[discoveryv1.LabelServiceName]; svc != "" {
		return []string{s.Namespace + "/" + svc}, nil
	}
	return nil, nil
}

func enqueueObject(obj any, changed func(namespace, name string)) {
	if m, ok := tombstoned(obj).(metav1.Object); ok {
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
