package mirror

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// How sync failures are told at the default log level: one line when they
// start, a summary at most once a minute while they go on, one line when
// none has happened for a while. An API server outage makes every worker
// fail every few milliseconds; logging each (11,021 lines in 17 s, seen)
// would drown what an operator needs, and logging none hides the outage.
const (
	failureSummaryEvery = time.Minute
	failureQuietAfter   = 10 * time.Second
)

// syncFailures collapses repeated sync failures into a few log lines.
type syncFailures struct {
	now func() time.Time

	mu          sync.Mutex
	failing     bool
	since       time.Time
	last        time.Time // the latest failure
	lastSummary time.Time
	count       int // failures since the episode began
	cause       string
}

func newSyncFailures() *syncFailures { return &syncFailures{now: time.Now} }

// failed records one failed sync; it logs only when an episode begins or a
// summary is due.
func (f *syncFailures) failed(ctx context.Context, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.count++
	f.last = now
	f.cause = rootCause(err)
	logger := klog.FromContext(ctx)
	switch {
	case !f.failing:
		f.failing, f.since, f.lastSummary, f.count = true, now, now, 1
		logger.Info("Syncs are failing; retrying with back-off", "cause", f.cause)
	case now.Sub(f.lastSummary) >= failureSummaryEvery:
		f.lastSummary = now
		logger.Info("Syncs still failing", "failures", f.count, "since", f.since.UTC().Format(time.RFC3339), "cause", f.cause)
	}
}

// tick ends an episode once no failure has happened for a while; the
// engine calls it periodically.
func (f *syncFailures) tick(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing && f.now().Sub(f.last) >= failureQuietAfter {
		klog.FromContext(ctx).Info("Syncs no longer failing", "failures", f.count, "lasted", f.last.Sub(f.since).Round(time.Second).String())
		f.failing, f.count = false, 0
	}
}

// run ticks until ctx ends.
func (f *syncFailures) run(ctx context.Context) {
	t := time.NewTicker(failureQuietAfter / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.tick(ctx)
		}
	}
}

// rootCause is the innermost error's message: "connect: connection
// refused" rather than one line per object it was about.
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
