package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/svcmirror/svcmirror/e2e/testbed"
	"github.com/svcmirror/svcmirror/manifests"
	"github.com/svcmirror/svcmirror/remote"
)

// cli runs one svcmirror subcommand to completion and returns its stdout.
func cli(t testing.TB, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, svcmirrorBin(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("svcmirror %v: %v\nstderr:\n%s", args, err, stderr.String())
	}
	t.Logf("svcmirror %s: stderr:\n%s", args[0], stderr.String())
	return stdout.Bytes()
}

// applyOutput applies a command's YAML output to c, as `kubectl apply -f -`
// would, and returns the objects.
func applyOutput(t testing.TB, c *testbed.Cluster, yaml []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := manifests.Decode("output", yaml)
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, yaml)
	}
	ctx := context.Background()
	for _, o := range objs {
		if err := c.Apply(ctx, o); err != nil {
			t.Fatal(err)
		}
		if o.GetKind() == "CustomResourceDefinition" {
			if err := c.WaitForCRD(ctx, testbed.LinkGVR.GroupVersion().String(), testbed.LinkGVR.Resource); err != nil {
				t.Fatal(err)
			}
		}
	}
	return objs
}

// linkedWithCommands starts two clusters and links them with
// `svcmirror install --link target --crd | apply to source` and
// `svcmirror link ... | apply to source`, nothing else. It returns the pair
// (whose DaemonKubeconfig holds a token of the installed ServiceAccount)
// and the credentials kubeconfig `svcmirror link` printed.
func linkedWithCommands(t testing.TB, linkArgs ...string) (*testbed.Pair, []byte) {
	t.Helper()
	cs := testbed.StartAll(t, []string{"source", "target"})
	source, target := cs[0], cs[1]
	ctx := context.Background()

	applyOutput(t, source, cli(t, "install", "--link="+clusterName, "--crd"))
	args := append([]string{"link", "--kubeconfig=" + target.KubeconfigPath, "--cluster-name=" + clusterName,
		"--gateway-addresses=" + gatewayIP, "--probe-path="}, linkArgs...)
	var kubeconfig []byte
	for _, o := range applyOutput(t, source, cli(t, args...)) {
		if o.GetKind() == "Secret" {
			s, _, _ := unstructured.NestedString(o.Object, "stringData", remote.KubeconfigKey)
			kubeconfig = []byte(s)
		}
	}
	if len(kubeconfig) == 0 {
		t.Fatal("svcmirror link printed no credentials Secret")
	}

	daemonCfg, err := source.ServiceAccountKubeconfig(ctx, testbed.LinkNamespace, manifests.LocalServiceAccount(clusterName))
	if err != nil {
		t.Fatal(err)
	}
	p := &testbed.Pair{Source: source, Target: target, ClusterName: clusterName,
		DaemonKubeconfig: filepath.Join(t.TempDir(), "daemon.kubeconfig")}
	if err := os.WriteFile(p.DaemonKubeconfig, daemonCfg, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, kubeconfig
}

func clientFor(t testing.TB, kubeconfig []byte) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantForbidden(t testing.TB, what string, err error) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Errorf("%s: err = %v, want Forbidden", what, err)
	}
}

