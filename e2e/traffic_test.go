package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/svcmirror/svcmirror/e2e/benchmark"
	"github.com/svcmirror/svcmirror/e2e/testbed"
)

// managedBy is the managed-by label value of the daemon's EndpointSlices.
const managedBy = "service-mirror.svcmirror.io"

// TestTrafficThroughMirrors sends real requests through the daemon's
// mirrors from a source node running stock kube-proxy (nftables) and
// CoreDNS, with no mesh: a flat-mode mirror reaches the remote pods
// themselves and follows their readiness, a headless flat mirror resolves
// each pod by hostname, and a gateway-mode mirror reaches the stand-in
// gateway until its probe fails. A restart with nothing changed writes no
// EndpointSlice, and a foreign slice labelled for a mirror is never touched.
func TestTrafficThroughMirrors(t *testing.T) {
	if !testbed.InPrivateNetwork(t) {
		return
	}
	ctx := context.Background()
	const ns = "mc-demo"
	flat, source, target := flatClusters(t, ns)
	p, err := testbed.LinkClusters(ctx, source, target, clusterName)
	if err != nil {
		t.Fatal(err)
	}

	// Three remote pods behind bb (flat) and db (headless, flat); a fourth
	// pod object on web-0's IP behind gw (gateway mode), so that gw keeps a
	// ready endpoint whatever bb's pods do.
	pods := webPods(ctx, t, flat, target, ns)
	if _, err := target.ReadyPod(ctx, testbed.PodSpec{Namespace: ns, Name: "gw-backend", Labels: map[string]string{"app": "gw"}, IP: pods[0].IP}); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []*corev1.Service{
		remoteSvc(ns, "bb", "web", "remote-discovery", false),
		remoteSvc(ns, "db", "web", "remote-discovery", true),
		remoteSvc(ns, "gw", "gw", "true", false),
	} {
		if _, err := target.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	publishedEndpoints(t, target, ns, "bb", 3)
	publishedEndpoints(t, target, ns, "db", 3)

	gw, err := flat.StartGateway(ctx, "target", "198.51.100.20", pods[0].Addr())
	if err != nil {
		t.Fatal(err)
	}
	probe := map[string]any{"path": "/ready", "port": fmt.Sprint(testbed.GatewayProbePort), "period": "1s", "timeout": "1s", "failureThreshold": "1"}
	if err := p.ApplyLink(ctx, p.LinkObject(gw.IP, map[string]any{"probeSpec": probe})); err != nil {
		t.Fatal(err)
	}
	// A foreign slice for the flat mirror's name, managed by someone else:
	// not ready, so that kube-proxy ignores it whatever happens to it.
	foreign := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bb-target-foreign", Labels: map[string]string{
			discoveryv1.LabelServiceName: "bb-target", discoveryv1.LabelManagedBy: handWritten}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"198.51.100.99"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](testbed.PodPort), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	foreign, err = source.Client.DiscoveryV1().EndpointSlices(ns).Create(ctx, foreign, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	node, err := flat.StartNode(ctx, source, "source-node", "198.51.100.2")
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, p)
	d.waitReady()

	t.Run("a headless flat mirror resolves each remote pod by hostname", func(t *testing.T) {
		for _, pod := range pods {
			host := fmt.Sprintf("%s.db-target.%s.svc.cluster.local", pod.Name, ns)
			testbed.Eventually(t, 30*time.Second, func() (bool, string) {
				ips, err := node.LookupHost(ctx, host)
				return err == nil && slices.Equal(ips, []string{pod.IP}), fmt.Sprintf("%s resolves to %v (%v), want %s", host, ips, err, pod.IP)
			})
			answers := get(t, node, fmt.Sprintf("http://%s:%d/", host, testbed.PodPort), 1)
			if answers[0] != (testbed.Answer{Body: pod.Name}) {
				t.Errorf("GET %s: %+v, want an answer from %s", host, answers[0], pod.Name)
			}
		}
	})

	t.Run("a gateway-mode mirror reaches the gateway until its probe fails", func(t *testing.T) {
		url := fmt.Sprintf("http://gw-target.%s.svc.cluster.local:%d/", ns, testbed.PodPort)
		testbed.Eventually(t, 30*time.Second, func() (bool, string) {
			answers := get(t, node, url, 3)
			return allAnswer(answers, pods[0].Name), fmt.Sprintf("answers %v, want each from %s through the gateway", answers, pods[0].Name)
		})
		slice := ourSlice(t, source, ns, "gw-target.0")
		if len(slice.Endpoints) != 1 || slice.Endpoints[0].Addresses[0] != gw.IP || *slice.Ports[0].Port != testbed.GatewayPort {
			t.Fatalf("gateway-mode slice %+v, want the gateway %s at %d", slice, gw.IP, testbed.GatewayPort)
		}

		if err := gw.SetReady(false); err != nil {
			t.Fatal(err)
		}
		waitSlice(t, source, ns, "gw-target.0", func(s *discoveryv1.EndpointSlice) bool { return len(readyIPs(s)) == 0 })
		testbed.Eventually(t, 30*time.Second, func() (bool, string) {
			answers := get(t, node, url, 3)
			for _, a := range answers {
				if a.Err == "" {
					return false, fmt.Sprintf("answers %v with the gateway's probe failing, want none", answers)
				}
			}
			return true, ""
		})
		if err := gw.SetReady(true); err != nil {
			t.Fatal(err)
		}
		testbed.Eventually(t, 30*time.Second, func() (bool, string) {
			answers := get(t, node, url, 3)
			return allAnswer(answers, pods[0].Name), fmt.Sprintf("answers %v once the probe passes again", answers)
		})
	})

	t.Run("a flat mirror reaches every ready remote pod and follows their readiness", func(t *testing.T) {
		host := "bb-target." + ns + ".svc.cluster.local"
		url := fmt.Sprintf("http://%s:%d/", host, testbed.PodPort)
		mirror := waitService(t, source, ns, "bb-target", func(*corev1.Service) (bool, string) { return true, "" })
		testbed.Eventually(t, 30*time.Second, func() (bool, string) {
			ips, err := node.LookupHost(ctx, host)
			return err == nil && slices.Equal(ips, []string{mirror.Spec.ClusterIP}),
				fmt.Sprintf("CoreDNS answers %v (%v), want the mirror's ClusterIP %s", ips, err, mirror.Spec.ClusterIP)
		})
		seen := map[string]bool{}
		testbed.Eventually(t, 60*time.Second, func() (bool, string) {
			for _, a := range get(t, node, url, 12) {
				if a.Err == "" {
					seen[a.Body] = true
				}
			}
			return len(seen) == 3, fmt.Sprintf("answered so far by %v, want web-0, web-1 and web-2", keys(seen))
		})

		if err := target.SetPodReady(ctx, ns, "web-1", false); err != nil {
			t.Fatal(err)
		}
		waitSlice(t, source, ns, "bb-target.0", func(s *discoveryv1.EndpointSlice) bool {
			return slices.Equal(readyIPs(s), []string{pods[0].IP, pods[2].IP})
		})
		testbed.Eventually(t, 30*time.Second, func() (bool, string) {
			answers := get(t, node, url, 24)
			for _, a := range answers {
				if a.Err != "" || a.Body == "web-1" {
					return false, fmt.Sprintf("answers %v, want only web-0 and web-2", answers)
				}
			}
			return true, ""
		})
		// The next batch is the assertion (one clean batch may be luck).
		left := map[string]bool{}
		for _, a := range get(t, node, url, 30) {
			if a.Err != "" || a.Body == "web-1" {
				t.Fatalf("after web-1 turned unready: answer %+v", a)
			}
			left[a.Body] = true
		}
		if !left["web-0"] || !left["web-2"] {
			t.Errorf("after web-1 turned unready, 30 requests reached only %v, want web-0 and web-2", keys(left))
		}

		for _, name := range []string{"web-0", "web-2"} {
			if err := target.SetPodReady(ctx, ns, name, false); err != nil {
				t.Fatal(err)
			}
		}
		s := waitSlice(t, source, ns, "bb-target.0", func(s *discoveryv1.EndpointSlice) bool { return len(readyIPs(s)) == 0 })
		if len(s.Endpoints) != 3 {
			t.Errorf("with every remote pod unready the flat slice holds %d endpoints, want the 3 pods, not ready", len(s.Endpoints))
		}
		testbed.Eventually(t, 30*time.Second, func() (bool, string) {
			answers := get(t, node, url, 3)
			for _, a := range answers {
				if a.Err == "" {
					return false, fmt.Sprintf("answers %v with every remote pod unready, want none", answers)
				}
			}
			return true, ""
		})
	})

	t.Run("a restart with nothing changed writes no slice, and the foreign slice is untouched", func(t *testing.T) {
		// Every remote pod turned unready in the last subtest: the headless
		// mirror follows the same pods, so wait until it shows that too
		// before counting, or its late update is counted as the restart's.
		waitSlice(t, source, ns, "db-target.0", func(s *discoveryv1.EndpointSlice) bool { return len(readyIPs(s)) == 0 })
		waitSettled(t, d, 3)
		before := mirrorWriteCounts(t, source)
		d.restart()
		d.waitReady()
		waitSettled(t, d, 3)
		after := mirrorWriteCounts(t, source)
		if got := benchmark.SliceWrites(after) - benchmark.SliceWrites(before); got != 0 {
			t.Errorf("%v EndpointSlice writes after a restart with nothing changed, want 0 (before: %v; after: %v)", got, before, after)
		}
		if got := benchmark.MirrorWrites(after) - benchmark.MirrorWrites(before); got != 0 {
			t.Errorf("%v mirror writes after a restart with nothing changed, want 0 (before: %v; after: %v)", got, before, after)
		}
		live, err := source.Client.DiscoveryV1().EndpointSlices(ns).Get(ctx, foreign.Name, metav1.GetOptions{})
		if err != nil || live.ResourceVersion != foreign.ResourceVersion {
			t.Errorf("foreign slice %s: %v, resourceVersion %s, want it untouched at %s", foreign.Name, err, live.GetResourceVersion(), foreign.ResourceVersion)
		}
		list, err := source.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelManagedBy + "=" + managedBy})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range list.Items {
			names = append(names, s.Name)
		}
		slices.Sort(names)
		if want := []string{"bb-target.0", "db-target.0", "gw-target.0"}; !slices.Equal(names, want) {
			t.Errorf("the daemon's slices are %v, want %v", names, want)
		}
		ep, err := source.Client.CoreV1().Endpoints(ns).Get(ctx, "gw-target", metav1.GetOptions{})
		if err != nil || ep.Labels[discoveryv1.LabelSkipMirror] != "true" {
			t.Errorf("gateway-mode Endpoints labels %v (%v), want skip-mirror \"true\"", ep.GetLabels(), err)
		}
		mirrored, err := source.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
			LabelSelector: discoveryv1.LabelManagedBy + "=endpointslicemirroring-controller.k8s.io"})
		if err != nil || len(mirrored.Items) != 0 {
			t.Errorf("kube-controller-manager mirrored %d slices (%v), want none beside ours", len(mirrored.Items), err)
		}
	})
}

