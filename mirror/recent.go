package mirror

import (
	"strconv"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/mirror/intern"
)

// recentWrites remembers the objects the engine has just written until
// its informer cache shows them. Without it a sync that runs right after a
// write (an EndpointSlice event following the Service's, say) would diff
// against the older cached copy and write again, or fail on a stale
// resourceVersion; and the informer's echo of our own write would queue a
// pointless sync.
//
// Resource versions are compared as numbers. The API treats them as
// opaque, but every etcd-backed API server issues increasing integers; an
// unparsable one makes the cache copy win, which is merely slower.
type recentWrites[T object] struct {
	mu sync.Mutex
	m  map[string]recentWrite
	// group, when set, files every write under a group (the Service of an
	// EndpointSlice), so that namesIn finds a group's writes without a scan
	// of every write in flight (thousands while a large link converges).
	group  func(T) intern.Group
	groups intern.Groups
	// inFlight holds the keys with a write sent and not yet answered, and
	// the last informer event seen for each meanwhile. The echo of a write
	// often arrives before its answer: judged then, with no record to
	// match, it would queue a sync of its own, and a converging link would
	// sync every mirror a second time, all at the end. A held event is
	// judged when the answer is in (settle).
	inFlight map[string]*heldEvent
	// enqueue queues the sync behind an object whose held event was not
	// our echo; nil in tests that drive syncs by hand.
	enqueue func(metav1.Object)
}

// heldEvent is an informer event for a key with a write in flight.
type heldEvent struct {
	obj     metav1.Object
	deleted bool
}

type recentWrite struct {
	// obj is the written object in the local cache's compact form
	// (localcache.go): thousands of writes are in flight while a large
	// link converges, and the API server's answer is several times the
	// size.
	obj     metav1.Object
	group   intern.Group
	rv      uint64
	deleted bool
}

func newRecentWrites[T object]() *recentWrites[T] {
	return &recentWrites[T]{m: map[string]recentWrite{}, inFlight: map[string]*heldEvent{}}
}

// newGroupedRecentWrites is newRecentWrites with namesIn answering for the
// groups group names. A grouped write is forgotten only when its event is
// handled (observed), never when a lookup finds the cache caught up: the
// group index beside the cache (localState.slicesByService) is kept by the
// same handler, and until it has run only this overlay lists the object.
func newGroupedRecentWrites[T object](group func(T) intern.Group) *recentWrites[T] {
	return &recentWrites[T]{m: map[string]recentWrite{}, inFlight: map[string]*heldEvent{}, group: group}
}

// set records r at key; w.mu must be held.
func (w *recentWrites[T]) set(key string, r recentWrite) {
	w.m[key] = r
	if w.group != nil {
		w.groups.Add(r.group, nameOf(key))
	}
}

// nameOf is the name in a "<namespace>/<name>" key.
func nameOf(key string) string {
	_, name, _ := strings.Cut(key, "/")
	return name
}

// forget drops key; w.mu must be held.
func (w *recentWrites[T]) forget(key string) {
	r, ok := w.m[key]
	if !ok {
		return
	}
	delete(w.m, key)
	if len(w.m) == 0 {
		// A Go map keeps its largest size, here the writes in flight at
		// the height of a convergence: thousands. Let that go.
		w.m = map[string]recentWrite{}
	}
	if w.group != nil {
		w.groups.Remove(r.group, nameOf(key))
	}
}

func objectKey(o metav1.Object) string { return o.GetNamespace() + "/" + o.GetName() }

func resourceVersion(o metav1.Object) uint64 {
	rv, _ := strconv.ParseUint(o.GetResourceVersion(), 10, 64)
	return rv
}

// wrote records an object returned by a create or update.
func (w *recentWrites[T]) wrote(obj T) {
	w.record(obj, false)
}

// deletedObject records that obj (as last seen) was deleted.
func (w *recentWrites[T]) deletedObject(obj T) {
	w.record(obj, true)
}

func (w *recentWrites[T]) record(obj T, deleted bool) {
	r := recentWrite{rv: resourceVersion(obj), deleted: deleted}
	if w.group != nil {
		r.group = w.group(obj)
	}
	key := objectKey(obj)
	if !deleted {
		slim, _ := slimLocal(obj)
		r.obj, _ = slim.(metav1.Object)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.set(key, r)
}

// resolve returns the freshest known state of the object at key, given
// the informer cache's item (found false when the cache has none): that
// item, or our write's compact form (localcache.go) when the cache has not
// caught up with it.
func (w *recentWrites[T]) resolve(key string, cached metav1.Object, found bool) (metav1.Object, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.m[key]
	if !ok {
		return cached, found
	}
	if found {
		rv := resourceVersion(cached)
		if rv > r.rv || (rv == r.rv && !r.deleted) {
			if w.group == nil {
				w.forget(key) // the cache has caught up with our write
			}
			return cached, true
		}
	}
	if r.deleted || r.obj == nil {
		return nil, false
	}
	return r.obj, true
}

// observed is told of every informer event for an object; it reports
// whether the event is the echo of our own latest write (or delete), and
// forgets writes the cache has caught up with.
func (w *recentWrites[T]) observed(obj metav1.Object, deleted bool) (echo bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := objectKey(obj)
	if _, writing := w.inFlight[key]; writing {
		w.inFlight[key] = &heldEvent{obj: obj, deleted: deleted}
		return true // judged by settle, once the write's answer is recorded
	}
	return w.judge(key, obj, deleted)
}

// judge is observed's verdict on an event with no write in flight; w.mu
// must be held.
func (w *recentWrites[T]) judge(key string, obj metav1.Object, deleted bool) (echo bool) {
	r, ok := w.m[key]
	if !ok {
		return false
	}
	rv := resourceVersion(obj)
	switch {
	case deleted && r.deleted:
		// The API server stamps a delete event with the revision of the
		// delete, later than any the object had: it is our echo whatever
		// its number. (Had someone recreated the object since, its ADDED
		// event came first and found no record.)
		w.forget(key)
		return true
	case !deleted && !r.deleted && rv == r.rv:
		w.forget(key)
		return true
	case rv > r.rv:
		w.forget(key) // someone else's newer write: the cache wins from now on
	}
	return false
}

// sending marks a write of key as sent; settle must follow once it is
// answered (and recorded, if it succeeded).
func (w *recentWrites[T]) sending(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inFlight[key] = nil
}

// settle ends the write of key that sending began: an event held
// meanwhile is judged now, against the write's record, and queues a sync
// unless it was our echo.
func (w *recentWrites[T]) settle(key string) {
	w.mu.Lock()
	held := w.inFlight[key]
	delete(w.inFlight, key)
	if len(w.inFlight) == 0 {
		w.inFlight = map[string]*heldEvent{} // let a converging link's peak go
	}
	echo := held == nil || w.judge(key, held.obj, held.deleted)
	w.mu.Unlock()
	if !echo && w.enqueue != nil {
		w.enqueue(held.obj)
	}
}

// namesIn lists the names of the recorded writes in group (see
// newGroupedRecentWrites): objects a cache lookup by name would not find,
// because the cache has not seen them yet. The slice is shared: callers
// must not change it.
func (w *recentWrites[T]) namesIn(group intern.Group) []string {
	return w.groups.Members(group)
}
