package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

// TestTestbedIsReal proves that the clusters the other tests run on behave
// as real ones: two run side by side, kube-controller-manager publishes
// Endpoints and EndpointSlices for ready pods, Services get ClusterIPs, and
// authentication is enforced.
func TestTestbedIsReal(t *testing.T) {
	clusters := testbed.StartAll(t, []string{"east", "west"})
	if clusters[0].Host == clusters[1].Host {
		t.Fatalf("both clusters serve at %s", clusters[0].Host)
	}
	for i, c := range clusters {
		t.Run(c.Name, func(t *testing.T) {
			ctx := context.Background()
			ns := "bed"
			mustCreateNamespace(t, c, ns)
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
				Spec: corev1.ServiceSpec{
					Selector: map[string]string{"app": "web"},
					Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
				},
			}
			svc, err := c.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
				t.Fatalf("Service got no ClusterIP: %q", svc.Spec.ClusterIP)
			}
			want := []string{fmt.Sprintf("10.1.%d.1", i), fmt.Sprintf("10.1.%d.2", i)}
			for j, ip := range want {
				if _, err := c.ReadyPod(ctx, testbed.PodSpec{Namespace: ns, Name: fmt.Sprintf("web-%d", j), Labels: map[string]string{"app": "web"}, IP: ip}); err != nil {
					t.Fatal(err)
				}
			}

			testbed.Eventually(t, 30*time.Second, func() (bool, string) {
				ep, err := c.Client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				got := readyEndpointIPs(ep)
				return strings.Join(got, ",") == strings.Join(want, ","), fmt.Sprintf("Endpoints ready IPs %v, want %v", got, want)
			})
			testbed.Eventually(t, 30*time.Second, func() (bool, string) {
				slices, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
				if err != nil {
					return false, err.Error()
				}
				ready := 0
				for _, s := range slices.Items {
					for _, e := range s.Endpoints {
						if e.Conditions.Ready != nil && *e.Conditions.Ready {
							ready++
						}
					}
				}
				return ready == 2, fmt.Sprintf("%d ready endpoints in %d EndpointSlices, want 2", ready, len(slices.Items))
			})

			// A pod going unready leaves the ready set, as the mirror tests rely on.
			if err := c.SetPodReady(ctx, ns, "web-0", false); err != nil {
				t.Fatal(err)
			}
			testbed.Eventually(t, 30*time.Second, func() (bool, string) {
				ep, err := c.Client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				got := readyEndpointIPs(ep)
				return len(got) == 1 && got[0] == want[1], fmt.Sprintf("Endpoints ready IPs %v, want [%s]", got, want[1])
			})

			code, body, err := c.Get(ctx, "not-a-valid-token", "/api/v1/namespaces")
			if err != nil {
				t.Fatal(err)
			}
			if code != http.StatusUnauthorized {
				t.Fatalf("unknown token: status %d (%s), want 401", code, body)
			}
			code, _, err = c.Get(ctx, testbed.AdminToken, "/api/v1/namespaces")
			if err != nil || code != http.StatusOK {
				t.Fatalf("admin token: status %d, err %v, want 200", code, err)
			}
		})
	}

	// Stopping the clusters ends every one of their processes.
	for _, c := range clusters {
		c.Stop()
		for _, p := range c.Processes() {
			if exited, _ := p.Exited(); !exited {
				t.Errorf("%s of cluster %s still running after Stop", p.Name, c.Name)
			}
		}
	}
}

func readyEndpointIPs(ep *corev1.Endpoints) []string {
	var ips []string
	for _, s := range ep.Subsets {
		for _, a := range s.Addresses {
			ips = append(ips, a.IP)
		}
	}
	return ips
}

func mustCreateNamespace(t testing.TB, c *testbed.Cluster, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s in %s: %v", name, c.Name, err)
	}
}
