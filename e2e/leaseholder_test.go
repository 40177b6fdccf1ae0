package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/utils/ptr"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

// TODO(lead): delete this file once the daemon's leader election writes
// the Lease service-mirror-write-<link> itself; TestCheck then reads the
// daemon's own Lease, and "no leader" is the daemon stopped.

// leaseHolder stands in for the daemon's leader election: it holds the
// Link's Lease as a leader would, renewing it every second, until stopped.
type leaseHolder struct {
	t        testing.TB
	leases   coordinationclient.LeaseInterface
	name     string
	identity string
	// duration is short, so that a stopped holder's Lease lapses within
	// seconds.
	duration time.Duration

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// holdLease writes the Lease service-mirror-write-<link> with identity as
// its holder and keeps renewing it until stop is called or the test ends.
func holdLease(t testing.TB, p *testbed.Pair, identity string) *leaseHolder {
	t.Helper()
	h := &leaseHolder{
		t:        t,
		leases:   p.Source.Client.CoordinationV1().Leases(testbed.LinkNamespace),
		name:     "service-mirror-write-" + p.ClusterName,
		identity: identity,
		duration: 3 * time.Second,
	}
	if err := h.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.stop)
	return h
}

// start renews the Lease now and then every second.
func (h *leaseHolder) start() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cancel != nil {
		return nil
	}
	if err := h.renew(context.Background()); err != nil {
		return fmt.Errorf("write Lease %s: %w", h.name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := h.renew(ctx); err != nil && ctx.Err() == nil {
					h.t.Logf("renew Lease %s: %v", h.name, err)
				}
			}
		}
	}(h.done)
	return nil
}

// stop stops renewing, as a leader that died would; the Lease stays.
func (h *leaseHolder) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cancel == nil {
		return
	}
	h.cancel()
	<-h.done
	h.cancel = nil
}

func (h *leaseHolder) renew(ctx context.Context) error {
	now := metav1.NowMicro()
	lease, err := h.leases.Get(ctx, h.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = h.leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: testbed.LinkNamespace, Name: h.name},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: ptr.To(h.identity), LeaseDurationSeconds: ptr.To(int32(h.duration / time.Second)),
				AcquireTime: &now, RenewTime: &now,
			},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.HolderIdentity, lease.Spec.RenewTime = ptr.To(h.identity), &now
	_, err = h.leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}
