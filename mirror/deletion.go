package mirror

import (
	"context"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/queue"
)

// beginDeletion switches the engine to removing every mirror of the link:
// with the Link marked as being deleted, every Service sync plans removals.
func (e *Engine) beginDeletion(link *plan.Link) {
	e.conn.beginDeletion(link)
	e.enqueueAll()
}

// finishDeletion removes the Link's finalizer once no mirror is left;
// until then it checks again every second.
func (e *Engine) finishDeletion(ctx context.Context, obj *unstructured.Unstructured, link *plan.Link) error {
	if old := e.conn.snapshot().Link; old == nil || !old.DeletionRequested {
		klog.FromContext(ctx).Info("Link is being deleted; removing its mirrors")
		e.beginDeletion(link)
	}
	if err := e.deleteUnattributed(ctx); err != nil {
		return err
	}
	if err := e.removeEarlierMirrors(ctx, obj, link); err != nil {
		return err
	}
	if err := e.syncProbe(ctx); err != nil {
		return err
	}
	if left := len(e.local.objects()); left > 0 {
		return queue.RetryAfter(fmt.Errorf("%d mirror objects left to delete", left), time.Second)
	}
	if !slices.Contains(obj.GetFinalizers(), Finalizer) {
		return nil
	}
	updated := obj.DeepCopy()
	updated.SetFinalizers(slices.DeleteFunc(updated.GetFinalizers(), func(f string) bool { return f == Finalizer }))
	if _, err := e.cfg.Dynamic.Resource(plan.LinkGVR).Namespace(obj.GetNamespace()).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("remove finalizer from Link: %w", err)
	}
	klog.FromContext(ctx).Info("All mirrors removed; released the Link")
	return nil
}

// deleteUnattributed deletes this link's objects whose remote Service
// cannot be read from their annotations: no Service key would ever reach
// them, and the Link's deletion must not wait for them forever.
func (e *Engine) deleteUnattributed(ctx context.Context) error {
	for _, obj := range e.local.objects() {
		if attributed(obj) {
			continue
		}
		var err error
		switch o := obj.(type) {
		case *cachedService:
			err = e.local.services.delete(ctx, o.api(), causeLinkDeleted)
		case *cachedEndpoints:
			err = e.local.endpoints.delete(ctx, o.api(), causeLinkDeleted)
		case *cachedSlice:
			err = e.local.slices.delete(ctx, o.api(), causeLinkDeleted)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
