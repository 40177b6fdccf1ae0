package mirror

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/metrics"
	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/queue"
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
	// the same name is tried again.
	ConflictRetry time.Duration
	// GatewayResolveInterval is how often the gateway's DNS names are
	// resolved again.
	GatewayResolveInterval time.Duration
	// Output chooses the endpoint objects mirrors get (--endpoints-api,
	// --flat-endpoints); the zero value means plan.DefaultOutput.
	Output plan.Output
	// Election, when set, elects one writer among the replicas serving the
	// Link; nil means this process always writes.
	Election *Election
	Metrics  *metrics.Metrics
}

// Engine mirrors the Services one Link exports into the local cluster. It
// wires the parts that each own one concern:
//
//   - linkInformers: the Link and its Secret;
//   - connection: the Link in force and the remote connection made from it;
//   - localState: the local caches, the overlay of our own writes, writers;
//   - gatewayWatcher: the gateway set, resolved and probed;
//   - serviceSyncer: one remote Service's observe → plan → apply;
//   - statusReporter: the Link's status and Events.
type Engine struct {
	cfg   Config
	queue *queue.Queue

	links   *linkInformers
	conn    *connection
	gw      *gatewayWatcher
	report  *reporter
	status  *statusReporter
	changes *changeClock
	// failures collapses repeated sync failures into a few log lines.
	failures *syncFailures
	// localHealth says whether the local API server answers.
	localHealth *localHealth
	// local and services exist once the Link names its cluster.
	local    *localState
	services *serviceSyncer
	// memory holds back new mirrors near the memory limit (memoryguard.go).
	memory *memoryGuard

	// cluster is the Link's targetClusterName, fixed at start-up: the local
	// caches are selected by it.
	cluster string
	// The last Link and credentials problems reported, so that each is
	// reported once rather than on every sync (the Link key's sync alone
	// touches them).
	lastLinkProblem, lastCredentialsProblem string
	// lastProbeProblem is the probe objects' last reported problem (the
	// probe key's sync alone touches it).
	lastProbeProblem string

	localSynced atomic.Bool
	linkLoaded  atomic.Bool
	// tokenProblem is set while the remote token has expired (from the
	// token renewer), with what to do about it.
	tokenProblem atomic.Pointer[string]
	// linkProblem says why the Link in the cluster cannot be used (nil
	// when it can); the last valid one, if any, keeps running meanwhile.
	linkProblem atomic.Pointer[string]
	// leading is true while this replica holds the Lease and writes;
	// termMu keeps leadership terms from overlapping on the queue.
	leading  atomic.Bool
	electing atomic.Bool
	termMu   sync.Mutex
	// credMu serialises applyCredentials between the Link sync and a
	// standby's warm-up.
	credMu sync.Mutex
}

// New makes an engine; Run starts it.
func New(cfg Config) *Engine {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.ConflictRetry <= 0 {
		cfg.ConflictRetry = 30 * time.Second
	}
	if cfg.Output == (plan.Output{}) {
		cfg.Output = plan.DefaultOutput()
	}
	e := &Engine{
		cfg:      cfg,
		queue:    queue.New("svcmirror"),
		conn:     &connection{},
		report:   newReporter(cfg.Metrics),
		changes:  newChangeClock(),
		failures: newSyncFailures(),
	}
	e.links = newLinkInformers(cfg.Local, cfg.Dynamic, cfg.Namespace, cfg.LinkName, e.linkChanged, e.conn)
	e.status = &statusReporter{
		queue: e.queue, key: queue.Key{Kind: queue.KindStatus, Namespace: cfg.Namespace, Name: cfg.LinkName},
		dynamic: cfg.Dynamic, report: e.report, conn: e.conn, metrics: cfg.Metrics, readLink: e.links.read,
		events:  &record.FakeRecorder{}, // replaced by Run's
		leading: e.writes,
	}
	e.gw = newGatewayWatcher(cfg.GatewayResolveInterval, cfg.Metrics, e.gatewayChanged)
	e.localHealth = &localHealth{client: cfg.Local, metrics: cfg.Metrics, recovered: func() {
		if e.local != nil {
			e.queue.Add(e.linkKey())
			e.enqueueAll()
		}
	}}
	e.memory = newMemoryGuard(e.memoryChanged, func(used, limit uint64) {
		if cfg.Metrics != nil {
			cfg.Metrics.MemoryUse(used, limit)
		}
	})
	return e
}

