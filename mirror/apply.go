package mirror

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// objectClient is what the engine needs of a typed client; client-go's
// Service and Endpoints clients both fit.
type objectClient[T any] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
}

// conflictError means an object of the mirror's name exists that is not
// ours to change: without the ownership labels, or mirroring another
// remote Service.
type conflictError struct {
	kind, namespace, name, why string
}

func (e *conflictError) Error() string {
	return fmt.Sprintf("%s %s/%s already exists and %s; leaving it alone", e.kind, e.namespace, e.name, e.why)
}

// writer carries out planned actions for one kind of object, keeping the
// recent-writes guard and the metrics up to date.
type writer[T interface {
	metav1.Object
	comparable
}] struct {
	kind    string // "Service" or "Endpoints"
	cluster string
	client  func(namespace string) objectClient[T]
	recent  *recentWrites[T]
	store   func() cache.Store
	engine  *Engine
}

// get returns the freshest known copy of namespace/name, or the zero T.
func (w *writer[T]) get(namespace, name string) T {
	key := namespace + "/" + name
	item, found, _ := w.store().GetByKey(key)
	var cached T
	if found {
		cached = item.(T)
	}
	obj, ok := w.recent.resolve(key, cached, found)
	if !ok {
		var zero T
		return zero
	}
	return obj
}

// apply carries out action on obj (desired for Create and Recreate, the
// updated copy for Update, existing for Delete) and returns the object now
// in the cluster (zero T when none) and whether it wrote.
func (w *writer[T]) apply(ctx context.Context, action Action, obj, existing T, cause string) (T, bool, error) {
	var zero T
	switch action {
	case ActionNone:
		return existing, false, nil
	case ActionConflict:
		return zero, false, &conflictError{w.kind, existing.GetNamespace(), existing.GetName(), "lacks this link's ownership labels"}
	case ActionDelete:
		return zero, true, w.delete(ctx, existing, cause)
	case ActionRecreate:
		if err := w.delete(ctx, existing, cause+" (recreate: headless flips)"); err != nil {
			return zero, true, err
		}
		return w.create(ctx, obj, cause)
	case ActionUpdate:
		out, err := w.client(obj.GetNamespace()).Update(ctx, obj, metav1.UpdateOptions{})
		if err != nil {
			return zero, false, fmt.Errorf("update %s %s/%s: %w", w.kind, obj.GetNamespace(), obj.GetName(), err)
		}
		w.wrote(ctx, out, "update", cause)
		return out, true, nil
	case ActionCreate:
		return w.create(ctx, obj, cause)
	}
	return zero, false, fmt.Errorf("unknown action %v", action)
}

func (w *writer[T]) create(ctx context.Context, obj T, cause string) (T, bool, error) {
	var zero T
	ns, name := obj.GetNamespace(), obj.GetName()
	out, err := w.client(ns).Create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Our cache holds only our own objects: one we do not know of is
		// either foreign or so new that the cache lags. Look.
		live, getErr := w.client(ns).Get(ctx, name, metav1.GetOptions{})
		if getErr == nil && !IsOwnedBy(live, w.cluster) {
			return zero, false, &conflictError{w.kind, ns, name, "lacks this link's ownership labels"}
		}
		if getErr == nil && live.GetAnnotations()[AnnotationRemoteSvcFQName] != obj.GetAnnotations()[AnnotationRemoteSvcFQName] {
			return zero, false, &conflictError{w.kind, ns, name, "mirrors " + live.GetAnnotations()[AnnotationRemoteSvcFQName]}
		}
	}
	if err != nil {
		return zero, false, fmt.Errorf("create %s %s/%s: %w", w.kind, ns, name, err)
	}
	w.wrote(ctx, out, "create", cause)
	return out, true, nil
}

func (w *writer[T]) delete(ctx context.Context, existing T, cause string) error {
	ns, name := existing.GetNamespace(), existing.GetName()
	uid := existing.GetUID()
	// The UID precondition makes sure we delete the object we judged, not
	// one recreated under the same name since.
	err := w.client(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		if apierrors.IsConflict(err) {
			return fmt.Errorf("delete %s %s/%s: it was replaced since it was read: %w", w.kind, ns, name, err)
		}
		return fmt.Errorf("delete %s %s/%s: %w", w.kind, ns, name, err)
	}
	w.recent.deletedObject(existing)
	w.count(ctx, existing, "delete", cause)
	return nil
}

func (w *writer[T]) wrote(ctx context.Context, out T, op, cause string) {
	w.recent.wrote(out)
	w.count(ctx, out, op, cause)
}

func (w *writer[T]) count(ctx context.Context, obj T, op, cause string) {
	if m := w.engine.cfg.Metrics; m != nil {
		m.Wrote(w.kind, op)
		if w.kind == "Endpoints" && op == "update" && cause == causeRepair {
			m.EndpointsRepaired()
		}
	}
	klog.FromContext(ctx).V(2).Info("Wrote mirror object", "kind", w.kind, "object", klog.KObj(obj), "operation", op, "cause", cause)
}

// Causes of a write, for logs.
const (
	causeRemoteChange = "remote change"
	causeRepair       = "repair" // the local object drifted or the link's configuration changed
)

func isConflict(err error) (*conflictError, bool) {
	var c *conflictError
	ok := errors.As(err, &c)
	return c, ok
}

func (e *Engine) serviceWriter() *writer[*corev1.Service] {
	return &writer[*corev1.Service]{
		kind: "Service", cluster: e.cluster, recent: e.recentServices, engine: e,
		client: func(ns string) objectClient[*corev1.Service] { return e.cfg.Local.CoreV1().Services(ns) },
		store:  func() cache.Store { return e.services.GetStore() },
	}
}

func (e *Engine) endpointsWriter() *writer[*corev1.Endpoints] {
	return &writer[*corev1.Endpoints]{
		kind: "Endpoints", cluster: e.cluster, recent: e.recentEndpoints, engine: e,
		client: func(ns string) objectClient[*corev1.Endpoints] { return e.cfg.Local.CoreV1().Endpoints(ns) },
		store:  func() cache.Store { return e.endpoints.GetStore() },
	}
}
