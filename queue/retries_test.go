package queue_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/svcmirror/svcmirror/metrics"
	"github.com/svcmirror/svcmirror/queue"
)

// TestOnlyFailedSyncsCountAsRetries: the retries metric that the
// troubleshooting table points at counts real retries, not the delayed adds
// that batch status writes.
func TestOnlyFailedSyncsCountAsRetries(t *testing.T) {
	m := metrics.New() // installs the workqueue metrics provider first
	q := queue.New("retries-test")
	key := queue.ServiceKey("ns", "web")
	status := queue.Key{Kind: queue.KindStatus, Name: "link"}
	for range 100 {
		q.AddAfter(status, time.Millisecond)
	}
	synced := make(chan queue.Key, 10)
	failOnce := true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Run(ctx, 1, func(_ context.Context, k queue.Key) error {
			synced <- k
			if k == key && failOnce {
				failOnce = false
				return errors.New("transient")
			}
			return nil
		}, nil)
	}()
	q.Add(key)
	seen := map[queue.Key]int{}
	deadline := time.After(10 * time.Second)
	for seen[key] < 2 || seen[status] < 1 {
		select {
		case k := <-synced:
			seen[k]++
		case <-deadline:
			t.Fatalf("synced %v; want the Service twice (one retry) and the status once", seen)
		}
	}
	cancel()
	<-done
	q.ShutDown()
	if seen[status] != 1 {
		t.Errorf("100 delayed adds of the status key synced it %d times, want 1", seen[status])
	}
	if got := retries(t, m, "retries-test"); got != 1 {
		t.Errorf("svcmirror_workqueue_retries_total = %v, want 1 (the one failed sync)", got)
	}
}

func retries(t *testing.T, m *metrics.Metrics, name string) float64 {
	t.Helper()
	families, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "svcmirror_workqueue_retries_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "name" && strings.EqualFold(l.GetValue(), name) {
					return s.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no retries series for queue %s", name)
	return 0
}
