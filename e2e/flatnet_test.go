package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

// handWritten is the managed-by value of the EndpointSlices this test
// writes in the source cluster in place of the daemon: not
// kube-controller-manager's, so that no controller there touches them.
const handWritten = "hand-written.e2e.svcmirror.io"

// TestFlatNetworkCarriesTraffic proves the flat-network test bed with no
// daemon: target pods are real processes on pod IPs that the target
// cluster publishes; in the source cluster, hand-written selector-less
// Services and EndpointSlices copy those endpoints (as the daemon's
// mirrors will); and from the source node a client reaches them by name
// through the node's CoreDNS and kube-proxy (nftables mode): every pod of
// a ClusterIP Service, never an unready one, a headless Service's pods by
// hostname, and a pod behind the stand-in gateway.
func TestFlatNetworkCarriesTraffic(t *testing.T) {
	if !testbed.InPrivateNetwork(t) {
		return
	}
	began := time.Now()
	ctx := context.Background()
	const ns = "mc-demo"
	flat, source, target := flatClusters(t, ns)

	// Three target pods, published by the target cluster's controllers
	// behind a ClusterIP Service bb and a headless Service db.
	pods := webPods(ctx, t, flat, target, ns)
	for _, svc := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bb"}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{httpPort(testbed.PodPort)}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"}, Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{httpPort(testbed.PodPort)}}},
	} {
		if _, err := target.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	bbEndpoints := publishedEndpoints(t, target, ns, "bb", 3)
	dbEndpoints := publishedEndpoints(t, target, ns, "db", 3)
	for _, ep := range bbEndpoints {
		if !slices.ContainsFunc(pods, func(p *testbed.Pod) bool { return p.IP == ep.Addresses[0] }) {
			t.Fatalf("target publishes %v, which is no stand-in pod's IP", ep.Addresses)
		}
	}

	node, err := flat.StartNode(ctx, source, "source-node", "198.51.100.2")
	if err != nil {
		t.Fatal(err)
	}
	gw, err := flat.StartGateway(ctx, "target", "198.51.100.20", pods[0].Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Test bed up in %s", time.Since(began).Round(time.Millisecond))

	t.Run("a ClusterIP Service reaches every ready endpoint", func(t *testing.T) {
		svc := createSelectorless(t, source, ns, "bb-target", false)
		writeSlice(t, source, ns, "bb-target", testbed.PodPort, bbEndpoints)
		url := fmt.Sprintf("http://bb-target.%s.svc.cluster.local:%d/", ns, testbed.PodPort)

		testbed.Eventually(t, 30*time.Second, func() (bool, string) {
			ips, err := node.LookupHost(ctx, "bb-target."+ns+".svc.cluster.local")
			return err == nil && slices.Equal(ips, []string{svc.Spec.ClusterIP}),
				fmt.Sprintf("CoreDNS answers %v (%v), want the ClusterIP %s", ips, err, svc.Spec.ClusterIP)
		})
		seen := map[string]bool{}
		testbed.Eventually(t, 60*time.Second, func() (bool, string) {
			answers := get(t, node, url, 12)
			for _, a := range answers {
				if a.Err == "" {
					seen[a.Body] = true
				}
			}
			return len(seen) == 3, fmt.Sprintf("answered so far by %v, want web-0, web-1 and web-2; last batch %v", keys(seen), answers)
		})

		// web-1 turns unready: kube-proxy stops sending to it, and every
		// request still gets an answer from the other two.
		unready := slices.Clone(bbEndpoints)
		for i := range unready {
			if unready[i].Addresses[0] == pods[1].IP {
				unready[i].Conditions = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false), Terminating: ptr.To(false)}
			}
		}
		writeSlice(t, source, ns, "bb-target", testbed.PodPort, unready)
		testbed.Eventually(t, 30*time.Second, func() (bool, string) {
			answers := get(t, node, url, 24)
			for _, a := range answers {
				if a.Err != "" || a.Body == "web-1" {
					return false, fmt.Sprintf("answers %v, want only web-0 and web-2", answers)
				}
			}
			return true, ""
		})
		// Requests are spread at random, so one batch without web-1 may be
		// luck ((2/3)^24 per batch, polled many times); the next batch is
		// the assertion: 30 more requests, none to web-1, the two others
		// still answering.
		answers := get(t, node, url, 30)
		left := map[string]bool{}
		for _, a := range answers {
			if a.Err != "" || a.Body == "web-1" {
				t.Fatalf("after web-1 turned unready: %v", answers)
			}
			left[a.Body] = true
		}
		if !left["web-0"] || !left["web-2"] {
			t.Errorf("after web-1 turned unready, 30 requests reached only %v, want web-0 and web-2", keys(left))
		}
	})

	t.Run("a headless Service's hostnames resolve to their pods", func(t *testing.T) {
		createSelectorless(t, source, ns, "db-target", true)
		writeSlice(t, source, ns, "db-target", testbed.PodPort, dbEndpoints)
		for _, pod := range pods {
			host := fmt.Sprintf("%s.db-target.%s.svc.cluster.local", pod.Name, ns)
			testbed.Eventually(t, 30*time.Second, func() (bool, string) {
				ips, err := node.LookupHost(ctx, host)
				return err == nil && slices.Equal(ips, []string{pod.IP}), fmt.Sprintf("%s resolves to %v (%v), want %s", host, ips, err, pod.IP)
			})
			testbed.Eventually(t, 30*time.Second, func() (bool, string) {
				answers := get(t, node, fmt.Sprintf("http://%s:%d/", host, testbed.PodPort), 1)
				return answers[0] == testbed.Answer{Body: pod.Name}, fmt.Sprintf("GET %s: %+v, want an answer from %s", host, answers[0], pod.Name)
			})
		}
	})

	t.Run("a Service whose endpoint is the stand-in gateway reaches the pod behind it", func(t *testing.T) {
		createSelectorless(t, source, ns, "gw-target", false)
		writeSlice(t, source, ns, "gw-target", testbed.GatewayPort, []discoveryv1.Endpoint{{
			Addresses:  []string{gw.IP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
		}})
		url := fmt.Sprintf("http://gw-target.%s.svc.cluster.local:%d/", ns, testbed.PodPort)
		testbed.Eventually(t, 30*time.Second, func() (bool, string) {
			answers := get(t, node, url, 3)
			for _, a := range answers {
				if a != (testbed.Answer{Body: pods[0].Name}) {
					return false, fmt.Sprintf("answers %v, want each from %s through the gateway", answers, pods[0].Name)
				}
			}
			return true, ""
		})

		// The probe endpoint follows SetReady, as a Link's probeSpec reads it.
		for _, ready := range []bool{false, true} {
			if err := gw.SetReady(ready); err != nil {
				t.Fatal(err)
			}
			want := map[bool]int{true: 200, false: 503}[ready]
			if code, err := gw.ProbeStatus(); err != nil || code != want {
				t.Errorf("after SetReady(%v), %s answers %d (%v), want %d", ready, gw.ProbeURL(), code, err, want)
			}
		}
	})
	t.Logf("Test bed and checks took %s", time.Since(began).Round(time.Millisecond))
}

