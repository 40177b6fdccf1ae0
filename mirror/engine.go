package mirror

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/metrics"
	"github.com/svcmirror/svcmirror/queue"
	"github.com/svcmirror/svcmirror/remote"
)

// Config is what the engine needs from the command line.
type Config struct {
	// Namespace and LinkName name the Link this engine serves; its
	// credentials Secret is in the same namespace.
	Namespace, LinkName string
	// Local and Dynamic are clients for the local (source) cluster.
	Local   kubernetes.Interface
	Dynamic dynamic.Interface
	// RemoteQPS and RemoteBurst limit the remote client.
	RemoteQPS   float32
	RemoteBurst int
	// Workers sync keys in parallel.
	Workers int
	// EnableNamespaceCreation creates a missing local namespace (with the
	// ownership labels) instead of skipping its Services.
	EnableNamespaceCreation bool
	// ConflictRetry is how often a mirror blocked by a foreign object of
	// the same name is tried again; no watch reports that object's end,
	// since local informers see only our own objects.
	ConflictRetry time.Duration
	// GatewayResolveInterval is how often the gateway's DNS names are
	// resolved again.
	GatewayResolveInterval time.Duration
	Metrics                *metrics.Metrics
}

// Engine mirrors the Services one Link exports into the local cluster.
type Engine struct {
	cfg   Config
	queue *queue.Queue
	// events go to the local cluster, on the Link, where `kubectl
	// describe link` shows them.
	events      record.EventRecorder
	broadcaster record.EventBroadcaster

	// The Link and its Secret, watched in the Link's namespace.
	links   cache.SharedIndexInformer
	secrets cache.SharedIndexInformer

	// Local caches of this link's mirror objects only (selected by the
	// ownership labels), and of namespace names.
	services   cache.SharedIndexInformer
	endpoints  cache.SharedIndexInformer
	namespaces cache.SharedIndexInformer
	// Our own writes the caches may not show yet.
	recentServices  *recentWrites[*corev1.Service]
	recentEndpoints *recentWrites[*corev1.Endpoints]
	// Writers for mirror Services and Endpoints.
	svcW *writer[*corev1.Service]
	epW  *writer[*corev1.Endpoints]

	// cluster is the Link's targetClusterName, fixed at start-up: the local
	// caches are selected by it.
	cluster string

	mu         sync.RWMutex
	link       *Link // the last valid Link; nil until one is loaded
	linkObj    *unstructured.Unstructured
	remote     *remote.Cluster
	stopRemote context.CancelFunc
	kubeconfig []byte
	selectors  string // the selectors the remote informers were built with
	gateway    Gateway
	// gw resolves and probes the gateway and says when e.gateway changes.
	gw *gatewayWatcher
	// lastStatus is the Link status we last wrote (only the Link worker
	// touches it).
	lastStatus map[string]any
	// The last Link and credentials problems reported, so that each is
	// reported once rather than on every sync.
	lastLinkProblem, lastCredentialsProblem string

	// runCtx is Run's context, the parent of remote connections.
	runCtx context.Context

	// seen is when a remote change to each key was first seen, for the
	// propagation-latency metric and to tell repairs from propagation.
	seenMu sync.Mutex
	seen   map[queue.Key]time.Time

	report *reporter // failures and modes per service, for status, Events and metrics

	localSynced atomic.Bool
	linkLoaded  atomic.Bool
	// linkChanged wakes start-up while it waits for a valid Link.
	linkChanged chan struct{}
}

// linkKey is the queue key of the Link itself.
func (e *Engine) linkKey() queue.Key {
	return queue.Key{Kind: queue.KindLink, Namespace: e.cfg.Namespace, Name: e.cfg.LinkName}
}

