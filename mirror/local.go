package mirror

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/svcmirror/svcmirror/metrics"
	"github.com/svcmirror/svcmirror/mirror/intern"
	"github.com/svcmirror/svcmirror/mirror/plan"
)

// LocalInformers are the local caches the engine reads: this link's
// mirror Services, Endpoints and EndpointSlices only (selected by the
// ownership labels, so a foreign slice labelled with a mirror's Service
// name is never seen, let alone touched), and namespaces.
// NewLocalInformers makes the real ones; tests may pass informers whose
// indexers they fill directly.
type LocalInformers struct {
	Services, Endpoints, Slices, Namespaces cache.SharedIndexInformer
}

// NewLocalInformers makes the local informers for cluster's mirrors.
// They carry no namespace index (a factory's informers get one): nothing
// looks mirrors up by namespace, and an index entry per object is memory.
func NewLocalInformers(client kubernetes.Interface, cluster string) LocalInformers {
	selector := plan.LocalSelector(cluster).String()
	tweak := func(o *metav1.ListOptions) { o.LabelSelector = selector }
	inf := LocalInformers{
		Services:   coreinformers.NewFilteredServiceInformer(client, metav1.NamespaceAll, 0, cache.Indexers{}, tweak),
		Endpoints:  coreinformers.NewFilteredEndpointsInformer(client, metav1.NamespaceAll, 0, cache.Indexers{}, tweak),
		Slices:     discoveryinformers.NewFilteredEndpointSliceInformer(client, metav1.NamespaceAll, 0, cache.Indexers{}, tweak),
		Namespaces: coreinformers.NewNamespaceInformer(client, 0, cache.Indexers{}),
	}
	for _, i := range []cache.SharedIndexInformer{inf.Services, inf.Endpoints, inf.Slices} {
		_ = i.SetTransform(slimLocal) // fails only once started
	}
	_ = inf.Namespaces.SetTransform(slimNamespace)
	return inf
}

// localState is the local side: the caches, the overlay of our own writes
// they may not show yet, and the writers that keep that overlay.
type localState struct {
	inf LocalInformers
	// slicesByService names our EndpointSlices by Service (see
	// indexSlices); slicesIndexed is done once it holds their first list.
	slicesByService intern.Groups
	slicesIndexed   cache.DoneChecker
	services        *writer[*corev1.Service]
	endpoints       *writer[*corev1.Endpoints]
	slices          *writer[*discoveryv1.EndpointSlice]
}

// headlessParentIndex indexes endpoint-mirror Services by
// "<namespace>/<headless mirror name>".
const headlessParentIndex = "headlessParent"

func newLocalState(client kubernetes.Interface, inf LocalInformers, m *metrics.Metrics) (*localState, error) {
	if err := inf.Services.AddIndexers(cache.Indexers{headlessParentIndex: headlessParentIndexFunc}); err != nil {
		return nil, err
	}
	return &localState{
		inf: inf,
		services: &writer[*corev1.Service]{
			kind: plan.KindService, own: plan.OwnService, recent: newRecentWrites[*corev1.Service](), metrics: m,
			client: func(ns string) objectClient[*corev1.Service] { return client.CoreV1().Services(ns) },
		},
		endpoints: &writer[*corev1.Endpoints]{
			kind: plan.KindEndpoints, own: plan.OwnEndpoints, recent: newRecentWrites[*corev1.Endpoints](), metrics: m,
			client: func(ns string) objectClient[*corev1.Endpoints] { return client.CoreV1().Endpoints(ns) },
		},
		slices: &writer[*discoveryv1.EndpointSlice]{
			kind: plan.KindEndpointSlice, own: plan.OwnSlice, recent: newGroupedRecentWrites(sliceService), metrics: m,
			client: func(ns string) objectClient[*discoveryv1.EndpointSlice] {
				return client.DiscoveryV1().EndpointSlices(ns)
			},
		},
	}, nil
}

// sliceService is the Service an EndpointSlice belongs to, its group in
// slicesByService and in the slice writer's overlay.
func sliceService(s *discoveryv1.EndpointSlice) intern.Group {
	return intern.Group{Namespace: s.Namespace, Name: s.Labels[discoveryv1.LabelServiceName]}
}

func (s *cachedSlice) service() intern.Group {
	return intern.Group{Namespace: s.Namespace, Name: s.Service}
}

func headlessParentIndexFunc(obj any) ([]string, error) {
	svc, ok := obj.(*cachedService)
	if !ok {
		return nil, nil
	}
	if p, _ := svc.Labels.Get(plan.LabelHeadlessMirrorSvcName); p != "" {
		return []string{svc.Namespace + "/" + p}, nil
	}
	return nil, nil
}

// synced lists the caches' sync checks.
func (l *localState) synced() []cache.DoneChecker {
	checks := []cache.DoneChecker{l.inf.Services.HasSyncedChecker(), l.inf.Endpoints.HasSyncedChecker(),
		l.inf.Slices.HasSyncedChecker(), l.inf.Namespaces.HasSyncedChecker()}
	if l.slicesIndexed != nil {
		checks = append(checks, l.slicesIndexed)
	}
	return checks
}

// freshest returns the freshest known state of namespace/name: the cache's
// item, or our own latest write (in the same compact form) when the cache
// has not caught up with it yet.
func freshest[T object](store cache.Store, recent *recentWrites[T], namespace, name string) (metav1.Object, bool) {
	key := namespace + "/" + name
	item, found, _ := store.GetByKey(key)
	cached, _ := item.(metav1.Object)
	return recent.resolve(key, cached, found && cached != nil)
}

