package mirror

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/mirror/plan"
)

// apply carries out a plan in order and returns how many writes it made.
// It stops at the first error: every write is idempotent and the retry
// plans again from fresh state.
func (s *serviceSyncer) apply(ctx context.Context, link *plan.Link, namespace string, p *plan.Plan, cause string) (writes int, err error) {
	if p.CreateNamespace {
		created, err := s.ensureNamespace(ctx, namespace, link.TargetClusterName)
		if err != nil {
			return 0, err
		}
		if created {
			writes++
		}
	}
	var ips map[string]string
	if p.Headless != nil {
		ips = maps.Clone(p.Headless.ClusterIPs)
	}
	for _, c := range p.Changes {
		out, err := s.local.write(ctx, c, cause)
		if err != nil {
			return writes, err
		}
		writes++
		// The second phase needs the ClusterIPs the API server assigned.
		if svc, ok := out.(*corev1.Service); ok && ips != nil && svc.Labels[plan.LabelHeadlessMirrorSvcName] != "" {
			ips[svc.Name] = svc.Spec.ClusterIP
		}
	}
	if p.Headless == nil {
		return writes, nil
	}
	for _, c := range p.Headless.Changes(ips) {
		if _, err := s.local.write(ctx, c, cause); err != nil {
			return writes, err
		}
		writes++
	}
	return writes, nil
}

// write carries out one change and returns the object now in the cluster
// (nil after a delete).
func (l *localState) write(ctx context.Context, c plan.Change, cause string) (metav1.Object, error) {
	switch obj := c.Object.(type) {
	case *corev1.Service:
		existing, _ := c.Existing.(*corev1.Service)
		return writeChange(ctx, l.services, c.Action, obj, existing, cause)
	case *corev1.Endpoints:
		existing, _ := c.Existing.(*corev1.Endpoints)
		return writeChange(ctx, l.endpoints, c.Action, obj, existing, cause)
	case *discoveryv1.EndpointSlice:
		existing, _ := c.Existing.(*discoveryv1.EndpointSlice)
		return writeChange(ctx, l.slices, c.Action, obj, existing, cause)
	}
	return nil, fmt.Errorf("cannot write a %T", c.Object)
}

func writeChange[T object](ctx context.Context, w *writer[T], action plan.Action, obj, existing T, cause string) (metav1.Object, error) {
	switch action {
	case plan.ActionCreate:
		return w.create(ctx, obj, cause)
	case plan.ActionUpdate:
		return w.update(ctx, obj, cause)
	case plan.ActionDelete:
		return nil, w.delete(ctx, obj, cause)
	case plan.ActionRecreate:
		// A Service cannot change between headless and ClusterIP in place,
		// nor an EndpointSlice its address type.
		if err := w.delete(ctx, existing, cause+" (recreate)"); err != nil {
			return nil, err
		}
		return w.create(ctx, obj, cause)
	}
	return nil, fmt.Errorf("cannot apply action %v", action)
}

// ensureNamespace creates the mirror's namespace, with the ownership
// labels (svcmirror never deletes it).
func (s *serviceSyncer) ensureNamespace(ctx context.Context, namespace, cluster string) (created bool, err error) {
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace, Labels: plan.OwnershipLabels(cluster)}}
	_, err = s.client.CoreV1().Namespaces().Create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	klog.FromContext(ctx).Info("Created namespace for mirrors", "namespace", namespace)
	return true, nil
}