// New makes an engine; Run starts it.
func New(cfg Config) *Engine {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.ConflictRetry <= 0 {
		cfg.ConflictRetry = 30 * time.Second
	}
	e := &Engine{
		cfg:             cfg,
		queue:           queue.New("svcmirror"),
		recentServices:  newRecentWrites[*corev1.Service](),
		recentEndpoints: newRecentWrites[*corev1.Endpoints](),
		linkChanged:     make(chan struct{}, 1),
		seen:            map[queue.Key]time.Time{},
		runCtx:          context.Background(),
	}
	e.report = newReporter(cfg.Metrics)
	e.gw = newGatewayWatcher(cfg.GatewayResolveInterval, cfg.Metrics, e.gatewayChanged)
	return e
}

// Ready reports whether the engine is doing its job: the Link is loaded,
// and the local and remote caches are synced with the remote reachable.
// It returns the reason when not.
func (e *Engine) Ready() (bool, string) {
	if !e.linkLoaded.Load() {
		return false, "Link not loaded"
	}
	if !e.localSynced.Load() {
		return false, "local caches not synced"
	}
	rc := e.currentRemote()
	switch {
	case rc == nil:
		return false, "no remote credentials loaded"
	case !rc.HasSynced():
		return false, "remote caches not synced"
	case !rc.Reachable():
		return false, "remote API server unreachable"
	}
	return true, "ok"
}

// Run runs the engine until ctx ends. It never returns early for bad
// configuration: it reports it and waits for a fix.
func (e *Engine) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithValues("link", klog.KRef(e.cfg.Namespace, e.cfg.LinkName))
	ctx = klog.NewContext(ctx, logger)
	e.runCtx = ctx

	e.broadcaster = record.NewBroadcaster(record.WithContext(ctx))
	e.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: e.cfg.Local.CoreV1().Events("")})
	defer e.broadcaster.Shutdown()
	e.events = e.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "svcmirror"})

	e.startLinkInformers(ctx)
	// cache.WaitFor wakes on the informers' own signal (WaitForCacheSync
	// polls every 100 ms, a fair share of a small link's start-up).
	if !cache.WaitFor(ctx, "", e.links.HasSyncedChecker(), e.secrets.HasSyncedChecker()) {
		return ctx.Err()
	}
	obj, link, err := e.waitForValidLink(ctx)
	if err != nil {
		return err
	}
	e.cluster = link.TargetClusterName
	ctx = klog.NewContext(ctx, logger.WithValues("targetCluster", e.cluster))
	e.runCtx = ctx

	e.startLocalInformers(ctx)
	// Connect to the remote cluster while the local caches fill, rather than
	// after: its first list takes as long as theirs, and start-up is the
	// whole of convergence for a small link. Nothing is synced before the
	// Link worker loads the Link, which queues every key again.
	if !link.DeletionRequested {
		e.applyCredentials(ctx, obj, link)
	}
	if !cache.WaitFor(ctx, "", e.services.HasSyncedChecker(), e.endpoints.HasSyncedChecker(), e.namespaces.HasSyncedChecker()) {
		return ctx.Err()
	}
	e.localSynced.Store(true)
	klog.FromContext(ctx).Info("Local caches synced", "mirrorServices", len(e.services.GetStore().ListKeys()))

	e.queue.Add(e.linkKey())
	e.queue.Run(ctx, e.cfg.Workers, e.sync, e.result)
	e.mu.Lock()
	if e.stopRemote != nil {
		e.stopRemote()
	}
	e.mu.Unlock()
	return nil
}