// slicesOf returns the freshest known state of our EndpointSlices of the
// local Service namespace/service: those in the cache, and those we just
// created that it does not show yet, less those we just deleted.
func (l *localState) slicesOf(namespace, service string) []metav1.Object {
	group := intern.Group{Namespace: namespace, Name: service}
	names := map[string]bool{}
	for _, n := range l.slicesByService.Members(group) {
		names[n] = true
	}
	for _, n := range l.slices.recent.namesIn(group) {
		names[n] = true
	}
	var out []metav1.Object
	for n := range names {
		if s, ok := freshest(l.inf.Slices.GetStore(), l.slices.recent, namespace, n); ok {
			out = append(out, s)
		}
	}
	return out
}

// observe fills a plan's view of the local objects: those at names, and
// every endpoint mirror of the mirror named mirrorName, with their slices.
// Cached objects come in their compact form: the plan gets their owned
// fields' digests in Local.Owned.
func (l *localState) observe(namespace, mirrorName string, names []string) plan.Local {
	local := plan.Local{Services: map[string]*corev1.Service{}, Endpoints: map[string]*corev1.Endpoints{},
		Slices: map[string]*discoveryv1.EndpointSlice{}, Owned: plan.Digests{}}
	add := func(name string) {
		if item, ok := freshest(l.inf.Services.GetStore(), l.services.recent, namespace, name); ok {
			if svc, ok := observedAs[*corev1.Service](item, local.Owned); ok {
				local.Services[name] = svc
			}
		}
		if item, ok := freshest(l.inf.Endpoints.GetStore(), l.endpoints.recent, namespace, name); ok {
			if ep, ok := observedAs[*corev1.Endpoints](item, local.Owned); ok {
				local.Endpoints[name] = ep
			}
		}
		for _, item := range l.slicesOf(namespace, name) {
			if s, ok := observedAs[*discoveryv1.EndpointSlice](item, local.Owned); ok {
				local.Slices[s.Name] = s
			}
		}
	}
	for _, n := range names {
		add(n)
	}
	add(mirrorName)
	objs, _ := l.inf.Services.GetIndexer().ByIndex(headlessParentIndex, namespace+"/"+mirrorName)
	for _, obj := range objs {
		add(obj.(metav1.Object).GetName())
	}
	return local
}

// namespaceExists reports whether the local namespace exists.
func (l *localState) namespaceExists(name string) bool {
	_, found, _ := l.inf.Namespaces.GetStore().GetByKey(name)
	return found
}

// objects lists every cached mirror object of this link, in the caches'
// compact forms (localcache.go).
func (l *localState) objects() []metav1.Object {
	var out []metav1.Object
	for _, store := range []cache.Store{l.inf.Services.GetStore(), l.inf.Endpoints.GetStore(), l.inf.Slices.GetStore()} {
		for _, obj := range store.List() {
			out = append(out, obj.(metav1.Object))
		}
	}
	return out
}

// handlers queue the remote Service behind a changed mirror object, so
// that edits and deletions by others are repaired and orphans found at
// start-up are collected. Echoes of our own writes queue nothing.
func (l *localState) addHandlers(enqueue func(metav1.Object)) {
	l.services.recent.enqueue = enqueue
	l.endpoints.recent.enqueue = enqueue
	l.slices.recent.enqueue = enqueue
	_, _ = l.inf.Services.AddEventHandler(localHandler(l.services.recent, enqueue))
	_, _ = l.inf.Endpoints.AddEventHandler(localHandler(l.endpoints.recent, enqueue))
	if reg, err := l.inf.Slices.AddEventHandler(l.indexSlices(localHandler(l.slices.recent, enqueue))); err == nil {
		l.slicesIndexed = reg.HasSyncedChecker()
	}
}

// indexSlices wraps the slice cache's handler h: each event updates
// slicesByService first, so that by the time h forgets our write from the
// overlay (or queues a sync) the index lists the slice.
func (l *localState) indexSlices(h cache.ResourceEventHandler) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if s, ok := obj.(*cachedSlice); ok {
				l.slicesByService.Add(s.service(), s.Name)
			}
			h.OnAdd(obj, false)
		},
		UpdateFunc: func(oldObj, obj any) {
			old, okOld := oldObj.(*cachedSlice)
			if s, ok := obj.(*cachedSlice); ok && okOld {
				l.slicesByService.Move(s.Name, old.service(), s.service())
			}
			h.OnUpdate(oldObj, obj)
		},
		DeleteFunc: func(obj any) {
			if s, ok := tombstoned(obj).(*cachedSlice); ok {
				l.slicesByService.Remove(s.service(), s.Name)
			}
			h.OnDelete(obj)
		},
	}
}

func localHandler[T object](recent *recentWrites[T], enqueue func(metav1.Object)) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(metav1.Object); ok && !recent.observed(o, false) {
				enqueue(o)
			}
		},
		UpdateFunc: func(_, obj any) {
			if o, ok := obj.(metav1.Object); ok && !recent.observed(o, false) {
				enqueue(o)
			}
		},
		DeleteFunc: func(obj any) {
			if o, ok := tombstoned(obj).(metav1.Object); ok && !recent.observed(o, true) {
				enqueue(o)
			}
		},
	}
}

// slimNamespace keeps of a namespace its name alone (and what the store
// needs): the engine only asks whether it exists.
func slimNamespace(obj any) (any, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return obj, nil
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: intern.String(ns.Name), UID: ns.UID, ResourceVersion: ns.ResourceVersion,
		DeletionTimestamp: ns.DeletionTimestamp,
	}}, nil
}

// tombstoned unwraps the object of a delete whose final state was missed.
func tombstoned(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}
