package mirror

import (
	"context"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/metrics"
	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/queue"
)

// serviceSyncer brings everything mirrored from one remote Service up to
// date, in one direction: observe (read caches into one value), plan (pure),
// apply (write), then report the outcome.
type serviceSyncer struct {
	conn  *connection
	local *localState
	// gateway is the gateway watcher's current set.
	gateway func() plan.Gateway
	// output chooses the endpoint objects mirrors get.
	output plan.Output
	// client creates missing namespaces when createNamespaces is set.
	client           kubernetes.Interface
	createNamespaces bool
	// conflictRetry is how often a mirror blocked by a foreign object is
	// tried again: no watch reports that object's end, since the local
	// caches hold only our own objects.
	conflictRetry time.Duration
	changes       *changeClock
	report        *reporter
	status        *statusReporter
	metrics       *metrics.Metrics
	// memory holds back new mirrors near the memory limit; nil: never.
	memory *memoryGuard
}

// sync is the queue's handler for Service keys.
func (s *serviceSyncer) sync(ctx context.Context, key queue.Key) error {
	snap := s.conn.snapshot()
	if snap.Link == nil {
		return nil
	}
	obs, ready, err := s.observe(ctx, key, snap)
	if err != nil || !ready {
		// Not ready: nothing can be concluded from an incomplete remote
		// cache; every key is queued again when it syncs.
		return err
	}
	p := plan.Make(obs)
	if s.memory.holdBack(p) {
		// Logged and sent as an Event once for the whole link by the guard;
		// counted here per Service, in the Link status and skip metric.
		s.status.heldBack(key, p.MirrorName, p.Skip.Reason, p.Skip.Message)
		return queue.RetryAfter(p.Skip, memoryRetry)
	}
	seenAt, fromRemote := s.changes.take(key)
	cause := causeRepair
	if fromRemote {
		cause = causeRemoteChange
	}
	writes, err := s.apply(ctx, snap.Link, key.Namespace, p, cause)

	klog.FromContext(ctx).V(4).Info("Synced remote Service", "service", klog.KRef(key.Namespace, key.Name),
		"outcome", string(p.Outcome), "mode", string(p.Mode), "mirror", p.MirrorName, "writes", writes, "cause", cause, "err", err)
	if s.metrics != nil && err == nil {
		if writes == 0 {
			s.metrics.NoopSync()
		} else if fromRemote {
			s.metrics.Propagated(time.Since(seenAt))
		}
	}
	return s.verdict(ctx, key, p, err)
}

// verdict records the outcome for the status and turns it into the
// queue's verdict: a conflict is retried on a timer, an invalid Service
// waits for the remote Service to change, anything else is retried with
// back-off.
func (s *serviceSyncer) verdict(ctx context.Context, key queue.Key, p *plan.Plan, err error) error {
	if c, ok := asConflict(err); ok {
		p.Skip = &plan.Skip{Reason: plan.ReasonConflict, Message: c.Error()}
	} else if inv, ok := err.(*invalidError); ok {
		p.Skip = &plan.Skip{Reason: plan.ReasonInvalidService, Message: inv.Error()}
	} else if err != nil {
		return err
	}
	switch {
	case p.Skip != nil:
		s.status.failed(ctx, key, p.MirrorName, p.Skip.Reason, p.Skip.Message)
		switch p.Skip.Reason {
		case plan.ReasonConflict:
			return queue.RetryAfter(p.Skip, s.conflictRetry)
		case plan.ReasonInvalidService:
			return queue.Permanent(p.Skip)
		}
		return nil // MissingNamespace: the namespace informer queues it again
	case p.Outcome == plan.OutcomeMirrored:
		if s.report.mirrored(key, p.Mode) {
			s.status.changed()
		}
	case p.Outcome == plan.OutcomeRemoved:
		if s.report.gone(key) {
			s.status.changed()
		}
	}
	return nil
}
