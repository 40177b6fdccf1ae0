package benchmark

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/mirror/plan"
)

// createRemote makes the exported Services and their EndpointSlices.
func (r *sizeRun) createRemote(ctx context.Context) error {
	r.remote = make([]*corev1.Service, r.n)
	start := time.Now()
	retried := func(err error) { r.logf("remote set-up: retrying a create the API server did not finish: %v", err) }
	err := Parallel(ctx, r.n, r.opts.Workers, func(ctx context.Context, i int) error {
		want := remoteService(i, r.opts.mode())
		svc, err := createRetrying(ctx, func(ctx context.Context) (*corev1.Service, error) {
			return r.tgt.CoreV1().Services(want.Namespace).Create(ctx, want, metav1.CreateOptions{})
		}, func(ctx context.Context) (*corev1.Service, error) {
			return r.tgt.CoreV1().Services(want.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
		}, retried)
		if err != nil {
			return err
		}
		r.remote[i] = svc
		slice := remoteSlice(i, r.opts.Endpoints, true)
		_, err = createRetrying(ctx, func(ctx context.Context) (*discoveryv1.EndpointSlice, error) {
			return r.tgt.DiscoveryV1().EndpointSlices(svc.Namespace).Create(ctx, slice, metav1.CreateOptions{})
		}, func(ctx context.Context) (*discoveryv1.EndpointSlice, error) {
			return r.tgt.DiscoveryV1().EndpointSlices(svc.Namespace).Get(ctx, slice.Name, metav1.GetOptions{})
		}, retried)
		return err
	})
	r.res.RemoteSetup = time.Since(start)
	return err
}

// desired is what the mirror of remote Service i must be with its
// endpoints ready or not, in the run's mode, with the daemon's default
// output (Endpoints and EndpointSlices; flat mirrors get the remote pods'
// addresses in slices and no Endpoints).
func (r *sizeRun) desired(i int, ready bool) (*plan.Desired, error) {
	gw := plan.Gateway{Addresses: []plan.GatewayAddress{{IP: gatewayIP, Alive: true}}}
	return plan.DesiredWith(r.link, remoteState(r.remote[i], i, r.opts.Endpoints, ready), r.opts.mode(), gw, plan.DefaultOutput())
}

// allDesired is every mirror as the remote state asks for it.
func (r *sizeRun) allDesired() ([]*plan.Desired, error) {
	all := make([]*plan.Desired, r.n)
	for i := range all {
		d, err := r.desired(i, true)
		if err != nil {
			return nil, err
		}
		all[i] = d
	}
	return all, nil
}

// expectDesired makes every mirror as the remote state asks for it the
// tracker's expectation.
func (r *sizeRun) expectDesired() error {
	all, err := r.allDesired()
	if err != nil {
		return err
	}
	r.expectAll(all)
	return nil
}

// expectAll replaces the tracker's expectations with all.
func (r *sizeRun) expectAll(all []*plan.Desired) {
	r.tracker.forget()
	for _, d := range all {
		r.tracker.expect(d.Service.Namespace, d.Service.Name, d)
	}
}

// floorNamespace is where the floor writes its copy of the mirrors of
// namespace ns. Not ns itself: deleting a Service makes
// kube-controller-manager's endpoints controller delete the Endpoints of
// that name, and it may do so late, after the daemon has written its own.
func floorNamespace(ns string) string { return "floor-" + ns }

// measureFloor creates the very objects svcmirror would write (in the floor
// namespaces), directly and with high parallelism, then deletes them; the
// daemon starts from nothing.
func (r *sizeRun) measureFloor(ctx context.Context) error {
	all, err := r.allDesired()
	if err != nil {
		return err
	}
	keys := make([]string, r.n)
	var creates []func(ctx context.Context) error
	for i, d := range all {
		ns := floorNamespace(d.Service.Namespace)
		d.Service.Namespace = ns
		creates = append(creates, func(ctx context.Context) error {
			_, err := r.src.CoreV1().Services(ns).Create(ctx, d.Service, metav1.CreateOptions{})
			return err
		})
		if d.Endpoints != nil {
			d.Endpoints.Namespace = ns
			creates = append(creates, func(ctx context.Context) error {
				_, err := r.src.CoreV1().Endpoints(ns).Create(ctx, d.Endpoints, metav1.CreateOptions{})
				return err
			})
		}
		if len(d.Slices) != 1 {
			return fmt.Errorf("the floor writes one EndpointSlice per mirror; %s has %d", d.Service.Name, len(d.Slices))
		}
		slice := d.Slices[0]
		slice.Namespace = ns
		creates = append(creates, func(ctx context.Context) error {
			_, err := r.src.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{})
			return err
		})
		keys[i] = ns + "/" + d.Service.Name
	}
	r.expectAll(all)
	start := time.Now()
	err = Parallel(ctx, len(creates), r.opts.Workers, func(ctx context.Context, i int) error { return creates[i](ctx) })
	if err != nil {
		return err
	}
	if err := r.tracker.waitRight(ctx, r.patience(10*time.Minute), "the floor's objects", keys); err != nil {
		return err
	}
	r.thisRound().Floor = time.Since(start)

	start = time.Now()
	if err := r.deleteMirrors(ctx, keys, "the floor's objects"); err != nil {
		return err
	}
	r.thisRound().FloorDelete = time.Since(start)
	return nil
}

