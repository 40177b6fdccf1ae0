// Command demo is `make demo`: in a private network namespace it starts two
// local clusters from the test bed and a flat network (a source node with
// kube-proxy and CoreDNS, a target pod, a stand-in gateway), links the
// clusters with svcmirror's manifests, runs `svcmirror run`, exports the
// seeds' mc-demo/bb Service and shows its mirror, first in gateway mode and
// then in remote-discovery mode, each time ending with a real request from
// the source node through the mirror and the remote pod's answer. It keeps
// the clusters up until Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

func main() {
	bin := flag.String("svcmirror", "bin/svcmirror", "the svcmirror binary to run")
	exit := flag.Bool("exit", false, "stop everything after showing the mirror instead of waiting for Ctrl-C")
	flag.Parse()
	// The flat network adds interfaces and routes: only ever in a network
	// namespace of its own, which this re-runs the program in.
	if err := testbed.EnterPrivateNetwork(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	if err := run(*bin, *exit); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

const (
	ns = "mc-demo"
	// The flat network's addresses (TEST-NET-2, inside the private
	// network namespace only).
	nodeIP    = "198.51.100.2"
	podIP     = "198.51.100.11"
	gatewayIP = "198.51.100.20"
	url       = "http://bb-target.mc-demo.svc.cluster.local:8080/"
)

func run(bin string, exit bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "svcmirror-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)

	step("Starting a flat network in a private network namespace: a bridge on " + testbed.HostIP + "/24")
	flat, err := testbed.StartFlatNet("demo")
	if err != nil {
		return err
	}
	defer flat.Close()

	step("Starting two clusters (etcd, kube-apiserver, kube-controller-manager each) on " + testbed.HostIP)
	var clusters []*testbed.Cluster
	defer func() {
		for _, c := range clusters {
			c.Stop()
		}
	}()
	for _, name := range []string{"source", "target"} {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		c, err := testbed.New(ctx, testbed.Options{Name: name, Dir: dir, Logf: logf, Address: testbed.HostIP})
		if err != nil {
			return err
		}
		clusters = append(clusters, c)
	}
	source, target := clusters[0], clusters[1]

	step("Linking them: Link CRD and svcmirror RBAC in source, read-only RBAC in target, credentials Secret")
	pair, err := testbed.LinkClusters(ctx, source, target, "target")
	if err != nil {
		return err
	}
	step("Starting pod bb-0 on " + podIP + " (a process answering HTTP with its name), a stand-in gateway on " +
		gatewayIP + " (a TCP relay to bb-0; Linkerd's gateway routes by mTLS identity instead), and source node " +
		nodeIP + " (kube-proxy in nftables mode, CoreDNS)")
	pod, err := flat.StartPod(ctx, "bb-0", podIP)
	if err != nil {
		return err
	}
	if _, err := flat.StartGateway(ctx, "target", gatewayIP, pod.Addr()); err != nil {
		return err
	}
	node, err := flat.StartNode(ctx, source, "source-node", nodeIP)
	if err != nil {
		return err
	}
	probe := map[string]any{"path": "/ready", "port": fmt.Sprint(testbed.GatewayProbePort), "period": "3s"}
	if err := pair.ApplyLink(ctx, pair.LinkObject(gatewayIP, map[string]any{"probeSpec": probe})); err != nil {
		return err
	}

	step("Creating mc-demo/bb in target with its ready pod, and namespace mc-demo in source")
	for _, c := range clusters {
		if err := c.EnsureNamespace(ctx, ns); err != nil {
			return err
		}
	}
	bb := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bb", Labels: map[string]string{"app": "bb"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "bb"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := target.Client.CoreV1().Services(ns).Create(ctx, bb, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := target.ReadyPod(ctx, testbed.PodSpec{Namespace: ns, Name: "bb-0", Labels: map[string]string{"app": "bb"}, IP: podIP}); err != nil {
		return err
	}

	addr, err := testbed.FreeAddr()
	if err != nil {
		return err
	}
	logPath := filepath.Join(root, "svcmirror.log")
	step("Running: svcmirror run --link=target --namespace=linkerd-multicluster (log: " + logPath + ")")
	daemon, err := testbed.StartProcess("svcmirror", bin, []string{"run",
		"--kubeconfig=" + pair.DaemonKubeconfig, "--namespace=" + testbed.LinkNamespace, "--link=target",
		"--metrics-addr=" + addr, "-v=2"}, logPath)
	if err != nil {
		return err
	}
	defer daemon.Stop(5 * time.Second)

	step("Exporting bb in gateway mode: kubectl --context target -n mc-demo label svc/bb mirror.linkerd.io/exported=true")
	if err := label(ctx, target, "true"); err != nil {
		return err
	}
	svc, err := waitFor(ctx, func() (*corev1.Service, bool) {
		s, err := source.Client.CoreV1().Services(ns).Get(ctx, "bb-target", metav1.GetOptions{})
		return s, err == nil
	})
	if err != nil {
		return err
	}
	ep, err := waitFor(ctx, func() (*corev1.Endpoints, bool) {
		e, err := source.Client.CoreV1().Endpoints(ns).Get(ctx, "bb-target", metav1.GetOptions{})
		return e, err == nil && len(e.Subsets) > 0
	})
	if err != nil {
		return err
	}
	show("Service mc-demo/bb-target in source", svc)
	show("Endpoints mc-demo/bb-target in source (the gateway's address and port)", ep)
	slice, err := waitFor(ctx, func() (*discoveryv1.EndpointSlice, bool) {
		s, err := source.Client.DiscoveryV1().EndpointSlices(ns).Get(ctx, "bb-target.0", metav1.GetOptions{})
		return s, err == nil && len(s.Endpoints) > 0
	})
	if err != nil {
		return err
	}
	show("EndpointSlice mc-demo/bb-target.0 in source (the same, for kube-proxy and CoreDNS)", slice)
	if err := request(ctx, node, "through the stand-in gateway"); err != nil {
		return err
	}

	step("Switching bb to remote-discovery mode: label mirror.linkerd.io/exported=remote-discovery")
	if err := label(ctx, target, "remote-discovery"); err != nil {
		return err
	}
	svc, err = waitFor(ctx, func() (*corev1.Service, bool) {
		s, err := source.Client.CoreV1().Services(ns).Get(ctx, "bb-target", metav1.GetOptions{})
		return s, err == nil && s.Labels["multicluster.linkerd.io/remote-discovery"] == "target"
	})
	if err != nil {
		return err
	}
	if _, err := waitFor(ctx, func() (bool, bool) {
		_, err := source.Client.CoreV1().Endpoints(ns).Get(ctx, "bb-target", metav1.GetOptions{})
		return true, apierrors.IsNotFound(err)
	}); err != nil {
		return err
	}
	show("Service mc-demo/bb-target in source, now remote-discovery (its Endpoints are gone: Linkerd reads the target directly)", svc)
	slice, err = waitFor(ctx, func() (*discoveryv1.EndpointSlice, bool) {
		s, err := source.Client.DiscoveryV1().EndpointSlices(ns).Get(ctx, "bb-target.0", metav1.GetOptions{})
		return s, err == nil && len(s.Endpoints) == 1 && len(s.Endpoints[0].Addresses) == 1 && s.Endpoints[0].Addresses[0] == podIP
	})
	if err != nil {
		return err
	}
	show("EndpointSlice mc-demo/bb-target.0 in source, now the remote pod's own address, for clients without a mesh", slice)
	if err := request(ctx, node, "straight to the remote pod"); err != nil {
		return err
	}

	fmt.Printf("\nsource kubeconfig: %s\ntarget kubeconfig: %s\nsvcmirror metrics: http://%s/metrics\n", source.KubeconfigPath, target.KubeconfigPath, addr)
	if exit {
		return nil
	}
	fmt.Println("\nThe clusters stay up; press Ctrl-C to stop them.")
	<-ctx.Done()
	return nil
}

// request sends GET url from the source node, resolved by its CoreDNS and
// forwarded by its kube-proxy, until an answer comes (kube-proxy follows the
// slice within a second or so), and prints it.
func request(ctx context.Context, node *testbed.Node, how string) error {
	step("From the source node: GET " + url + " (" + how + ")")
	answer, err := waitFor(ctx, func() (testbed.Answer, bool) {
		answers, err := node.Get(ctx, url, 1)
		if err != nil {
			return testbed.Answer{Err: err.Error()}, false
		}
		return answers[0], answers[0].Err == ""
	})
	if err != nil {
		return fmt.Errorf("no answer through the mirror (last: %s): %w", answer.Err, err)
	}
	fmt.Printf("    answered by the remote pod: %s\n", answer.Body)
	return nil
}

func label(ctx context.Context, c *testbed.Cluster, value string) error {
	svc, err := c.Client.CoreV1().Services(ns).Get(ctx, "bb", metav1.GetOptions{})
	if err != nil {
		return err
	}
	svc.Labels["mirror.linkerd.io/exported"] = value
	_, err = c.Client.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{})
	return err
}

// waitFor polls get until it reports done, for up to 30 seconds.
func waitFor[T any](ctx context.Context, get func() (T, bool)) (T, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, done := get()
		if done {
			return v, nil
		}
		if time.Now().After(deadline) {
			return v, fmt.Errorf("timed out waiting for the mirror; see the svcmirror log")
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func show(title string, obj metav1.Object) {
	obj.SetManagedFields(nil)
	data, err := yaml.Marshal(obj)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("\n--- %s ---\n%s", title, data)
}

func step(msg string) { fmt.Printf("\n==> %s\n", msg) }

func logf(format string, args ...any) { fmt.Printf("    "+format+"\n", args...) }