// writes reports whether this replica may write now: it leads, or it has
// not begun electing yet (at start-up, before the Link is valid, every
// replica reports what is wrong with it).
func (e *Engine) writes() bool {
	return e.cfg.Election == nil || !e.electing.Load() || e.leading.Load()
}

// linkKey is the queue key of the Link itself.
func (e *Engine) linkKey() queue.Key {
	return queue.Key{Kind: queue.KindLink, Namespace: e.cfg.Namespace, Name: e.cfg.LinkName}
}

// linkChanged is the Link and Secret informers' handler.
func (e *Engine) linkChanged() { e.queue.Add(e.linkKey()) }

// Ready reports whether the engine is doing its job: the Link is loaded,
// and the local and remote caches are synced with the remote reachable.
// It returns the reason when not.
func (e *Engine) Ready() (bool, string) {
	problem := e.linkProblem.Load()
	switch {
	case !e.linkLoaded.Load() && problem != nil:
		return false, "Link not loaded: " + *problem
	case !e.linkLoaded.Load():
		return false, "Link not loaded"
	case problem != nil:
		return false, "Link is invalid; mirroring goes on with its last valid configuration: " + *problem
	}
	if !e.localSynced.Load() {
		return false, "local caches not synced"
	}
	if why := e.localHealth.notReady(); why != "" {
		return false, why
	}
	if p := e.tokenProblem.Load(); p != nil && *p != "" {
		return false, *p
	}
	rc := e.conn.snapshot().Remote
	if rc == nil {
		return false, "no remote credentials loaded"
	}
	if why := rc.NotReady(); why != "" {
		return false, why
	}
	switch {
	case e.cfg.Election == nil:
		return true, "ok" + e.memory.readyNote()
	case e.leading.Load():
		return true, "ok (leader)" + e.memory.readyNote()
	}
	return true, "ok (standby)" + e.memory.readyNote()
}

// Run runs the engine until ctx ends. It never returns early for bad
// configuration: it reports it and waits for a fix.
func (e *Engine) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithValues("link", klog.KRef(e.cfg.Namespace, e.cfg.LinkName))
	ctx = klog.NewContext(ctx, logger)

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: e.cfg.Local.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	e.status.events = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "svcmirror"})

	e.links.run(ctx)
	go e.failures.run(ctx)
	go e.localHealth.run(ctx)
	go e.memory.run(ctx)
	if !cache.WaitFor(ctx, "", e.links.synced()...) {
		return ctx.Err()
	}
	obj, link, err := e.waitForValidLink(ctx)
	if err != nil {
		return err
	}
	e.cluster = link.TargetClusterName
	ctx = klog.NewContext(ctx, logger.WithValues("targetCluster", e.cluster))
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.SetTargetCluster(e.cluster)
	}

	local, err := newLocalState(e.cfg.Local, NewLocalInformers(e.cfg.Local, e.cluster), e.cfg.Metrics)
	if err != nil {
		return err
	}
	e.useLocal(local)
	local.run(ctx)
	// Connect to the remote cluster while the local caches fill, rather than
	// after: its first list takes as long as theirs, and start-up is the
	// whole of convergence for a small link. Nothing is synced before the
	// Link worker loads the Link, which queues every key again. (Connecting
	// only once the local caches had synced cut the peak of a 20,000-Service
	// restart by another 1.5 MiB, but it took 40% longer to check every
	// mirror: the remote's initial events then reach running workers.)
	if !link.DeletionRequested {
		e.applyCredentials(ctx, obj, link)
	}
	if !cache.WaitFor(ctx, "", local.synced()...) {
		return ctx.Err()
	}
	e.localSynced.Store(true)
	logger.Info("Local caches synced", "mirrorServices", len(local.inf.Services.GetStore().ListKeys()))

	if e.cfg.Election == nil {
		e.lead(ctx, context.Background())
	} else {
		go e.standby(ctx)
		e.elect(ctx)
	}
	e.queue.ShutDown()
	e.conn.close()
	e.gw.stop()
	return nil
}

