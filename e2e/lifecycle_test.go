package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

const (
	rdClusterLabel = "multicluster.linkerd.io/remote-discovery"
	rdServiceLabel = "multicluster.linkerd.io/remote-service"
)

// TestMirrorLifecycle runs one daemon against one linked pair through the
// changes a mirror lives through. Subtests use their own Services and run
// in order.
func TestMirrorLifecycle(t *testing.T) {
	p := linkedPair(t, nil)
	d := startDaemon(t, p)
	ctx := context.Background()
	src, tgt := p.Source, p.Target
	const ns = "apps"
	if err := src.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	d.waitReady()

	t.Run("remote port and label changes follow", func(t *testing.T) {
		makeRemoteService(t, tgt, ns, "web", "10.1.0.10", exported("true"))
		waitService(t, src, ns, "web-target", func(*corev1.Service) (bool, string) { return true, "" })
		updateRemote(t, tgt, ns, "web", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "grpc", Protocol: corev1.ProtocolTCP, Port: 9090})
			s.Labels["tier"] = "front"
		})
		waitService(t, src, ns, "web-target", func(s *corev1.Service) (bool, string) {
			return len(s.Spec.Ports) == 2 && s.Labels["tier"] == "front", fmt.Sprintf("ports %v labels %v", s.Spec.Ports, s.Labels)
		})
		waitEndpoints(t, src, ns, "web-target", func(ep *corev1.Endpoints) (bool, string) {
			return len(ep.Subsets) == 1 && len(ep.Subsets[0].Ports) == 2, fmt.Sprintf("subsets %v", ep.Subsets)
		})
		// A label removed remotely is removed from the mirror.
		updateRemote(t, tgt, ns, "web", func(s *corev1.Service) { delete(s.Labels, "tier") })
		waitService(t, src, ns, "web-target", func(s *corev1.Service) (bool, string) {
			_, has := s.Labels["tier"]
			return !has, fmt.Sprintf("labels %v", s.Labels)
		})
	})

	t.Run("remote endpoints going empty and back", func(t *testing.T) {
		makeRemoteService(t, tgt, ns, "flappy", "10.1.0.11", exported("true"))
		waitEndpoints(t, src, ns, "flappy-target", func(ep *corev1.Endpoints) (bool, string) {
			return len(ep.Subsets) == 1, "waiting for the gateway address"
		})
		if err := tgt.SetPodReady(ctx, ns, "flappy-0", false); err != nil {
			t.Fatal(err)
		}
		waitEndpoints(t, src, ns, "flappy-target", func(ep *corev1.Endpoints) (bool, string) {
			return len(ep.Subsets) == 0, fmt.Sprintf("subsets %v, want none while no remote endpoint is ready", ep.Subsets)
		})
		if err := tgt.SetPodReady(ctx, ns, "flappy-0", true); err != nil {
			t.Fatal(err)
		}
		waitEndpoints(t, src, ns, "flappy-target", func(ep *corev1.Endpoints) (bool, string) {
			ready, _ := gatewayAddresses(ep)
			return slices.Equal(ready, []string{gatewayIP}), fmt.Sprintf("ready %v", ready)
		})
	})

	t.Run("mode switches both ways", func(t *testing.T) {
		makeRemoteService(t, tgt, ns, "switch", "10.1.0.12", exported("true"))
		waitEndpoints(t, src, ns, "switch-target", func(ep *corev1.Endpoints) (bool, string) { return len(ep.Subsets) == 1, "" })
		first := waitService(t, src, ns, "switch-target", func(*corev1.Service) (bool, string) { return true, "" })

		updateRemote(t, tgt, ns, "switch", func(s *corev1.Service) { s.Labels[exportLabel] = "remote-discovery" })
		waitService(t, src, ns, "switch-target", func(s *corev1.Service) (bool, string) {
			return s.Labels[rdClusterLabel] == clusterName && s.Labels[rdServiceLabel] == "switch", fmt.Sprintf("labels %v", s.Labels)
		})
		testbed.Eventually(t, 30*time.Second, func() (bool, string) {
			_, err := src.Client.CoreV1().Endpoints(ns).Get(ctx, "switch-target", metav1.GetOptions{})
			return err != nil, "remote-discovery mirrors have no Endpoints"
		})

		updateRemote(t, tgt, ns, "switch", func(s *corev1.Service) { s.Labels[exportLabel] = "true" })
		waitService(t, src, ns, "switch-target", func(s *corev1.Service) (bool, string) {
			_, rd := s.Labels[rdClusterLabel]
			return !rd, fmt.Sprintf("labels %v", s.Labels)
		})
		waitEndpoints(t, src, ns, "switch-target", func(ep *corev1.Endpoints) (bool, string) { return len(ep.Subsets) == 1, "" })
		now := waitService(t, src, ns, "switch-target", func(*corev1.Service) (bool, string) { return true, "" })
		// Switching modes updates the mirror in place: recreating it would
		// change its ClusterIP under the clients using it.
		if now.UID != first.UID || now.Spec.ClusterIP != first.Spec.ClusterIP {
			t.Errorf("mirror recreated by a mode switch: uid %s→%s clusterIP %s→%s", first.UID, now.UID, first.Spec.ClusterIP, now.Spec.ClusterIP)
		}
	})

	t.Run("headless service with hostnames gets endpoint mirrors", func(t *testing.T) {
		makeRemoteService(t, tgt, ns, "db", "", exported("true"), headless())
		for i, ip := range []string{"10.1.1.1", "10.1.1.2"} {
			if _, err := tgt.ReadyPod(ctx, testbed.PodSpec{Namespace: ns, Name: fmt.Sprintf("db-%d", i), Labels: map[string]string{"app": "db"}, IP: ip, Hostname: fmt.Sprintf("db-%d", i), Subdomain: "db"}); err != nil {
				t.Fatal(err)
			}
		}
		mirror := waitService(t, src, ns, "db-target", func(s *corev1.Service) (bool, string) {
			return s.Spec.ClusterIP == corev1.ClusterIPNone, "mirror of a headless Service with hostnames is headless"
		})
		_ = mirror
		var ips []string
		for _, host := range []string{"db-0", "db-1"} {
			em := waitService(t, src, ns, host+"-target", func(s *corev1.Service) (bool, string) {
				return s.Labels["mirror.linkerd.io/headless-mirror-svc-name"] == "db-target", fmt.Sprintf("labels %v", s.Labels)
			})
			if em.Annotations[fqAnnotation] != host+".db."+ns+".svc.cluster.local" {
				t.Errorf("endpoint mirror fq name %q", em.Annotations[fqAnnotation])
			}
			ips = append(ips, em.Spec.ClusterIP)
			waitEndpoints(t, src, ns, host+"-target", func(ep *corev1.Endpoints) (bool, string) {
				ready, _ := gatewayAddresses(ep)
				return slices.Equal(ready, []string{gatewayIP}), fmt.Sprintf("endpoint mirror points at %v", ready)
			})
		}
		waitEndpoints(t, src, ns, "db-target", func(ep *corev1.Endpoints) (bool, string) {
			var got []string
			for _, s := range ep.Subsets {
				for _, a := range s.Addresses {
					got = append(got, a.Hostname+"="+a.IP)
				}
			}
			want := []string{"db-0=" + ips[0], "db-1=" + ips[1]}
			slices.Sort(got)
			slices.Sort(want)
			return slices.Equal(got, want), fmt.Sprintf("headless Endpoints %v, want %v", got, want)
		})
		// A pod going away takes its endpoint mirror with it.
		if err := tgt.Client.CoreV1().Pods(ns).Delete(ctx, "db-1", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, src, ns, "db-1-target")
	})

	t.Run("a 60-character name gets a stable short mirror name", func(t *testing.T) {
		long := "a-service-name-that-is-exactly-sixty-characters-long-abcdefg"
		if len(long) != 60 {
			t.Fatalf("fixture is %d characters", len(long))
		}
		makeRemoteService(t, tgt, ns, long, "10.1.0.13", exported("true"))
		var mirror *corev1.Service
		testbed.Eventually(t, 30*time.Second, func() (bool, string) {
			list, err := src.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			for i := range list.Items {
				if list.Items[i].Annotations[fqAnnotation] == long+"."+ns+".svc.cluster.local" {
					mirror = &list.Items[i]
					return true, ""
				}
			}
			return false, "no mirror carries the long name's fq annotation"
		})
		if errs := validation.IsDNS1035Label(mirror.Name); len(errs) > 0 || !strings.HasSuffix(mirror.Name, "-"+clusterName) {
			t.Fatalf("mirror name %q: %v", mirror.Name, errs)
		}
		waitEndpoints(t, src, ns, mirror.Name, func(ep *corev1.Endpoints) (bool, string) { return len(ep.Subsets) == 1, "" })
	})

	t.Run("a foreign same-named Service is left alone until it goes", func(t *testing.T) {
		foreign := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken-target", Labels: map[string]string{"owner": "someone-else"}},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{httpPort(80)}},
		}
		foreign, err := src.Client.CoreV1().Services(ns).Create(ctx, foreign, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		makeRemoteService(t, tgt, ns, "taken", "10.1.0.14", exported("true"))
		waitLinkFailure(t, p, ns, "taken", "Conflict")
		waitEvent(t, src, "Conflict", "taken")
		now, err := src.Client.CoreV1().Services(ns).Get(ctx, "taken-target", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if now.ResourceVersion != foreign.ResourceVersion || now.Labels["owner"] != "someone-else" {
			t.Fatalf("foreign Service was changed: rv %s→%s labels %v", foreign.ResourceVersion, now.ResourceVersion, now.Labels)
		}
		if err := src.Client.CoreV1().Services(ns).Delete(ctx, "taken-target", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitService(t, src, ns, "taken-target", func(s *corev1.Service) (bool, string) {
			return s.Labels["mirror.linkerd.io/mirrored-service"] == "true", "mirror created once the foreign Service is gone"
		})
		waitLinkFailure(t, p, ns, "taken", "")
	})

	t.Run("a missing namespace is reported, then mirrored when it appears", func(t *testing.T) {
		makeRemoteService(t, tgt, "late", "svc", "10.1.0.15", exported("true"))
		waitLinkFailure(t, p, "late", "svc", "MissingNamespace")
		if exists(t, src, "late", "svc-target") {
			t.Fatal("mirror exists in a namespace that does not")
		}
		if err := src.EnsureNamespace(ctx, "late"); err != nil {
			t.Fatal(err)
		}
		waitEndpoints(t, src, "late", "svc-target", func(ep *corev1.Endpoints) (bool, string) { return len(ep.Subsets) == 1, "" })
		waitLinkFailure(t, p, "late", "svc", "")
	})

	t.Run("a Link gateway change rewrites gateway-mode Endpoints", func(t *testing.T) {
		makeRemoteService(t, tgt, ns, "flat", "10.1.0.16", exported("remote-discovery"))
		flat := waitService(t, src, ns, "flat-target", func(*corev1.Service) (bool, string) { return true, "" })
		link, err := p.GetLink(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := unstructured.SetNestedField(link.Object, "192.0.2.20,192.0.2.21", "spec", "gatewayAddress"); err != nil {
			t.Fatal(err)
		}
		if err := p.ApplyLink(ctx, link); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"web-target", "flappy-target", "switch-target"} {
			waitEndpoints(t, src, ns, name, func(ep *corev1.Endpoints) (bool, string) {
				ready, _ := gatewayAddresses(ep)
				return slices.Equal(ready, []string{"192.0.2.20", "192.0.2.21"}), fmt.Sprintf("%s ready %v", name, ready)
			})
		}
		now, err := src.Client.CoreV1().Services(ns).Get(ctx, "flat-target", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if now.ResourceVersion != flat.ResourceVersion {
			t.Errorf("remote-discovery mirror rewritten by a gateway change: rv %s→%s", flat.ResourceVersion, now.ResourceVersion)
		}
	})

	t.Run("unexport and remote delete remove the mirror", func(t *testing.T) {
		updateRemote(t, tgt, ns, "web", func(s *corev1.Service) { delete(s.Labels, exportLabel) })
		waitGone(t, src, ns, "web-target")
		if err := tgt.Client.CoreV1().Services(ns).Delete(ctx, "flappy", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, src, ns, "flappy-target")
		// Deleting the headless Service removes its endpoint mirrors too.
		if err := tgt.Client.CoreV1().Services(ns).Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, src, ns, "db-target")
		waitGone(t, src, ns, "db-0-target")
	})

	t.Run("a mirror deleted or edited by hand is repaired", func(t *testing.T) {
		if err := src.Client.CoreV1().Endpoints(ns).Delete(ctx, "switch-target", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitEndpoints(t, src, ns, "switch-target", func(ep *corev1.Endpoints) (bool, string) { return len(ep.Subsets) == 1, "" })
		svc, err := src.Client.CoreV1().Services(ns).Get(ctx, "switch-target", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		svc.Spec.Ports[0].Port = 1
		if _, err := src.Client.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitService(t, src, ns, "switch-target", func(s *corev1.Service) (bool, string) {
			return s.Spec.Ports[0].Port == 8080, fmt.Sprintf("port %d", s.Spec.Ports[0].Port)
		})
	})
	d.alive()
}

// waitLinkFailure waits until the Link status lists remote Service ns/name
// as failing with reason, or, when reason is "", no longer lists it.
func waitLinkFailure(t testing.TB, p *testbed.Pair, ns, name, reason string) {
	t.Helper()
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		link, err := p.GetLink(context.Background())
		if err != nil {
			return false, err.Error()
		}
		entries, _, _ := unstructured.NestedSlice(link.Object, "status", "mirrorServices")
		got := ""
		for _, e := range entries {
			m := e.(map[string]any)
			rn, _, _ := unstructured.NestedString(m, "remoteRef", "name")
			rns, _, _ := unstructured.NestedString(m, "remoteRef", "namespace")
			if rn != name || rns != ns {
				continue
			}
			conds, _, _ := unstructured.NestedSlice(m, "conditions")
			if len(conds) > 0 {
				got, _, _ = unstructured.NestedString(conds[0].(map[string]any), "reason")
			}
		}
		return got == reason, fmt.Sprintf("status reason for %s/%s is %q, want %q", ns, name, got, reason)
	})
}

// waitEvent waits for a Warning Event with reason whose message mentions what.
func waitEvent(t testing.TB, c *testbed.Cluster, reason, what string) {
	t.Helper()
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		list, err := c.Client.CoreV1().Events(testbed.LinkNamespace).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range list.Items {
			if e.Reason == reason && strings.Contains(e.Message, what) && e.InvolvedObject.Kind == "Link" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("no %s Event about %q among %d", reason, what, len(list.Items))
	})
}
