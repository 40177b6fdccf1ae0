package benchmark

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/svcmirror/svcmirror/mirror/plan"
)

const (
	// exportLabel is the key of testbed.LinkObject's selectors: "true"
	// exports in gateway mode, "remote-discovery" in flat mode.
	exportLabel = "mirror.linkerd.io/exported"
	// revLabel is the label the propagation phase changes on remote Services.
	revLabel = "bench.svcmirror.io/rev"
	// namespaces spread the Services, as in a cluster with several teams.
	namespaces = 5
)

// exportValue is the value of exportLabel that testbed.LinkObject's
// selector for mode matches.
func exportValue(mode plan.Mode) string {
	if mode == plan.ModeRemoteDiscovery {
		return "remote-discovery"
	}
	return "true"
}

// remoteService is the i-th exported Service the benchmark makes in the
// target, exported in mode: selector-less, so its EndpointSlice is the
// benchmark's to write.
func remoteService(i int, mode plan.Mode) *corev1.Service {
	name := fmt.Sprintf("svc-%05d", i)
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespaceOf(i), Name: name,
			Labels: map[string]string{"app": name, exportLabel: exportValue(mode)},
		},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: "http", Protocol: corev1.ProtocolTCP, Port: 8080, TargetPort: intstr.FromInt32(8080)},
		}},
	}
}

func namespaceOf(i int) string { return fmt.Sprintf("bench-%d", i%namespaces) }

// remoteSlice is the EndpointSlice of remoteService(i) with m endpoints,
// all ready or all not ready (the API server leaves serving unset, which
// means ready's value).
func remoteSlice(i, m int, ready bool) *discoveryv1.EndpointSlice {
	svc := remoteService(i, plan.ModeGateway) // only its namespace and name matter here
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: svc.Namespace, Name: svc.Name + "-bench",
			Labels: map[string]string{
				discoveryv1.LabelServiceName: svc.Name,
				discoveryv1.LabelManagedBy:   "svcmirror-bench",
			},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       remoteSlicePorts(),
	}
	for j := 0; j < m; j++ {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{endpointIP(i, m, j)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(ready)},
		})
	}
	return slice
}

// remoteSlicePorts are the ports of every remote slice, with the protocol
// the API server defaults (TCP) spelt out, as the daemon's remote cache
// holds them.
func remoteSlicePorts() []discoveryv1.EndpointPort {
	return []discoveryv1.EndpointPort{{Name: ptr("http"), Protocol: ptr(corev1.ProtocolTCP), Port: ptr(int32(8080))}}
}

// endpointIP is the address of endpoint j of remote Service i's m: unique
// over the whole benchmark, so a flat mirror's slice names distinct pods.
func endpointIP(i, m, j int) string {
	n := i*m + j
	return fmt.Sprintf("10.%d.%d.%d", 100+n>>16&0x3f, n>>8&0xff, n&0xff)
}

// remoteState is what the daemon should see of remote Service svc, the
// i-th, with m endpoints all ready or all not: the same addresses, ports and
// conditions as remoteSlice(i, m, ready), since flat mirrors copy them.
func remoteState(svc *corev1.Service, i, m int, ready bool) plan.RemoteState {
	ports := remoteSlicePorts()
	eps := make([]plan.RemoteEndpoint, m)
	for j := range eps {
		eps[j] = plan.RemoteEndpoint{
			Ready: ready, Serving: ready,
			AddressType: discoveryv1.AddressTypeIPv4,
			Addresses:   []string{endpointIP(i, m, j)},
			Ports:       ports,
		}
	}
	return plan.RemoteState{Service: svc, Endpoints: eps}
}

func ptr[T any](v T) *T { return &v }

// Parallel runs do(0..n-1) on workers goroutines and returns the first
// error; it stops handing out work once one has failed.
func Parallel(ctx context.Context, n, workers int, do func(ctx context.Context, i int) error) error {
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := do(ctx, i); err != nil {
					errOnce.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
