package queue

import (
	"context"
	"errors"
	gosync "sync"
	"testing"
	"time"
)

// recorder collects outcomes from Run.
type recorder struct {
	mu       gosync.Mutex
	outcomes map[Key][]Outcome
	changed  chan struct{}
}

func newRecorder() *recorder {
	return &recorder{outcomes: map[Key][]Outcome{}, changed: make(chan struct{}, 1000)}
}

func (r *recorder) result(_ context.Context, key Key, o Outcome, _ error, _ time.Duration) {
	r.mu.Lock()
	r.outcomes[key] = append(r.outcomes[key], o)
	r.mu.Unlock()
	r.changed <- struct{}{}
}

func (r *recorder) waitFor(t *testing.T, key Key, n int) []Outcome {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		got := append([]Outcome(nil), r.outcomes[key]...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("key %v: %d outcomes %v, want at least %d", key, len(got), got, n)
		}
	}
}

func start(t *testing.T, sync SyncFunc, r *recorder) *Queue {
	t.Helper()
	q := New("test")
	cancel, done := runInBackground(q, 2, sync, r.result)
	t.Cleanup(func() { cancel(); <-done })
	return q
}

func TestTransientErrorsAreRetriedUntilTheySucceed(t *testing.T) {
	key := ServiceKey("ns", "web")
	var mu gosync.Mutex
	calls := 0
	r := newRecorder()
	q := start(t, func(context.Context, Key) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls < 4 {
			return errors.New("connection refused")
		}
		return nil
	}, r)
	q.Add(key)
	got := r.waitFor(t, key, 4)
	want := []Outcome{OutcomeRetry, OutcomeRetry, OutcomeRetry, OutcomeSuccess}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("outcomes %v, want %v", got, want)
		}
	}
}

func TestPermanentErrorsAreDroppedNotRetried(t *testing.T) {
	bad, good := ServiceKey("ns", "bad"), ServiceKey("ns", "good")
	r := newRecorder()
	q := start(t, func(_ context.Context, k Key) error {
		if k == bad {
			return Permanent(errors.New("service has no ports"))
		}
		return nil
	}, r)
	q.Add(bad)
	if got := r.waitFor(t, bad, 1); got[0] != OutcomePermanent {
		t.Fatalf("outcome %v, want permanent", got[0])
	}
	// A later key is processed while the permanent one stays dropped: once
	// "good" is done, "bad" must still have exactly one outcome.
	q.Add(good)
	r.waitFor(t, good, 1)
	r.mu.Lock()
	n := len(r.outcomes[bad])
	r.mu.Unlock()
	if n != 1 {
		t.Fatalf("permanent key synced %d times, want 1", n)
	}
}

func TestRetryAfterWaitsAtLeastTheDelay(t *testing.T) {
	key := ServiceKey("ns", "conflict")
	var mu gosync.Mutex
	var times []time.Time
	r := newRecorder()
	q := start(t, func(context.Context, Key) error {
		mu.Lock()
		defer mu.Unlock()
		times = append(times, time.Now())
		if len(times) == 1 {
			return RetryAfter(errors.New("foreign service in the way"), 200*time.Millisecond)
		}
		return nil
	}, r)
	q.Add(key)
	got := r.waitFor(t, key, 2)
	if got[0] != OutcomeRetryAfter || got[1] != OutcomeSuccess {
		t.Fatalf("outcomes %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if gap := times[1].Sub(times[0]); gap < 200*time.Millisecond {
		t.Fatalf("retried after %v, want at least 200ms", gap)
	}
}

func TestKeysAreComparableAndCollapse(t *testing.T) {
	q := New("collapse")
	defer q.ShutDown()
	for i := 0; i < 5; i++ {
		q.Add(ServiceKey("ns", "web"))
	}
	q.Add(Key{Kind: KindLink, Namespace: "ns", Name: "web"})
	if q.Len() != 2 {
		t.Fatalf("queue holds %d keys, want 2 (five adds of one key collapse)", q.Len())
	}
}

func TestErrorWrappersKeepTheCause(t *testing.T) {
	cause := errors.New("cause")
	if !errors.Is(Permanent(cause), cause) || !errors.Is(RetryAfter(cause, time.Second), cause) {
		t.Fatal("wrappers lose the cause")
	}
	if Permanent(nil) != nil || RetryAfter(nil, time.Second) != nil {
		t.Fatal("wrapping nil must stay nil")
	}
	if IsPermanent(cause) || !IsPermanent(Permanent(cause)) {
		t.Fatal("IsPermanent misjudges")
	}
}