func (e *Engine) startLinkInformers(ctx context.Context) {
	byName := fields.OneTermEqualSelector("metadata.name", e.cfg.LinkName).String()
	linkFactory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(e.cfg.Dynamic, 0, e.cfg.Namespace,
		func(o *metav1.ListOptions) { o.FieldSelector = byName })
	e.links = linkFactory.ForResource(LinkGVR).Informer()
	onLink := func(any) {
		e.queue.Add(e.linkKey())
		select {
		case e.linkChanged <- struct{}{}:
		default:
		}
	}
	_, _ = e.links.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onLink,
		UpdateFunc: func(oldObj, newObj any) {
			// The echo of our own status write (or anyone's) changes nothing
			// the Link sync reads; queuing it would turn status writes into
			// a loop during a burst instead of one a second (statusDelay).
			if !linkStatusOnlyChange(oldObj, newObj) {
				onLink(newObj)
			}
		},
		DeleteFunc: onLink,
	})

	// The Link's namespace holds few Secrets; watching them all lets the
	// Link name a different Secret at any time.
	secretFactory := informers.NewSharedInformerFactoryWithOptions(e.cfg.Local, 0, informers.WithNamespace(e.cfg.Namespace))
	e.secrets = secretFactory.Core().V1().Secrets().Informer()
	onSecret := func(obj any) {
		s, ok := tombstoned(obj).(*corev1.Secret)
		if !ok {
			return
		}
		if l := e.currentLink(); l == nil || l.ClusterCredentialsSecret == s.Name {
			onLink(nil)
		}
	}
	_, _ = e.secrets.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onSecret, UpdateFunc: func(_, o any) { onSecret(o) }, DeleteFunc: onSecret,
	})
	go e.links.RunWithContext(ctx)
	go e.secrets.RunWithContext(ctx)
}

// linkStatusOnlyChange reports whether an update of the Link changed
// nothing but its status and bookkeeping metadata: the spec, finalizers,
// deletion timestamp, labels and annotations are all as before.
func linkStatusOnlyChange(oldObj, newObj any) bool {
	o, ok1 := oldObj.(*unstructured.Unstructured)
	n, ok2 := newObj.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return false
	}
	return equality.Semantic.DeepEqual(o.Object["spec"], n.Object["spec"]) &&
		slices.Equal(o.GetFinalizers(), n.GetFinalizers()) &&
		equality.Semantic.DeepEqual(o.GetDeletionTimestamp(), n.GetDeletionTimestamp()) &&
		maps.Equal(o.GetLabels(), n.GetLabels()) &&
		maps.Equal(o.GetAnnotations(), n.GetAnnotations())
}

// waitForValidLink blocks until the Link exists and parses, reporting
// each problem once, or ctx ends.
func (e *Engine) waitForValidLink(ctx context.Context) (*unstructured.Unstructured, *Link, error) {
	logger := klog.FromContext(ctx)
	lastProblem := ""
	for {
		obj, link, err := e.readLink()
		problem := ""
		switch {
		case obj == nil:
			problem = "Link not found; waiting for it"
		case err != nil:
			problem = err.Error()
		default:
			return obj, link, nil
		}
		if problem != lastProblem {
			lastProblem = problem
			if obj == nil {
				logger.Info("Waiting for the Link to exist")
			} else {
				e.reportInvalidLink(ctx, obj, err)
			}
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-e.linkChanged:
		}
	}
}

// readLink reads the Link from the cache; obj is nil when there is none.
func (e *Engine) readLink() (*unstructured.Unstructured, *Link, error) {
	item, found, err := e.links.GetStore().GetByKey(e.cfg.Namespace + "/" + e.cfg.LinkName)
	if err != nil || !found {
		return nil, nil, err
	}
	obj := item.(*unstructured.Unstructured)
	link, err := ParseLink(obj)
	return obj, link, err
}

func (e *Engine) startLocalInformers(ctx context.Context) {
	selector := LocalSelector(e.cluster).String()
	factory := informers.NewSharedInformerFactoryWithOptions(e.cfg.Local, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }),
		informers.WithTransform(stripManagedFields))
	e.services = factory.Core().V1().Services().Informer()
	e.endpoints = factory.Core().V1().Endpoints().Informer()
	_ = e.services.AddIndexers(cache.Indexers{headlessParentIndex: headlessParentIndexFunc})

	_, _ = e.services.AddEventHandler(localHandler(e.recentServices, e.enqueueMirrorOf))
	_, _ = e.endpoints.AddEventHandler(localHandler(e.recentEndpoints, e.enqueueMirrorOf))

	nsFactory := informers.NewSharedInformerFactoryWithOptions(e.cfg.Local, 0, informers.WithTransform(stripManagedFields))
	e.namespaces = nsFactory.Core().V1().Namespaces().Informer()
	_, _ = e.namespaces.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			// A namespace that appears lets its skipped Services be mirrored.
			if ns, ok := obj.(*corev1.Namespace); ok && e.localSynced.Load() {
				if rc := e.currentRemote(); rc != nil {
					for _, n := range rc.Services(ns.Name) {
						e.queue.Add(queue.ServiceKey(n.Namespace, n.Name))
					}
				}
			}
		},
	})
	e.svcW, e.epW = e.serviceWriter(), e.endpointsWriter()
	go e.services.RunWithContext(ctx)
	go e.endpoints.RunWithContext(ctx)
	go e.namespaces.RunWithContext(ctx)
}