// TestInstallAndLinkCommands links two clusters with the two commands only
// and runs the daemon as the installed ServiceAccount with the credentials
// `svcmirror link` made: mirroring works, and actions outside either
// side's RBAC are refused.
func TestInstallAndLinkCommands(t *testing.T) {
	p, remoteKubeconfig := linkedWithCommands(t)
	ctx := context.Background()
	const ns = "cli-apps"
	if err := p.Source.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	makeRemoteService(t, p.Target, ns, "web", "10.4.0.1", exported("true"))
	d := startDaemon(t, p)
	waitService(t, p.Source, ns, "web-"+clusterName, func(s *corev1.Service) (bool, string) {
		return s.Labels["mirror.linkerd.io/mirrored-service"] == "true", "mirror with ownership labels"
	})
	waitEndpoints(t, p.Source, ns, "web-"+clusterName, func(ep *corev1.Endpoints) (bool, string) {
		ready, _ := gatewayAddresses(ep)
		return slices.Equal(ready, []string{gatewayIP}), fmt.Sprintf("gateway addresses %v", ready)
	})
	d.waitReady()
	link, err := p.GetLink(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(link.GetFinalizers(), "svcmirror.io/cleanup-mirrors") {
		t.Errorf("finalizers %v: the installed RBAC did not let the daemon update its Link", link.GetFinalizers())
	}

	// The local ServiceAccount: no Secret but its own, no other link's Lease.
	daemonCfg, err := os.ReadFile(p.DaemonKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	local := clientFor(t, daemonCfg)
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testbed.LinkNamespace, Name: "not-the-daemons"}}
	if _, err := p.Source.Client.CoreV1().Secrets(testbed.LinkNamespace).Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	wantForbidden(t, "local SA deletes a Secret it does not own",
		local.CoreV1().Secrets(testbed.LinkNamespace).Delete(ctx, other.Name, metav1.DeleteOptions{}))
	_, err = local.CoreV1().Secrets(testbed.LinkNamespace).Update(ctx, other, metav1.UpdateOptions{})
	wantForbidden(t, "local SA updates a Secret it does not own", err)
	wantForbidden(t, "local SA deletes its own credentials Secret",
		local.CoreV1().Secrets(testbed.LinkNamespace).Delete(ctx, manifests.CredentialsSecretName(clusterName), metav1.DeleteOptions{}))
	_, err = local.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
	wantForbidden(t, "local SA lists Secrets outside its namespace", err)
	_, err = local.CoordinationV1().Leases(testbed.LinkNamespace).Get(ctx, manifests.LeaseName("other"), metav1.GetOptions{})
	wantForbidden(t, "local SA reads another link's Lease", err)
	_, err = local.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "made-by-daemon"}}, metav1.CreateOptions{})
	wantForbidden(t, "local SA creates a namespace without --enable-namespace-creation", err)

	// The remote credentials: read-only, Services and EndpointSlices only.
	rc := clientFor(t, remoteKubeconfig)
	if _, err := rc.CoreV1().Services("").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("remote credentials cannot list Services: %v", err)
	}
	_, err = rc.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	wantForbidden(t, "remote credentials list pods", err)
	_, err = rc.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	wantForbidden(t, "remote credentials get a Service (list and watch only)", err)
	err = rc.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{})
	wantForbidden(t, "remote credentials delete a Service", err)
	_, err = rc.CoreV1().Secrets(testbed.LinkNamespace).List(ctx, metav1.ListOptions{})
	wantForbidden(t, "remote credentials list Secrets", err)
	_, err = p.Target.Client.CoreV1().ServiceAccounts(testbed.LinkNamespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "someone-else"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = rc.CoreV1().ServiceAccounts(testbed.LinkNamespace).CreateToken(ctx, "someone-else", tokenRequest(600), metav1.CreateOptions{})
	wantForbidden(t, "remote credentials mint a token for another ServiceAccount", err)
	if _, err := rc.CoreV1().ServiceAccounts(testbed.LinkNamespace).CreateToken(ctx, manifests.RemoteServiceAccount, tokenRequest(600), metav1.CreateOptions{}); err != nil {
		t.Errorf("remote credentials cannot renew their own token: %v", err)
	}
	d.alive()
}

