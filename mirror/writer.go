package mirror

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/metrics"
	"github.com/svcmirror/svcmirror/mirror/plan"
)

// objectClient is what a writer needs of a typed client; client-go's
// Service and Endpoints clients both fit.
type objectClient[T any] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
}

// object is a typed local object a writer handles.
type object interface {
	metav1.Object
	comparable
}

// writer writes one kind of local object, keeping the recent-writes
// overlay and the write metrics up to date. It decides nothing: the plan
// did.
type writer[T object] struct {
	kind   plan.Kind
	client func(namespace string) objectClient[T]
	// own sets a planned update's owned fields on the live object (one of
	// plan.OwnService, OwnEndpoints, OwnSlice).
	own     func(live, planned T) T
	recent  *recentWrites[T]
	metrics *metrics.Metrics
}

// conflictError means an object of the name we meant to write exists and
// is not ours to change; the plan could not see it because the local
// caches hold only this link's objects.
type conflictError struct {
	kind            plan.Kind
	namespace, name string
	why             string
}

func (e *conflictError) Error() string {
	return fmt.Sprintf("%s %s/%s already exists and %s; leaving it alone", e.kind, e.namespace, e.name, e.why)
}

func asConflict(err error) (*conflictError, bool) {
	var c *conflictError
	ok := errors.As(err, &c)
	return c, ok
}

// invalidError means the API server rejected an object we built (422):
// retrying cannot help until the remote Service changes.
type invalidError struct {
	kind            plan.Kind
	namespace, name string
	err             error
}

func (e *invalidError) Error() string {
	return fmt.Sprintf("the local API server rejects %s %s/%s as invalid: %v", e.kind, e.namespace, e.name, e.err)
}

func (e *invalidError) Unwrap() error { return e.err }

// create creates obj and returns what the API server stored.
func (w *writer[T]) create(ctx context.Context, obj T, cause string) (T, error) {
	var zero T
	ns, name := obj.GetNamespace(), obj.GetName()
	w.recent.sending(ns + "/" + name)
	defer w.recent.settle(ns + "/" + name)
	out, err := w.client(ns).Create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Our cache holds only our own objects: one we do not know of is
		// either foreign or so new that the cache lags. Look.
		live, getErr := w.client(ns).Get(ctx, name, metav1.GetOptions{})
		if getErr == nil {
			if why := plan.Conflict(live, obj); why != "" {
				return zero, &conflictError{w.kind, ns, name, why}
			}
			// Ours (a create whose answer was lost, or a cache that lags):
			// use what the API server holds, and let the next sync diff it.
			w.recent.wrote(live)
			return live, nil
		}
	}
	if apierrors.IsInvalid(err) {
		return zero, &invalidError{w.kind, ns, name, err}
	}
	if err != nil {
		return zero, fmt.Errorf("create %s %s/%s: %w", w.kind, ns, name, err)
	}
	w.wrote(ctx, out, "create", cause)
	return out, nil
}

// update writes planned, a copy of the cached object with our fields set.
// The cache keeps only the fields the plan compares (localcache.go), so
// what is written is the live object, read now, with those fields set:
// nothing someone else added to it, nor a field the API server assigned,
// is dropped. The read costs a GET; updates are rare next to creates.
func (w *writer[T]) update(ctx context.Context, planned T, cause string) (T, error) {
	var zero T
	ns, name := planned.GetNamespace(), planned.GetName()
	live, err := w.client(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return zero, fmt.Errorf("read %s %s/%s to update it: %w", w.kind, ns, name, err)
	}
	if live.GetUID() != planned.GetUID() {
		return zero, fmt.Errorf("update %s %s/%s: it was replaced since it was read", w.kind, ns, name)
	}
	if why := plan.Conflict(live, planned); why != "" {
		return zero, &conflictError{w.kind, ns, name, why}
	}
	w.recent.sending(ns + "/" + name)
	defer w.recent.settle(ns + "/" + name)
	out, err := w.client(ns).Update(ctx, w.own(live, planned), metav1.UpdateOptions{})
	if apierrors.IsInvalid(err) {
		return zero, &invalidError{w.kind, ns, name, err}
	}
	if err != nil {
		return zero, fmt.Errorf("update %s %s/%s: %w", w.kind, ns, name, err)
	}
	w.wrote(ctx, out, "update", cause)
	return out, nil
}

// delete deletes existing, the object as last seen.
func (w *writer[T]) delete(ctx context.Context, existing T, cause string) error {
	ns, name := existing.GetNamespace(), existing.GetName()
	uid := existing.GetUID()
	w.recent.sending(ns + "/" + name)
	defer w.recent.settle(ns + "/" + name)
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
	if w.metrics != nil {
		w.metrics.Wrote(string(w.kind), op)
		if w.kind == plan.KindEndpoints && op == "update" && cause == causeRepair {
			w.metrics.EndpointsRepaired()
		}
	}
	klog.FromContext(ctx).V(2).Info("Wrote mirror object", "kind", w.kind, "object", klog.KObj(obj), "operation", op, "cause", cause)
}

// Causes of a write, for logs.
const (
	causeRemoteChange = "remote change"
	causeRepair       = "repair" // the local object drifted or the link's configuration changed
	causeLinkDeleted  = "link deleted"
	causeRenamed      = "targetClusterName changed"
)
