package queue

import (
	"context"
	"strconv"
	gosync "sync"
	"time"

	"k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// Back-off for transient errors, per key: 10ms, 20ms, 40ms, ... doubling up
// to 30s, then every 30s for as long as the error lasts. There is no give-up:
// a transient error (an unreachable API server, a write conflict) ends by
// itself, and the key must be synced when it does.
const (
	baseRetryDelay = 10 * time.Millisecond
	maxRetryDelay  = 30 * time.Second
)

// defaultDrainTimeout is how long the syncs in flight when Run's context
// ends may go on to finish their writes. Cutting them off mid-request would
// log every one as a failure (each is idempotent and the next process
// redoes it, so nothing is lost either way), which on every rolling update
// reads like an outage in the logs.
const defaultDrainTimeout = 5 * time.Second

// Outcome is what became of one sync, for metrics and logs.
type Outcome string

const (
	OutcomeSuccess    Outcome = "success"
	OutcomeRetry      Outcome = "retry"       // transient error: back-off
	OutcomeRetryAfter Outcome = "retry_after" // fixed wait (RetryAfter)
	OutcomePermanent  Outcome = "permanent"   // dropped until something changes
)

// SyncFunc brings one key up to date.
type SyncFunc func(ctx context.Context, key Key) error

// ResultFunc hears of every sync's outcome, on the sync's context.
type ResultFunc func(ctx context.Context, key Key, outcome Outcome, err error, took time.Duration)

// Queue is a named, rate-limited queue of Keys.
type Queue struct {
	q            workqueue.TypedRateLimitingInterface[Key]
	drainTimeout time.Duration

	mu      gosync.Mutex
	delayed map[Key]bool // keys AddAfter will add
}

// New makes a queue. Its name labels the workqueue metrics, so the metrics
// provider must be set (metrics.New does it) before the first New.
func New(name string) *Queue {
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[Key](baseRetryDelay, maxRetryDelay)
	return &Queue{
		q:            workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[Key]{Name: name}),
		drainTimeout: defaultDrainTimeout,
		delayed:      map[Key]bool{},
	}
}

// Add queues key now; a key already waiting is not queued twice.
func (q *Queue) Add(key Key) { q.q.Add(key) }

// AddAfter queues key after d, unless it is already waiting to be: the
// first call's time holds, so a burst of calls costs one sync (the Link
// status is written once a second at most this way). It is not a retry and
// is not counted as one; workqueue's own AddAfter would count it.
func (q *Queue) AddAfter(key Key, d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.delayed[key] {
		return
	}
	q.delayed[key] = true
	time.AfterFunc(d, func() {
		q.mu.Lock()
		delete(q.delayed, key)
		q.mu.Unlock()
		q.q.Add(key)
	})
}

// Len is the number of keys waiting.
func (q *Queue) Len() int { return q.q.Len() }

// ShutDown releases the queue (its delayed-add timer goroutine) once no Run
// is left to come. To stop a Run, cancel its context: ShutDown alone would
// let the workers sync every key still queued before they return.
func (q *Queue) ShutDown() { q.q.ShutDown() }

// Run starts workers that sync keys until ctx ends. Then no new sync
// starts, and the syncs in flight get up to the drain timeout to finish
// before their context is cancelled; Run returns when they have. Keys
// still queued stay queued: Run may be called again (a leader that lost
// its lease and wins it back runs a new term on the same queue).
func (q *Queue) Run(ctx context.Context, workers int, sync SyncFunc, result ResultFunc) {
	// Syncs run on a context with ctx's values that outlives it.
	syncCtx, cancelSyncs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSyncs()
	var wg gosync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer runtime.HandleCrashWithContext(ctx)
			for q.processNext(ctx, syncCtx, sync, result) {
			}
		}()
	}
	<-ctx.Done()
	// Workers blocked in Get wake on a key of their own; one that gets a
	// real key instead puts it back for the next Run and stops.
	for i := 0; i < workers; i++ {
		q.q.Add(Key{Kind: kindWake, Name: strconv.Itoa(i)})
	}
	drainEnds := time.AfterFunc(q.drainTimeout, cancelSyncs)
	defer drainEnds.Stop()
	wg.Wait()
}

// processNext is the only place that calls Done, Forget and the re-adds,
// so that every key's back-off state has one owner. Once ctx has ended it
// starts nothing: the keys still queued are the next process's.
func (q *Queue) processNext(ctx, syncCtx context.Context, sync SyncFunc, result ResultFunc) bool {
	key, shutdown := q.q.Get()
	if shutdown {
		return false
	}
	defer q.q.Done(key)
	if key.Kind == kindWake {
		return ctx.Err() == nil // left over from an earlier Run: ignore it
	}
	if ctx.Err() != nil {
		q.q.Add(key) // queued again once Done: it is the next Run's
		return false
	}

	start := time.Now()
	keyCtx := klog.NewContext(syncCtx, klog.FromContext(syncCtx).WithValues("key", key.String()))
	err := sync(keyCtx, key)
	took := time.Since(start)

	outcome := OutcomeSuccess
	switch {
	case err == nil:
		q.q.Forget(key)
	case IsPermanent(err):
		q.q.Forget(key)
		outcome = OutcomePermanent
	default:
		if d, ok := retryDelay(err); ok {
			q.q.Forget(key)
			q.q.AddAfter(key, d)
			outcome = OutcomeRetryAfter
		} else {
			q.q.AddRateLimited(key)
			outcome = OutcomeRetry
		}
	}
	if result != nil {
		result(keyCtx, key, outcome, err, took)
	}
	return true
}
