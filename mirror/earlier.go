package mirror

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/queue"
)

// removeEarlierMirrors deletes the mirrors this Link wrote under an
// earlier targetClusterName (recorded in its cluster-names annotation),
// then forgets that name. The local caches hold only the current name's
// objects, so these are listed live; an object is ours when it carries the
// ownership labels of that name and a remote-svc-fq-name. A name that
// another Link in the namespace now uses is left alone and reported.
func (e *Engine) removeEarlierMirrors(ctx context.Context, obj *unstructured.Unstructured, link *plan.Link) error {
	earlier := plan.EarlierClusterNames(obj.GetAnnotations(), e.cluster)
	if len(earlier) == 0 {
		return nil
	}
	logger := klog.FromContext(ctx)
	inUse, err := e.clusterNamesOfOtherLinks(ctx, link)
	if err != nil {
		return err
	}
	annotations := obj.GetAnnotations()
	forgotten := false
	for _, name := range earlier {
		if inUse[name] {
			e.status.warn(obj, "ClusterNameInUse", fmt.Sprintf("mirrors under the earlier targetClusterName %q are kept: another Link uses that name", name))
			continue
		}
		removed, err := e.deleteMirrorsOf(ctx, name)
		if err != nil {
			return err
		}
		if removed > 0 {
			logger.Info("Removed the mirrors left under an earlier targetClusterName", "earlierClusterName", name, "objects", removed)
			// Deletions settle before the name is forgotten: the next pass
			// confirms nothing is left.
			return queue.RetryAfter(fmt.Errorf("removed %d mirror objects of %q; checking again", removed, name), time.Second)
		}
		annotations[plan.AnnotationClusterNames] = plan.WithoutClusterName(annotations, name)
		forgotten = true
	}
	if !forgotten {
		return nil
	}
	updated := obj.DeepCopy()
	updated.SetAnnotations(annotations)
	if _, err := e.cfg.Dynamic.Resource(plan.LinkGVR).Namespace(obj.GetNamespace()).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("forget earlier cluster names on the Link: %w", err)
	}
	return nil
}

// deleteMirrorsOf deletes every mirror Service and Endpoints labelled for
// cluster name, returning how many it deleted.
func (e *Engine) deleteMirrorsOf(ctx context.Context, name string) (int, error) {
	selector := metav1.ListOptions{LabelSelector: plan.LocalSelector(name).String()}
	services, err := e.cfg.Local.CoreV1().Services("").List(ctx, selector)
	if err != nil {
		return 0, fmt.Errorf("list mirrors of %q: %w", name, err)
	}
	endpoints, err := e.cfg.Local.CoreV1().Endpoints("").List(ctx, selector)
	if err != nil {
		return 0, fmt.Errorf("list mirrors of %q: %w", name, err)
	}
	n := 0
	for i := range endpoints.Items {
		if ep := &endpoints.Items[i]; attributed(ep) {
			if err := e.local.endpoints.delete(ctx, ep, causeRenamed); err != nil {
				return n, err
			}
			n++
		}
	}
	for i := range services.Items {
		if svc := &services.Items[i]; attributed(svc) {
			if err := e.local.services.delete(ctx, svc, causeRenamed); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func attributed(obj metav1.Object) bool {
	_, _, ok := plan.RemoteOf(obj)
	return ok
}

// clusterNamesOfOtherLinks lists the targetClusterNames of the other Links
// in the namespace.
func (e *Engine) clusterNamesOfOtherLinks(ctx context.Context, link *plan.Link) (map[string]bool, error) {
	list, err := e.cfg.Dynamic.Resource(plan.LinkGVR).Namespace(link.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list Links: %w", err)
	}
	out := map[string]bool{}
	for i := range list.Items {
		other := &list.Items[i]
		if other.GetName() == link.Name {
			continue
		}
		if name, _, _ := unstructured.NestedString(other.Object, "spec", "targetClusterName"); name != "" {
			out[name] = true
		}
	}
	return out, nil
}
