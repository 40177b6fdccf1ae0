package mirror

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/queue"
)

// Election configures leader election among the replicas serving one Link.
type Election struct {
	// Identity names this replica in the Lease (the pod's name).
	Identity string
	// LeaseDuration is how long a lease holds without renewal: a standby
	// takes over at most this long after the leader last renewed.
	// RenewDeadline is how long the leader keeps trying to renew before it
	// stops writing; it must be shorter, so that a leader cut off from the
	// API server has stopped before anyone else can take over.
	// RetryPeriod is how often a candidate tries to acquire or renew.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// elect runs leader election until ctx ends: while this replica holds the
// Lease it writes (lead); otherwise it is a standby whose caches stay warm,
// so that a takeover writes only what actually changed.
func (e *Engine) elect(ctx context.Context) {
	logger := klog.FromContext(ctx)
	el := e.cfg.Election
	e.electing.Store(true)
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: e.cfg.Namespace, Name: plan.LeaseName(e.cfg.LinkName)},
		Client:     e.cfg.Local.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: el.Identity},
	}
	// The elector outlives ctx until the last term has drained its writes;
	// only then is the Lease released (release, not client-go's
	// ReleaseOnCancel, which would also delay noticing a lost lease by a
	// release attempt of up to RenewDeadline against a dead API server), so
	// no other replica writes while this one still does.
	electCtx, stopElecting := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElecting()
	for ctx.Err() == nil {
		elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:          lock,
			LeaseDuration: el.LeaseDuration,
			RenewDeadline: el.RenewDeadline,
			RetryPeriod:   el.RetryPeriod,
			Name:          plan.LeaseName(e.cfg.LinkName),
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lease context.Context) {
					e.lead(ctx, lease)
					if ctx.Err() != nil {
						stopElecting() // drained: now release the Lease
					}
				},
				OnStoppedLeading: func() {},
				OnNewLeader: func(identity string) {
					if identity != el.Identity {
						logger.Info("Standing by; another replica is the leader", "leader", identity, "identity", el.Identity)
					}
				},
			},
		})
		if err != nil {
			logger.Error(err, "Leader election is misconfigured; not writing")
			<-ctx.Done()
			return
		}
		stopWhenIdle := context.AfterFunc(ctx, func() {
			if !e.leading.Load() {
				stopElecting() // a standby has nothing to drain
			}
		})
		elector.Run(electCtx)
		stopWhenIdle()
	}
	// Wait for the last term to drain, then hand the Lease over at once
	// instead of making the next leader wait for it to lapse.
	e.termMu.Lock()
	defer e.termMu.Unlock()
	release(context.WithoutCancel(ctx), lock, el)
}

// release gives up the Lease if this replica still holds it, the way
// client-go's elector does: no holder and a one-second duration.
func release(ctx context.Context, lock resourcelock.Interface, el *Election) {
	ctx, cancel := context.WithTimeout(ctx, el.RenewDeadline)
	defer cancel()
	record, _, err := lock.Get(ctx)
	if err != nil || record.HolderIdentity != el.Identity {
		return
	}
	now := metav1.NewTime(time.Now())
	err = lock.Update(ctx, resourcelock.LeaderElectionRecord{
		LeaderTransitions: record.LeaderTransitions, LeaseDurationSeconds: 1, RenewTime: now, AcquireTime: now,
	})
	if err != nil {
		klog.FromContext(ctx).Info("Could not release the Lease; another replica takes over once it lapses", "err", err)
		return
	}
	klog.FromContext(ctx).Info("Released the Lease")
}

// lead runs one term as the writer: the queue's workers sync every key
// until the lease is lost (in-flight writes are cancelled at once, nothing
// new starts) or ctx ends (in-flight writes drain first).
func (e *Engine) lead(ctx, lease context.Context) {
	logger := klog.FromContext(ctx)
	// One term at a time: after a lost lease the next term waits until
	// this one's cancelled writes have returned.
	e.termMu.Lock()
	defer e.termMu.Unlock()
	if lease.Err() != nil {
		return
	}
	e.setLeading(true)
	defer e.setLeading(false)
	e.credentialsOnLeading()
	if e.cfg.Election != nil {
		logger.Info("Became the leader; writing", "identity", e.cfg.Election.Identity)
	}
	termCtx, endTerm := context.WithCancel(ctx)
	defer endTerm()
	stop := context.AfterFunc(lease, endTerm)
	defer stop()
	// Everything is planned again: the standby's caches are warm, so this
	// writes only what changed while another replica (or none) led.
	e.queue.Add(e.linkKey())
	e.enqueueAll()
	e.queue.Run(termCtx, e.cfg.Workers, func(syncCtx context.Context, key queue.Key) error {
		syncCtx, cancel := context.WithCancel(syncCtx)
		defer cancel()
		defer context.AfterFunc(lease, cancel)()
		return e.sync(syncCtx, key)
	}, e.result)
	if ctx.Err() == nil {
		logger.Info("Lost the lease; stopped writing and standing by")
	}
}

func (e *Engine) setLeading(on bool) {
	e.leading.Store(on)
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.Leader(on)
	}
}
