package benchmark

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/svcmirror/svcmirror/mirror/plan"
)

// tracker watches the mirror objects in the source cluster and knows, for
// every mirror the benchmark expects, whether it is right and since when.
// "Right" is the engine's own owned-field diff finding nothing to do
// (plan.PlanService, plan.PlanEndpoints and plan.PlanSlice return
// ActionNone, with no slice of the mirror beyond the desired ones), except
// that the remote-resource-version annotation is not compared: the benchmark
// cannot know a remote write's resourceVersion before it sends it, and it
// sets each expectation before the change that causes it.
//
// Times are taken in the informer's event handlers, so a latency is the
// moment the watch event reached this process, not the moment a poll
// happened to look.
type tracker struct {
	mu sync.Mutex
	// changed is closed and replaced whenever the set of right mirrors or
	// of present objects changes.
	changed chan struct{}
	// want holds the expected objects by "namespace/mirror name"; a nil
	// entry means the mirror must not exist.
	want map[string]*plan.Desired
	svcs map[string]*corev1.Service
	eps  map[string]*corev1.Endpoints
	// slices holds the EndpointSlices by "namespace/Service name", then by
	// slice name.
	slices map[string]map[string]*discoveryv1.EndpointSlice
	// rightSince holds the expected mirrors that are right, with the time
	// each became so.
	rightSince map[string]time.Time
}

func newTracker() *tracker {
	return &tracker{
		changed:    make(chan struct{}),
		want:       map[string]*plan.Desired{},
		svcs:       map[string]*corev1.Service{},
		eps:        map[string]*corev1.Endpoints{},
		slices:     map[string]map[string]*discoveryv1.EndpointSlice{},
		rightSince: map[string]time.Time{},
	}
}

// start watches the Services, Endpoints and EndpointSlices carrying cluster's ownership
// labels and returns once the first list is in.
func (t *tracker) start(ctx context.Context, client kubernetes.Interface, cluster string) error {
	selector := plan.LocalSelector(cluster).String()
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }),
		informers.WithTransform(func(obj any) (any, error) {
			if m, ok := obj.(metav1.Object); ok {
				m.SetManagedFields(nil)
			}
			return obj, nil
		}))
	svcs := factory.Core().V1().Services().Informer()
	eps := factory.Core().V1().Endpoints().Informer()
	_, _ = svcs.AddEventHandler(handler(func(s *corev1.Service, gone bool) { observe(t, s, gone, t.svcs) }))
	_, _ = eps.AddEventHandler(handler(func(e *corev1.Endpoints, gone bool) { observe(t, e, gone, t.eps) }))
	slices := factory.Discovery().V1().EndpointSlices().Informer()
	_, _ = slices.AddEventHandler(handler(t.observeSlice))
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("tracker: %v cache did not sync", typ)
		}
	}
	return nil
}

func handler[T metav1.Object](observe func(obj T, gone bool)) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { observe(obj.(T), false) },
		UpdateFunc: func(_, obj any) { observe(obj.(T), false) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			observe(obj.(T), true)
		},
	}
}

// observe records one object's new state (gone: deleted) and re-checks
// its mirror.
func observe[T metav1.Object](t *tracker, obj T, gone bool, into map[string]T) {
	now := time.Now()
	key := obj.GetNamespace() + "/" + obj.GetName()
	t.mu.Lock()
	defer t.mu.Unlock()
	if gone {
		delete(into, key)
	} else {
		into[key] = obj
	}
	t.recheck(key, now)
	t.notify()
}

// observeSlice records one EndpointSlice's new state and re-checks the
// mirror it belongs to.
func (t *tracker) observeSlice(s *discoveryv1.EndpointSlice, gone bool) {
	now := time.Now()
	key := s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]
	t.mu.Lock()
	defer t.mu.Unlock()
	if gone {
		delete(t.slices[key], s.Name)
		if len(t.slices[key]) == 0 {
			delete(t.slices, key)
		}
	} else {
		if t.slices[key] == nil {
			t.slices[key] = map[string]*discoveryv1.EndpointSlice{}
		}
		t.slices[key][s.Name] = s
	}
	t.recheck(key, now)
	t.notify()
}

// expect sets what the mirror of remote Service svc must be from now on
// (desired nil: absent) and re-checks it.
func (t *tracker) expect(namespace, mirrorName string, desired *plan.Desired) {
	key := namespace + "/" + mirrorName
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.want[key] = desired
	delete(t.rightSince, key) // a new expectation starts a new wait
	t.recheck(key, now)
	t.notify()
}

// recheck updates key's entry in rightSince; t.mu must be held.
func (t *tracker) recheck(key string, now time.Time) {
	desired, expected := t.want[key]
	right := expected && t.isRight(key, desired)
	_, was := t.rightSince[key]
	switch {
	case right && !was:
		t.rightSince[key] = now
	case !right && was:
		delete(t.rightSince, key)
	}
}

func (t *tracker) isRight(key string, desired *plan.Desired) bool {
	svc, ep, slices := t.svcs[key], t.eps[key], t.slices[key]
	if desired == nil {
		return svc == nil && ep == nil && len(slices) == 0
	}
	if svc == nil || (desired.Endpoints != nil) != (ep != nil) || len(desired.Slices) != len(slices) {
		return false
	}
	for _, want := range desired.Slices {
		if action, _ := plan.PlanSlice(want, slices[want.Name]); action != plan.ActionNone {
			return false
		}
	}
	want := desired.Service.DeepCopy()
	want.Annotations[plan.AnnotationRemoteResourceVersion] = svc.Annotations[plan.AnnotationRemoteResourceVersion]
	if action, _ := plan.PlanService(want, svc); action != plan.ActionNone {
		return false
	}
	if desired.Endpoints == nil {
		return true
	}
	action, _ := plan.PlanEndpoints(desired.Endpoints, ep)
	return action == plan.ActionNone
}

// notify wakes every waiter; t.mu must be held.
func (t *tracker) notify() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// wait blocks until cond (called with t.mu held) is true, or fails after
// timeout.
func (t *tracker) wait(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		t.mu.Lock()
		done, changed := cond(), t.changed
		t.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return fmt.Errorf("timed out after %s waiting for %s (%s)", timeout, what, t.summary())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitRight waits until every mirror in keys is right.
func (t *tracker) waitRight(ctx context.Context, timeout time.Duration, what string, keys []string) error {
	return t.wait(ctx, timeout, what, func() bool {
		for _, k := range keys {
			if _, ok := t.rightSince[k]; !ok {
				return false
			}
		}
		return true
	})
}

// waitEmpty waits until no mirror object of the cluster is left.
func (t *tracker) waitEmpty(ctx context.Context, timeout time.Duration, what string) error {
	return t.wait(ctx, timeout, what, func() bool { return len(t.svcs)+len(t.eps)+len(t.slices) == 0 })
}

// since returns when each of keys became right; call it after waitRight.
func (t *tracker) since(keys []string) []time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]time.Time, len(keys))
	for i, k := range keys {
		out[i] = t.rightSince[k]
	}
	return out
}

// forget drops every expectation, so the next phase starts clean.
func (t *tracker) forget() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.want = map[string]*plan.Desired{}
	t.rightSince = map[string]time.Time{}
}

func (t *tracker) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return fmt.Sprintf("%d of %d expected mirrors right; %d Services, %d Endpoints and slices of %d Services present",
		len(t.rightSince), len(t.want), len(t.svcs), len(t.eps), len(t.slices))
}