// standby keeps a replica that does not write ready to: at start and on
// every Link or Secret change it follows the Link, the credentials and the
// gateway (all only read), so its caches match the leader's.
func (e *Engine) standby(ctx context.Context) {
	for {
		if !e.leading.Load() {
			obj, link, err := e.links.read()
			if obj != nil && err == nil && !link.DeletionRequested && link.TargetClusterName == e.cluster {
				e.applyCredentials(ctx, obj, link)
				e.gw.configure(ctx, link)
				e.conn.setLink(link, obj)
				e.linkLoaded.Store(true)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-e.links.wake:
		}
	}
}

// useLocal wires the local caches into the engine: their events queue
// the remote Service behind each mirror object, and a namespace that
// appears lets its skipped Services be mirrored.
func (e *Engine) useLocal(local *localState) {
	e.local = local
	e.services = &serviceSyncer{
		conn: e.conn, local: local, gateway: e.gw.current, output: e.cfg.Output, client: e.cfg.Local,
		createNamespaces: e.cfg.EnableNamespaceCreation, conflictRetry: e.cfg.ConflictRetry,
		changes: e.changes, report: e.report, status: e.status, metrics: e.cfg.Metrics,
		memory: e.memory,
	}
	local.addHandlers(e.enqueueMirrorOf)
	_, _ = local.inf.Namespaces.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			ns, ok := obj.(*corev1.Namespace)
			if !ok || !e.localSynced.Load() {
				return
			}
			if rc := e.conn.snapshot().Remote; rc != nil {
				for _, n := range rc.Services(ns.Name) {
					e.queue.Add(queue.ServiceKey(n.Namespace, n.Name))
				}
			}
		},
	})
}

// run starts the local informers: Namespaces at once (they are few), the
// mirror Services, Endpoints and EndpointSlices one after another, each
// once the one before has synced. While its first list streams in, an
// informer holds it beside its cache (the reflector's temporary store,
// then the DeltaFIFO's queue), so lists taken together are where a cold
// start against a large link peaks. Restarts against 20,000 converged
// Services peaked at 125.9 to 128.6 MiB with the three together and 121.5
// to 123.2 MiB in turn (four runs each), and checked every mirror as fast
// (BENCHMARKS.md, "Memory targets").
func (l *localState) run(ctx context.Context) {
	go l.inf.Namespaces.RunWithContext(ctx)
	go runInTurn(ctx, l.inf.Services, l.inf.Endpoints, l.inf.Slices)
}

// runInTurn runs each informer until ctx ends, starting each once the one
// before it has synced.
func runInTurn(ctx context.Context, informers ...cache.SharedIndexInformer) {
	for _, inf := range informers {
		go inf.RunWithContext(ctx)
		if !cache.WaitFor(ctx, "", inf.HasSyncedChecker()) {
			return
		}
	}
}

// sync dispatches one key.
func (e *Engine) sync(ctx context.Context, key queue.Key) error {
	switch key.Kind {
	case queue.KindLink:
		return e.syncLink(ctx)
	case queue.KindService:
		return e.services.sync(ctx, key)
	case queue.KindStatus:
		return e.status.sync(ctx)
	case queue.KindProbe:
		return e.syncProbe(ctx)
	}
	return queue.Permanent(fmt.Errorf("unknown key kind %v", key.Kind))
}

// result feeds every sync's outcome to the metrics and, at -v=2, the log.
func (e *Engine) result(ctx context.Context, key queue.Key, outcome queue.Outcome, err error, _ time.Duration) {
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.Synced(string(outcome))
	}
	if err != nil && outcome == queue.OutcomeRetry {
		e.failures.failed(ctx, err)
		klog.FromContext(ctx).V(4).Info("Sync failed; will retry", "err", err)
	}
}

// enqueueMirrorOf queues the remote Service a local mirror object stands
// for, read from its remote-svc-fq-name annotation: names are never parsed.
func (e *Engine) enqueueMirrorOf(obj metav1.Object) {
	if ns, name, ok := plan.RemoteOf(obj); ok {
		e.queue.Add(queue.ServiceKey(ns, name))
	}
}

// remoteChanged is the remote informers' handler: it notes when the change
// was seen, for the propagation-latency metric, and queues the Service.
func (e *Engine) remoteChanged(namespace, name string) {
	key := queue.ServiceKey(namespace, name)
	e.changes.saw(key)
	e.queue.Add(key)
}

// enqueueAll queues every Service key known on either side: after a
// configuration change or when the remote caches first sync.
func (e *Engine) enqueueAll() {
	if rc := e.conn.snapshot().Remote; rc != nil {
		for _, n := range rc.Services("") {
			e.queue.Add(queue.ServiceKey(n.Namespace, n.Name))
		}
	}
	for _, obj := range e.local.objects() {
		e.enqueueMirrorOf(obj)
	}
}

// gatewayChanged re-syncs the gateway-mode mirrors, the only ones whose
// Endpoints point at the gateway, when the watcher publishes a new set.
func (e *Engine) gatewayChanged() {
	e.queue.Add(e.probeKey())
	for _, k := range e.report.keys(plan.ModeGateway) {
		e.queue.Add(k)
	}
}
