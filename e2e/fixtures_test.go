package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

const (
	exportLabel   = "mirror.linkerd.io/exported"
	gatewayIP     = "192.0.2.10" // documentation range: valid in Endpoints, routes nowhere
	clusterName   = "target"
	gatewayPort   = 4143
	fqAnnotation  = "mirror.linkerd.io/remote-svc-fq-name"
	rvAnnotation  = "mirror.linkerd.io/remote-resource-version"
	gwIDAnnoation = "mirror.linkerd.io/remote-gateway-identity"
)

// linkedPair starts a source and a target cluster, links them with
// svcmirror's manifests and writes the Link with the given gateway.
func linkedPair(t testing.TB, extraSpec map[string]any, opts ...func(*testbed.Options)) *testbed.Pair {
	t.Helper()
	cs := testbed.StartAll(t, []string{"source", "target"}, opts...)
	ctx := context.Background()
	p, err := testbed.LinkClusters(ctx, cs[0], cs[1], clusterName)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ApplyLink(ctx, p.LinkObject(gatewayIP, extraSpec)); err != nil {
		t.Fatal(err)
	}
	return p
}

// svcOption shapes a remote Service.
type svcOption func(*corev1.Service)

func withLabels(kv ...string) svcOption {
	return func(s *corev1.Service) {
		for i := 0; i+1 < len(kv); i += 2 {
			s.Labels[kv[i]] = kv[i+1]
		}
	}
}

func exported(mode string) svcOption { return withLabels(exportLabel, mode) }

func withPorts(ports ...corev1.ServicePort) svcOption {
	return func(s *corev1.Service) { s.Spec.Ports = ports }
}

func headless() svcOption { return func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone } }

func httpPort(port int32) corev1.ServicePort {
	return corev1.ServicePort{Name: "http", Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(port)}
}

// makeRemoteService creates a Service selecting app=<name> in the target,
// with one ready pod behind it unless noPods.
func makeRemoteService(t testing.TB, c *testbed.Cluster, ns, name string, podIP string, opts ...svcOption) *corev1.Service {
	t.Helper()
	ctx := context.Background()
	if err := c.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{httpPort(8080)},
		},
	}
	for _, o := range opts {
		o(svc)
	}
	svc, err := c.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if podIP != "" {
		if _, err := c.ReadyPod(ctx, testbed.PodSpec{Namespace: ns, Name: name + "-0", Labels: map[string]string{"app": name}, IP: podIP}); err != nil {
			t.Fatal(err)
		}
	}
	return svc
}

// updateRemote applies change to the remote Service, retrying conflicts.
func updateRemote(t testing.TB, c *testbed.Cluster, ns, name string, change func(*corev1.Service)) *corev1.Service {
	t.Helper()
	ctx := context.Background()
	for i := 0; ; i++ {
		svc, err := c.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		change(svc)
		svc, err = c.Client.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{})
		if err == nil {
			return svc
		}
		if !apierrors.IsConflict(err) || i > 5 {
			t.Fatal(err)
		}
	}
}

// waitService waits until the local Service ns/name satisfies ok.
func waitService(t testing.TB, c *testbed.Cluster, ns, name string, ok func(*corev1.Service) (bool, string)) *corev1.Service {
	t.Helper()
	var got *corev1.Service
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		svc, err := c.Client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got = svc
		return ok(svc)
	})
	return got
}

// waitEndpoints waits until the local Endpoints ns/name satisfy ok.
func waitEndpoints(t testing.TB, c *testbed.Cluster, ns, name string, ok func(*corev1.Endpoints) (bool, string)) *corev1.Endpoints {
	t.Helper()
	var got *corev1.Endpoints
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		ep, err := c.Client.CoreV1().Endpoints(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got = ep
		return ok(ep)
	})
	return got
}

// waitGone waits until neither a Service nor Endpoints ns/name exist.
func waitGone(t testing.TB, c *testbed.Cluster, ns, name string) {
	t.Helper()
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		_, errS := c.Client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
		_, errE := c.Client.CoreV1().Endpoints(ns).Get(context.Background(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(errS) && apierrors.IsNotFound(errE), fmt.Sprintf("Service: %v, Endpoints: %v", errS, errE)
	})
}

func exists(t testing.TB, c *testbed.Cluster, ns, name string) bool {
	t.Helper()
	_, err := c.Client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// gatewayAddresses returns the ready and not-ready IPs of Endpoints.
func gatewayAddresses(ep *corev1.Endpoints) (ready, notReady []string) {
	for _, s := range ep.Subsets {
		for _, a := range s.Addresses {
			ready = append(ready, a.IP)
		}
		for _, a := range s.NotReadyAddresses {
			notReady = append(notReady, a.IP)
		}
	}
	return ready, notReady
}

func unstructuredOf(m map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: m}
}