// objectsPerMirror is how many objects deleteMirrors deletes for each
// mirror: its Service, Endpoints (gateway mode only; a flat mirror's is
// NotFound) and one EndpointSlice.
const objectsPerMirror = 3

// deleteMirrors deletes the Service, Endpoints and EndpointSlice of each
// "namespace/name" in keys, Workers in flight, and waits until the tracker
// sees none left and kube-controller-manager has removed any EndpointSlices
// it mirrored, so that the next measurement starts on a settled cluster.
func (r *sizeRun) deleteMirrors(ctx context.Context, keys []string, what string) error {
	err := Parallel(ctx, objectsPerMirror*len(keys), r.opts.Workers, func(ctx context.Context, i int) error {
		ns, name, _ := strings.Cut(keys[i/objectsPerMirror], "/")
		var err error
		switch i % objectsPerMirror {
		case 0:
			return r.src.CoreV1().Services(ns).Delete(ctx, name, metav1.DeleteOptions{})
		case 1:
			err = r.src.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
		default:
			err = r.src.DiscoveryV1().EndpointSlices(ns).Delete(ctx, plan.SliceName(name, discoveryv1.AddressTypeIPv4, 0), metav1.DeleteOptions{})
		}
		if apierrors.IsNotFound(err) {
			return nil // the endpoints controller removed it with its Service
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := r.tracker.waitEmpty(ctx, r.patience(10*time.Minute), what+" to go"); err != nil {
		return err
	}
	return r.waitNoMirroredSlices(ctx)
}

// waitNoMirroredSlices waits until kube-controller-manager has deleted the
// EndpointSlices it mirrored from the floor's Endpoints; like every phase
// that touches every mirror, it is given longer as N grows (patience).
func (r *sizeRun) waitNoMirroredSlices(ctx context.Context) error {
	selector := discoveryv1.LabelManagedBy + "=endpointslicemirroring-controller.k8s.io"
	wait := r.patience(5 * time.Minute)
	deadline := time.Now().Add(wait)
	for {
		list, err := r.src.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{LabelSelector: selector, Limit: 1})
		if err != nil {
			return err
		}
		if len(list.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mirrored EndpointSlices of the floor still present after %s", wait.Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// patience is how long a phase that writes or deletes every mirror may
// take: base, plus three times the remote set-up. The set-up is the same
// kind of work on a twin API server, and both slow down with N faster than
// linearly (kube-apiserver 1.36 counts every allocated ClusterIP on each
// allocation and release, for its gauges), so a fixed deadline that suits
// 10,000 Services cut the 50,000 run's convergence short.
func (r *sizeRun) patience(base time.Duration) time.Duration {
	return base + 3*r.res.RemoteSetup
}
