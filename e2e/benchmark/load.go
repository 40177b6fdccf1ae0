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
	// exportLabel is the conventional gateway-mode selector of testbed.LinkObject.
	exportLabel = "mirror.linkerd.io/exported"
	// revLabel is the label the propagation phase changes on remote Services.
	revLabel = "bench.svcmirror.io/rev"
	// namespaces spread the Services, as in a cluster with several teams.
	namespaces = 5
)

// remoteService is the i-th exported Service the benchmark makes in the
// target: selector-less, so its EndpointSlice is the benchmark's to write.
func remoteService(i int) *corev1.Service {
	name := fmt.Sprintf("svc-%05d", i)
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespaceOf(i), Name: name,
			Labels: map[string]string{"app": name, exportLabel: "true"},
		},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: "http", Protocol: corev1.ProtocolTCP, Port: 8080, TargetPort: intstr.FromInt32(8080)},
		}},
	}
}

func namespaceOf(i int) string { return fmt.Sprintf("bench-%d", i%namespaces) }

// remoteSlice is the EndpointSlice of remoteService(i) with m endpoints,
// all ready or all not ready.
func remoteSlice(i, m int, ready bool) *discoveryv1.EndpointSlice {
	svc := remoteService(i)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: svc.Namespace, Name: svc.Name + "-bench",
			Labels: map[string]string{
				discoveryv1.LabelServiceName: svc.Name,
				discoveryv1.LabelManagedBy:   "svcmirror-bench",
			},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}},
	}
	for j := 0; j < m; j++ {
		n := i*m + j
		ip := fmt.Sprintf("10.%d.%d.%d", 100+n>>16&0x3f, n>>8&0xff, n&0xff)
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(ready)},
		})
	}
	return slice
}

// remoteState is what the daemon should see of remote Service i.
func remoteState(svc *corev1.Service, m int, ready bool) plan.RemoteState {
	eps := make([]plan.RemoteEndpoint, m)
	for j := range eps {
		eps[j].Ready = ready
	}
	return plan.RemoteState{Service: svc, Endpoints: eps}
}

func ptr[T any](v T) *T { return &v }

// parallel runs do(0..n-1) on workers goroutines and returns the first
// error; it stops handing out work once one has failed.
func parallel(ctx context.Context, n, workers int, do func(ctx context.Context, i int) error) error {
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
