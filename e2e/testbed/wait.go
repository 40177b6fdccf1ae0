package testbed

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Eventually polls cond every 50ms until it reports done, failing the test
// with cond's last explanation if timeout passes first. Tests wait on a
// condition with a deadline, never on a fixed sleep.
func Eventually(t testing.TB, timeout time.Duration, cond func() (done bool, why string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, why := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done after %s: %s", timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StartAll starts one cluster per name at the same time and returns them in
// order; see Start.
func StartAll(t testing.TB, names []string, opts ...func(*Options)) []*Cluster {
	t.Helper()
	clusters := make([]*Cluster, len(names))
	errs := make([]error, len(names))
	dirs := make([]string, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		dir, err := mkdirFor(t, name)
		if err != nil {
			t.Fatal(err)
		}
		dirs[i] = dir
		o := Options{Name: name, Dir: dir, Logf: t.Logf}
		for _, opt := range opts {
			opt(&o)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			clusters[i], errs[i] = New(ctx, o)
		}()
	}
	wg.Wait()
	for i := range names {
		cleanupCluster(t, clusters[i], dirs[i])
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start test cluster %s: %v", names[i], err)
		}
	}
	return clusters
}