// localHandler queues the remote Service behind a changed mirror object,
// so that edits and deletions by others are repaired and orphans found at
// start-up are collected. Echoes of our own writes queue nothing.
func localHandler[T metav1.Object](recent *recentWrites[T], enqueue func(metav1.Object)) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(T); ok && !recent.observed(o, false) {
				enqueue(o)
			}
		},
		UpdateFunc: func(_, obj any) {
			if o, ok := obj.(T); ok && !recent.observed(o, false) {
				enqueue(o)
			}
		},
		DeleteFunc: func(obj any) {
			if o, ok := tombstoned(obj).(T); ok && !recent.observed(o, true) {
				enqueue(o)
			}
		},
	}
}

// enqueueMirrorOf queues the remote Service a local mirror object stands
// for, read from its remote-svc-fq-name annotation: names are never parsed.
func (e *Engine) enqueueMirrorOf(obj metav1.Object) {
	if ns, name, ok := remoteOf(obj); ok {
		e.queue.Add(queue.ServiceKey(ns, name))
	}
}

// remoteOf returns the remote Service a mirror object stands for.
func remoteOf(obj metav1.Object) (namespace, name string, ok bool) {
	fq := obj.GetAnnotations()[AnnotationRemoteSvcFQName]
	if obj.GetLabels()[LabelHeadlessMirrorSvcName] != "" {
		namespace, name, _, ok = RemoteFromEndpointMirrorFQName(fq)
		return namespace, name, ok
	}
	return RemoteFromFQName(fq)
}

// headlessParentIndex indexes endpoint-mirror Services by
// "<namespace>/<headless mirror name>".
const headlessParentIndex = "headlessParent"

func headlessParentIndexFunc(obj any) ([]string, error) {
	svc := obj.(*corev1.Service)
	if p := svc.Labels[LabelHeadlessMirrorSvcName]; p != "" {
		return []string{svc.Namespace + "/" + p}, nil
	}
	return nil, nil
}

func (e *Engine) currentLink() *Link {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.link
}

func (e *Engine) currentRemote() *remote.Cluster {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.remote
}

// enqueueAll queues every Service key known on either side: after a
// configuration change or when the remote caches first sync.
func (e *Engine) enqueueAll() {
	if rc := e.currentRemote(); rc != nil {
		for _, n := range rc.Services("") {
			e.queue.Add(queue.ServiceKey(n.Namespace, n.Name))
		}
	}
	for _, store := range []cache.Store{e.services.GetStore(), e.endpoints.GetStore()} {
		for _, obj := range store.List() {
			e.enqueueMirrorOf(obj.(metav1.Object))
		}
	}
}

// gatewayChanged takes the watcher's new gateway set and re-syncs the
// gateway-mode mirrors, the only ones whose Endpoints point at it.
func (e *Engine) gatewayChanged() {
	gw := e.gw.current()
	e.mu.Lock()
	changed := !gatewaysEqual(e.gateway, gw)
	e.gateway = gw
	e.mu.Unlock()
	if changed {
		for _, k := range e.report.keys(ModeGateway) {
			e.queue.Add(k)
		}
	}
}

// stripManagedFields keeps cached local objects small.
func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// tombstoned unwraps the object of a delete whose final state was missed.
func tombstoned(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}
