// Command demo is `make demo`: it starts two local clusters from the test
// bed, links them with svcmirror's manifests, runs `svcmirror run`, exports
// the seeds' mc-demo/bb Service and shows its mirror, first in gateway mode
// and then in remote-discovery mode. It keeps the clusters up until Ctrl-C.
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
	if err := run(*bin, *exit); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

const (
	ns        = "mc-demo"
	gatewayIP = "192.0.2.10" // a documentation address standing in for the target's gateway
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

	step("Starting two clusters (etcd, kube-apiserver, kube-controller-manager each) on 127.0.0.1")
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
		c, err := testbed.New(ctx, testbed.Options{Name: name, Dir: dir, Logf: logf})
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
	if err := pair.ApplyLink(ctx, pair.LinkObject(gatewayIP, nil)); err != nil {
		return err
	}

	step("Creating mc-demo/bb in target with a ready pod, and namespace mc-demo in source")
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
	if _, err := target.ReadyPod(ctx, testbed.PodSpec{Namespace: ns, Name: "bb-0", Labels: map[string]string{"app": "bb"}, IP: "10.42.0.7"}); err != nil {
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

	fmt.Printf("\nsource kubeconfig: %s\ntarget kubeconfig: %s\nsvcmirror metrics: http://%s/metrics\n", source.KubeconfigPath, target.KubeconfigPath, addr)
	if exit {
		return nil
	}
	fmt.Println("\nThe clusters stay up; press Ctrl-C to stop them.")
	<-ctx.Done()
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
