package queue

import (
	"context"
	"testing"
	"time"
)

// waitClosed fails the test if ch is not closed within 10 s.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// runInBackground runs q until the returned cancel; done closes when Run
// has returned.
func runInBackground(q *Queue, workers int, sync SyncFunc, result ResultFunc) (cancel context.CancelFunc, done chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { q.Run(ctx, workers, sync, result); close(done) }()
	return cancel, done
}

func TestShutdownLetsTheSyncInFlightFinishAndStartsNoOther(t *testing.T) {
	first, queued := ServiceKey("ns", "first"), ServiceKey("ns", "queued")
	started, release := make(chan struct{}), make(chan struct{})
	syncErr := make(chan error, 2)
	synced := make(chan Key, 2)
	q := New("test")
	cancel, done := runInBackground(q, 1, func(ctx context.Context, key Key) error {
		synced <- key
		if key == first {
			close(started)
			<-release
		}
		syncErr <- ctx.Err()
		return ctx.Err()
	}, nil)
	defer cancel()
	q.Add(first)
	waitClosed(t, started, "the first sync to start")
	q.Add(queued)
	cancel()
	close(release)
	waitClosed(t, done, "Run to return")
	if err := <-syncErr; err != nil {
		t.Errorf("the sync in flight at shutdown saw its context end (%v); it should have been let finish", err)
	}
	close(synced)
	var got []Key
	for k := range synced {
		got = append(got, k)
	}
	if len(got) != 1 || got[0] != first {
		t.Errorf("synced %v after shutdown began; want only %v, the key already in flight", got, first)
	}
}

func TestShutdownCancelsSyncsThatOutlastTheDrain(t *testing.T) {
	key := ServiceKey("ns", "slow")
	started := make(chan struct{})
	outcome := make(chan error, 1)
	q := New("test")
	q.drainTimeout = 50 * time.Millisecond
	cancel, done := runInBackground(q, 1, func(ctx context.Context, _ Key) error {
		close(started)
		<-ctx.Done() // a write that never answers
		return ctx.Err()
	}, func(_ context.Context, _ Key, _ Outcome, err error, _ time.Duration) { outcome <- err })
	defer cancel()
	q.Add(key)
	waitClosed(t, started, "the sync to start")
	cancel()
	waitClosed(t, done, "Run to return after the drain timeout")
	if err := <-outcome; err != context.Canceled {
		t.Errorf("the hung sync ended with %v, want context.Canceled", err)
	}
}

// TestAKeyLeftAtTheEndOfARunIsSyncedByTheNext: a leader that loses its
// lease stops at once, and what it had not synced yet is the next term's.
func TestAKeyLeftAtTheEndOfARunIsSyncedByTheNext(t *testing.T) {
	first, queued := ServiceKey("ns", "first"), ServiceKey("ns", "queued")
	started, release := make(chan struct{}), make(chan struct{})
	synced := make(chan Key, 4)
	q := New("test-terms")
	defer q.ShutDown()
	sync := func(_ context.Context, key Key) error {
		synced <- key
		if key == first {
			close(started)
			<-release
		}
		return nil
	}
	cancel, done := runInBackground(q, 2, sync, nil)
	q.Add(first)
	waitClosed(t, started, "the first sync to start")
	cancel()
	q.Add(queued)
	close(release)
	waitClosed(t, done, "the first Run to return")
	if got := len(synced); got != 1 {
		t.Fatalf("the first Run synced %d keys after its end; want only the one in flight", got)
	}
	<-synced

	cancel2, done2 := runInBackground(q, 2, sync, nil)
	defer func() { cancel2(); <-done2 }()
	select {
	case got := <-synced:
		if got != queued {
			t.Fatalf("the second Run synced %v, want %v", got, queued)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the key left by the first Run was never synced by the second")
	}
}