// TestTokenRenewal links with a 10-minute token (the API server's minimum)
// and a daemon that renews at 1% of a token's life (6 s): the Secret gets a
// newer token well before the old one expires, the mirror never goes away
// or loses its addresses, and a remote change after the renewal still
// reaches it.
func TestTokenRenewal(t *testing.T) {
	p, first := linkedWithCommands(t, "--token-ttl=10m")
	ctx := context.Background()
	const ns = "renew-apps"
	if err := p.Source.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	makeRemoteService(t, p.Target, ns, "web", "10.4.0.2", exported("true"))
	firstClaims := claimsOf(t, first)
	if got := firstClaims.Lifetime(); got != 10*time.Minute {
		t.Fatalf("svcmirror link's token lives %s, want 10m", got)
	}

	d := startDaemon(t, p, "--token-renewal-fraction=0.01")
	mirror := "web-" + clusterName
	ep := waitEndpoints(t, p.Source, ns, mirror, func(ep *corev1.Endpoints) (bool, string) {
		ready, _ := gatewayAddresses(ep)
		return len(ready) == 1, fmt.Sprintf("ready %v", ready)
	})
	// From here on the mirror must not disappear or lose its address.
	svcWatch, err := p.Source.Client.CoreV1().Services(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + mirror, ResourceVersion: ep.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer svcWatch.Stop()
	epWatch, err := p.Source.Client.CoreV1().Endpoints(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + mirror, ResourceVersion: ep.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer epWatch.Stop()
	var stopped atomic.Bool
	svcProblems := watchProblems(svcWatch, func(ev watch.Event) string {
		if ev.Type == watch.Error && stopped.Load() {
			return ""
		}
		if ev.Type == watch.Deleted || ev.Type == watch.Error {
			return fmt.Sprintf("mirror Service event %s during renewal: %v", ev.Type, ev.Object)
		}
		return ""
	})
	epProblems := watchProblems(epWatch, func(ev watch.Event) string {
		if ev.Type == watch.Error && stopped.Load() {
			return ""
		}
		e, ok := ev.Object.(*corev1.Endpoints)
		if ev.Type == watch.Deleted || ev.Type == watch.Error || !ok {
			return fmt.Sprintf("mirror Endpoints event %s during renewal: %v", ev.Type, ev.Object)
		}
		if ready, _ := gatewayAddresses(e); len(ready) != 1 {
			return fmt.Sprintf("mirror Endpoints lost their address during renewal: %v", e.Subsets)
		}
		return ""
	})

	var renewed remote.TokenClaims
	testbed.Eventually(t, 60*time.Second, func() (bool, string) {
		d.alive()
		s, err := p.Source.Client.CoreV1().Secrets(testbed.LinkNamespace).Get(ctx, manifests.CredentialsSecretName(clusterName), metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		renewed = claimsOf(t, s.Data[remote.KubeconfigKey])
		return renewed.IssuedAt.After(firstClaims.IssuedAt), fmt.Sprintf("token issued at %s, first at %s", renewed.IssuedAt, firstClaims.IssuedAt)
	})
	if !time.Now().Before(firstClaims.Expiry) {
		t.Fatalf("renewed only after the first token expired (%s)", firstClaims.Expiry)
	}
	if renewed.Lifetime() != firstClaims.Lifetime() || renewed.ServiceAccount != firstClaims.ServiceAccount {
		t.Fatalf("renewed token %+v, want the same ServiceAccount and lifetime as %+v", renewed, firstClaims)
	}

	// The daemon logs the renewal just after its Secret update returns.
	var renewals int
	testbed.Eventually(t, 10*time.Second, func() (bool, string) {
		logData, err := os.ReadFile(filepath.Join(d.dir, fmt.Sprintf("svcmirror-%d.log", d.runNo)))
		if err != nil {
			return false, err.Error()
		}
		renewals = bytes.Count(logData, []byte(`"Renewed the remote token"`))
		return renewals > 0, "the Secret has a new token, but the daemon logged no renewal"
	})
	t.Logf("renewals logged by the daemon so far: %d; token issued at %s, expires at %s (first expired at %s)",
		renewals, renewed.IssuedAt, renewed.Expiry, firstClaims.Expiry)

	updateRemote(t, p.Target, ns, "web", func(s *corev1.Service) { s.Labels["after"] = "renewal" })
	waitService(t, p.Source, ns, mirror, func(s *corev1.Service) (bool, string) {
		return s.Labels["after"] == "renewal", "a change after the renewal reaches the mirror"
	})
	d.waitReady()

	// Stopping a watch can surface as a client-side decoding Error event.
	stopped.Store(true)
	svcWatch.Stop()
	epWatch.Stop()
	for _, problem := range append(<-svcProblems, <-epProblems...) {
		t.Error(problem)
	}
}

// watchProblems collects, until w stops, the events of w that check
// objects to.
func watchProblems(w watch.Interface, check func(watch.Event) string) <-chan []string {
	out := make(chan []string, 1)
	go func() {
		var problems []string
		for ev := range w.ResultChan() {
			if p := check(ev); p != "" {
				problems = append(problems, p)
			}
		}
		out <- problems
	}()
	return out
}

func claimsOf(t testing.TB, kubeconfig []byte) remote.TokenClaims {
	t.Helper()
	tok, err := remote.BearerToken(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := remote.ParseTokenClaims(tok)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tokenRequest(seconds int64) *authenticationv1.TokenRequest {
	return &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}
}

// TestLinkWithLongLivedToken: --token-ttl=0 makes the long-lived token
// Secret Linkerd's link uses, waits for the token controller to fill it,
// and prints credentials that never expire, work, and are read-only. Run
// again, it changes nothing and prints the same token.
func TestLinkWithLongLivedToken(t *testing.T) {
	target := testbed.Start(t, "target")
	args := []string{"link", "--kubeconfig=" + target.KubeconfigPath, "--cluster-name=east", "--gateway=false", "--token-ttl=0"}
	credentials := func() []byte {
		for _, o := range mustDecode(t, cli(t, args...)) {
			if o.GetKind() == "Secret" {
				s, _, _ := unstructured.NestedString(o.Object, "stringData", remote.KubeconfigKey)
				return []byte(s)
			}
		}
		t.Fatal("no credentials Secret printed")
		return nil
	}
	kubeconfig := credentials()
	c := claimsOf(t, kubeconfig)
	if c.Expires() || c.ServiceAccount != manifests.RemoteServiceAccount {
		t.Fatalf("claims %+v, want a token of %s that never expires", c, manifests.RemoteServiceAccount)
	}
	ctx := context.Background()
	s, err := target.Client.CoreV1().Secrets(testbed.LinkNamespace).Get(ctx, manifests.RemoteServiceAccount+"-token", metav1.GetOptions{})
	if err != nil || s.Type != corev1.SecretTypeServiceAccountToken {
		t.Fatalf("long-lived token Secret: %v %v", err, s)
	}
	rc := clientFor(t, kubeconfig)
	if _, err := rc.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the long-lived credentials cannot list EndpointSlices: %v", err)
	}
	_, err = rc.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	wantForbidden(t, "long-lived credentials list pods", err)
	if again, _ := remote.BearerToken(credentials()); again != mustToken(t, kubeconfig) {
		t.Error("a second svcmirror link --token-ttl=0 printed another token: the token Secret was replaced")
	}
}

func mustDecode(t testing.TB, yaml []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := manifests.Decode("output", yaml)
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, yaml)
	}
	return objs
}

func mustToken(t testing.TB, kubeconfig []byte) string {
	t.Helper()
	tok, err := remote.BearerToken(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