// flatClusters starts the flat network and, on it, a source and a target
// cluster, each with namespace ns.
func flatClusters(t *testing.T, ns string) (flat *testbed.FlatNet, source, target *testbed.Cluster) {
	t.Helper()
	flat = testbed.NewFlatNet(t)
	clusters := testbed.StartAll(t, []string{"source", "target"}, testbed.WithAddress(testbed.HostIP))
	source, target = clusters[0], clusters[1]
	mustCreateNamespace(t, source, ns)
	mustCreateNamespace(t, target, ns)
	return flat, source, target
}

// webPods starts three stand-in pods, web-0 to web-2 on 198.51.100.11 to
// .13, and publishes each in target as a ready pod of ns labelled app=web,
// with its name as hostname under subdomain db (for a headless Service db).
func webPods(ctx context.Context, t *testing.T, flat *testbed.FlatNet, target *testbed.Cluster, ns string) []*testbed.Pod {
	t.Helper()
	var pods []*testbed.Pod
	for i := range 3 {
		name, ip := fmt.Sprintf("web-%d", i), fmt.Sprintf("198.51.100.%d", 11+i)
		pod, err := flat.StartPod(ctx, name, ip)
		if err != nil {
			t.Fatal(err)
		}
		pods = append(pods, pod)
		if _, err := target.ReadyPod(ctx, testbed.PodSpec{Namespace: ns, Name: name, Labels: map[string]string{"app": "web"},
			IP: ip, Hostname: name, Subdomain: "db"}); err != nil {
			t.Fatal(err)
		}
	}
	return pods
}

// publishedEndpoints waits until the target cluster's EndpointSlices for
// Service name hold want ready endpoints, and returns them as a mirror
// would copy them: addresses, conditions and hostname, no nodeName or
// targetRef.
func publishedEndpoints(t *testing.T, c *testbed.Cluster, ns, name string, want int) []discoveryv1.Endpoint {
	t.Helper()
	var eps []discoveryv1.Endpoint
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		list, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(context.Background(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
		if err != nil {
			return false, err.Error()
		}
		eps = nil
		for _, s := range list.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					eps = append(eps, discoveryv1.Endpoint{Addresses: e.Addresses, Conditions: e.Conditions, Hostname: e.Hostname})
				}
			}
		}
		return len(eps) == want, fmt.Sprintf("%d ready endpoints for %s/%s, want %d", len(eps), ns, name, want)
	})
	slices.SortFunc(eps, func(a, b discoveryv1.Endpoint) int { return strings.Compare(a.Addresses[0], b.Addresses[0]) })
	return eps
}

// createSelectorless makes a selector-less Service with one port, http on
// PodPort, as a mirror is; headless makes it clusterIP None.
func createSelectorless(t *testing.T, c *testbed.Cluster, ns, name string, headless bool) *corev1.Service {
	t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{httpPort(testbed.PodPort)}}}
	if headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	svc, err := c.Client.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// writeSlice creates or replaces the one hand-written EndpointSlice of
// Service svc: the endpoints at port, under the port name http.
func writeSlice(t *testing.T, c *testbed.Cluster, ns, svc string, port int32, eps []discoveryv1.Endpoint) {
	t.Helper()
	ctx := context.Background()
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc + "-hand-written", Labels: map[string]string{
			discoveryv1.LabelServiceName: svc,
			discoveryv1.LabelManagedBy:   handWritten,
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	client := c.Client.DiscoveryV1().EndpointSlices(ns)
	live, err := client.Get(ctx, slice.Name, metav1.GetOptions{})
	if err == nil {
		slice.ResourceVersion = live.ResourceVersion
		_, err = client.Update(ctx, slice, metav1.UpdateOptions{})
	} else {
		_, err = client.Create(ctx, slice, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatalf("write EndpointSlice %s/%s: %v", ns, slice.Name, err)
	}
}

// get sends n requests from the node, failing the test only if the client
// itself cannot run.
func get(t *testing.T, node *testbed.Node, url string, n int) []testbed.Answer {
	t.Helper()
	answers, err := node.Get(context.Background(), url, n)
	if err != nil {
		t.Fatal(err)
	}
	return answers
}

func keys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
