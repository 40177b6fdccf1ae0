package mirror

import (
	"context"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"
)

// turnInformer is an informer whose start is recorded and whose first list
// completes only when the test says so.
type turnInformer struct {
	cache.SharedIndexInformer // nil: only the methods below are called
	name                      string
	started                   chan struct{}
	synced                    chan struct{}
}

func newTurnInformer(name string) *turnInformer {
	return &turnInformer{name: name, started: make(chan struct{}), synced: make(chan struct{})}
}

func (t *turnInformer) RunWithContext(ctx context.Context) {
	close(t.started)
	<-ctx.Done()
}

func (t *turnInformer) HasSyncedChecker() cache.DoneChecker { return t }
func (t *turnInformer) Name() string                        { return t.name }
func (t *turnInformer) Done() <-chan struct{}               { return t.synced }

// isStarted reports whether inf's Run has been called, waiting up to wait.
func isStarted(inf *turnInformer, wait time.Duration) bool {
	select {
	case <-inf.started:
		return true
	case <-time.After(wait):
		return false
	}
}

func TestLocalInformersStartOneAfterAnother(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	services, endpoints, slices := newTurnInformer("services"), newTurnInformer("endpoints"), newTurnInformer("slices")
	namespaces := newTurnInformer("namespaces")
	l := &localState{inf: LocalInformers{Services: services, Endpoints: endpoints, Slices: slices, Namespaces: namespaces}}
	l.run(ctx)

	for _, inf := range []*turnInformer{namespaces, services} {
		if !isStarted(inf, 10*time.Second) {
			t.Fatalf("the %s informer was not started at once", inf.name)
		}
	}
	// A short wait can only miss a wrong start, never fail a right one.
	if isStarted(endpoints, 100*time.Millisecond) {
		t.Fatal("the endpoints informer started before the services one had synced")
	}
	close(services.synced)
	if !isStarted(endpoints, 10*time.Second) {
		t.Fatal("the endpoints informer was not started once the services one had synced")
	}
	if isStarted(slices, 100*time.Millisecond) {
		t.Fatal("the slices informer started before the endpoints one had synced")
	}
	close(endpoints.synced)
	if !isStarted(slices, 10*time.Second) {
		t.Fatal("the slices informer was not started once the endpoints one had synced")
	}
}

func TestRunInTurnStopsWhenCtxEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	first, second := newTurnInformer("first"), newTurnInformer("second")
	var wg sync.WaitGroup
	wg.Go(func() { runInTurn(ctx, first, second) })
	if !isStarted(first, 10*time.Second) {
		t.Fatal("the first informer was never started")
	}
	cancel()
	wg.Wait() // runInTurn returns although the first never synced
	if isStarted(second, 0) {
		t.Fatal("the second informer started after ctx ended, without the first having synced")
	}
}