// remoteSvc is a remote Service selecting app=app on the pods' port,
// exported in mode.
func remoteSvc(ns, name, app, mode string, headless bool) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{exportLabel: mode}},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": app}, Ports: []corev1.ServicePort{httpPort(testbed.PodPort)}},
	}
	if headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	return svc
}

func allAnswer(answers []testbed.Answer, body string) bool {
	for _, a := range answers {
		if a != (testbed.Answer{Body: body}) {
			return false
		}
	}
	return true
}

// ourSlice reads the daemon's slice ns/name and checks its labels.
func ourSlice(t *testing.T, c *testbed.Cluster, ns, name string) *discoveryv1.EndpointSlice {
	t.Helper()
	s, err := c.Client.DiscoveryV1().EndpointSlices(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustBeOurSlice(t, s)
	return s
}

// mustBeOurSlice checks that s carries the daemon's managed-by label, the
// ownership labels and the fq-name annotation.
func mustBeOurSlice(t *testing.T, s *discoveryv1.EndpointSlice) {
	t.Helper()
	if s.Labels[discoveryv1.LabelManagedBy] != managedBy || s.Labels["mirror.linkerd.io/cluster-name"] != clusterName || s.Annotations[fqAnnotation] == "" {
		t.Fatalf("slice %s/%s labels %v annotations %v, want managed-by %s, the ownership labels and the fq-name", s.Namespace, s.Name, s.Labels, s.Annotations, managedBy)
	}
}

// waitSlice waits until the daemon's slice ns/name satisfies ok.
func waitSlice(t *testing.T, c *testbed.Cluster, ns, name string, ok func(*discoveryv1.EndpointSlice) bool) *discoveryv1.EndpointSlice {
	t.Helper()
	var got *discoveryv1.EndpointSlice
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		s, err := c.Client.DiscoveryV1().EndpointSlices(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got = s
		return ok(s), fmt.Sprintf("slice %s/%s: endpoints %+v", ns, name, s.Endpoints)
	})
	return got
}

// readyIPs lists a slice's ready addresses, sorted.
func readyIPs(s *discoveryv1.EndpointSlice) []string {
	var out []string
	for _, e := range s.Endpoints {
		if e.Conditions.Ready == nil || *e.Conditions.Ready {
			out = append(out, e.Addresses...)
		}
	}
	slices.Sort(out)
	return out
}

// mirrorWriteCounts is one scrape of the source API server's successful
// writes, so that every figure compared comes from the same moment.
func mirrorWriteCounts(t *testing.T, c *testbed.Cluster) benchmark.RequestCounts {
	t.Helper()
	counts, err := benchmark.ScrapeRequests(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return counts
}
