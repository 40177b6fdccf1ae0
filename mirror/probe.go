package mirror

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/queue"
)

// probeKey is the queue key of the Link's probe objects.
func (e *Engine) probeKey() queue.Key {
	return queue.Key{Kind: queue.KindProbe, Namespace: e.cfg.Namespace, Name: e.cfg.LinkName}
}

// syncProbe keeps the probe Service and Endpoints probe-gateway-<link>
// pointing at the gateway's probe port, as Linkerd's controller does;
// `linkerd multicluster check` fails without their endpoints. They are two
// objects, synced only when the Link or the gateway set changes, so they
// are read live rather than cached.
func (e *Engine) syncProbe(ctx context.Context) error {
	link := e.conn.snapshot().Link
	if link == nil {
		return nil
	}
	name := plan.ProbeName(link.Name)
	svc, err := e.cfg.Local.CoreV1().Services(link.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("read probe Service: %w", err)
	}
	if apierrors.IsNotFound(err) {
		svc = nil
	}
	ep, err := e.cfg.Local.CoreV1().Endpoints(link.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("read probe Endpoints: %w", err)
	}
	if apierrors.IsNotFound(err) {
		ep = nil
	}
	changes, skip := plan.PlanProbe(link, e.gw.current(), svc, ep)
	if skip != nil {
		if skip.Message != e.lastProbeProblem {
			e.lastProbeProblem = skip.Message
			klog.FromContext(ctx).Info("Probe objects not written", "reason", skip.Reason, "detail", skip.Message)
			e.status.warn(e.conn.snapshot().LinkObj, skip.Reason, skip.Message)
		}
		return queue.RetryAfter(skip, e.cfg.ConflictRetry)
	}
	e.lastProbeProblem = ""
	for _, c := range changes {
		if _, err := e.local.write(ctx, c, causeRepair); err != nil {
			return err
		}
	}
	return nil
}
