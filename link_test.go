package main

import (
	"context"
	"flag"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/svcmirror/svcmirror/manifests"
	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/remote"
)

func parseLinkOptions(t *testing.T, args ...string) *linkOptions {
	t.Helper()
	fs := flag.NewFlagSet("link", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := newLinkOptions(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	o.parsed()
	return o
}

func TestLinkObjectIsAValidLinkWithLinkerdsConventions(t *testing.T) {
	o := parseLinkOptions(t, "--cluster-name=east", "--gateway-addresses=192.0.2.1, gw.example.com", "--excluded-labels=a,b/*")
	u, err := o.linkObject(context.Background(), fake.NewClientset())
	if err != nil {
		t.Fatal(err)
	}
	if u.GetAPIVersion() != "multicluster.linkerd.io/v1alpha3" || u.GetKind() != "Link" || u.GetName() != "east" || u.GetNamespace() != "linkerd-multicluster" {
		t.Fatalf("Link %s %s %s/%s", u.GetAPIVersion(), u.GetKind(), u.GetNamespace(), u.GetName())
	}
	l, err := plan.ParseLink(u)
	if err != nil {
		t.Fatal(err)
	}
	if l.TargetClusterName != "east" || l.ClusterCredentialsSecret != "cluster-credentials-east" ||
		!slices.Equal(l.GatewayAddresses, []string{"192.0.2.1", "gw.example.com"}) || l.GatewayPort != 4143 ||
		l.GatewayIdentity != "linkerd-gateway.linkerd-multicluster.serviceaccount.identity.linkerd.cluster.local" {
		t.Errorf("parsed Link %+v", l)
	}
	if l.Probe.Path != "/ready" || l.Probe.Port != 4191 || l.Probe.Period.String() != "3s" || l.Probe.FailureThreshold != 3 {
		t.Errorf("probe %+v, want Linkerd's /ready on 4191 every 3s", l.Probe)
	}
	if l.Selector.String() != "mirror.linkerd.io/exported=true" || l.RemoteDiscoverySelector.String() != "mirror.linkerd.io/exported=remote-discovery" ||
		l.FederatedServiceSelector.String() != "mirror.linkerd.io/federated=member" {
		t.Errorf("selectors %s | %s | %s", l.Selector, l.RemoteDiscoverySelector, l.FederatedServiceSelector)
	}
	if !slices.Equal(l.ExcludedLabels, []string{"a", "b/*"}) {
		t.Errorf("excludedLabels %q", l.ExcludedLabels)
	}
}

func TestLinkWithoutGatewayIsFlatOnly(t *testing.T) {
	o := parseLinkOptions(t, "--cluster-name=east", "--gateway=false", "--selector=", "--remote-discovery-selector=team in (a,b)")
	u, err := o.linkObject(context.Background(), fake.NewClientset())
	if err != nil {
		t.Fatal(err)
	}
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	for _, f := range []string{"gatewayAddress", "gatewayPort", "gatewayIdentity", "probeSpec", "selector"} {
		if _, ok := spec[f]; ok {
			t.Errorf("a flat-only Link has spec.%s", f)
		}
	}
	l, err := plan.ParseLink(u)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.GatewayAddresses) != 0 || l.Probe.Enabled() {
		t.Errorf("parsed %+v", l)
	}
	if got := l.RemoteDiscoverySelector.String(); got != "team in (a,b)" {
		t.Errorf("remoteDiscoverySelector %q", got)
	}
	if l.ModeFor(map[string]string{"mirror.linkerd.io/exported": "true"}) != plan.ModeNone {
		t.Error("an empty --selector exports Services")
	}
}

func TestLinkReadsTheGatewayService(t *testing.T) {
	gw := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "linkerd-multicluster", Name: "linkerd-gateway",
			Annotations: map[string]string{"mirror.linkerd.io/gateway-identity": "gw.id.example"}},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "mc-gateway", Port: 14143}, {Name: "mc-probe", Port: 14191}}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
			{IP: "203.0.113.7"}, {Hostname: "gw.example.com"},
		}}},
	}
	client := fake.NewClientset(gw)
	o := parseLinkOptions(t, "--cluster-name=east", "--gateway-service=linkerd-multicluster/linkerd-gateway")
	u, err := o.linkObject(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	l, err := plan.ParseLink(u)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.GatewayAddresses, []string{"203.0.113.7", "gw.example.com"}) || l.GatewayPort != 14143 || l.Probe.Port != 14191 || l.GatewayIdentity != "gw.id.example" {
		t.Errorf("from the gateway Service: %v port %d probe %d identity %q", l.GatewayAddresses, l.GatewayPort, l.Probe.Port, l.GatewayIdentity)
	}

	// An explicit port wins over the Service's.
	o = parseLinkOptions(t, "--cluster-name=east", "--gateway-service=linkerd-multicluster/linkerd-gateway", "--gateway-port=5000")
	u, _ = o.linkObject(context.Background(), client)
	if port, _, _ := unstructured.NestedString(u.Object, "spec", "gatewayPort"); port != "5000" {
		t.Errorf("gatewayPort %q, want the flag's 5000", port)
	}

	gw.Status = corev1.ServiceStatus{}
	o = parseLinkOptions(t, "--cluster-name=east", "--gateway-service=linkerd-multicluster/linkerd-gateway")
	if _, err := o.linkObject(context.Background(), fake.NewClientset(gw)); err == nil || !strings.Contains(err.Error(), "no load-balancer address yet") {
		t.Errorf("a gateway Service without an address: err = %v", err)
	}
}

func TestLinkKubeconfigPointsAtTheGivenServer(t *testing.T) {
	o := parseLinkOptions(t, "--cluster-name=east", "--api-server-address=east-api.example:6443")
	data, err := o.kubeconfigFor(&rest.Config{Host: "https://127.0.0.1:6443"}, "tok", []byte("CA"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Clusters["east"]
	if c == nil || c.Server != "https://east-api.example:6443" || string(c.CertificateAuthorityData) != "CA" {
		t.Fatalf("cluster %+v", c)
	}
	if tok, _ := remote.BearerToken(data); tok != "tok" {
		t.Fatalf("token %q", tok)
	}
	o = parseLinkOptions(t, "--cluster-name=east")
	data, _ = o.kubeconfigFor(&rest.Config{Host: "https://127.0.0.1:6443"}, "tok", nil)
	cfg, _ = clientcmd.Load(data)
	if cfg.Clusters["east"].Server != "https://127.0.0.1:6443" {
		t.Fatalf("default server %q, want the kubeconfig's", cfg.Clusters["east"].Server)
	}
}

func TestLinkRejectsBadFlagsClearly(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"link"}, "--cluster-name is required"},
		{[]string{"link", "--cluster-name=east", "--token-ttl=5m"}, "at least 10m0s"},
		{[]string{"link", "--cluster-name=east", "--gateway=false", "--gateway-addresses=1.2.3.4"}, "contradicts"},
		{[]string{"link", "--cluster-name=East", "--gateway-addresses=1.2.3.4", "--kubeconfig=" + writeKubeconfig(t)}, "targetClusterName"},
		{[]string{"link", "--cluster-name=east", "--kubeconfig=" + writeKubeconfig(t)}, "no gateway address"},
	} {
		var stdout, stderr strings.Builder
		if code := runMain(tc.args, &stdout, &stderr); code != 1 {
			t.Errorf("%v: exit %d, want 1", tc.args, code)
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, stderr.String(), tc.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: printed %q on failure", tc.args, stdout.String())
		}
	}
}

// writeKubeconfig writes a kubeconfig for a server that does not exist: the
// commands under test must not need it.
func writeKubeconfig(t *testing.T) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLinkDryRunPrintsTheTargetObjectsAndTheLink(t *testing.T) {
	var stdout, stderr strings.Builder
	args := []string{"link", "--dry-run", "--cluster-name=east", "--gateway-addresses=192.0.2.1", "--kubeconfig=" + writeKubeconfig(t)}
	if code := runMain(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	objs, err := manifests.Decode("stdout", []byte(stdout.String()))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	want := []string{"Namespace/linkerd-multicluster", "ServiceAccount/svcmirror-remote-reader", "ClusterRole/svcmirror-remote-reader",
		"ClusterRoleBinding/svcmirror-remote-reader", "Role/svcmirror-remote-reader-token", "RoleBinding/svcmirror-remote-reader-token", "Link/east"}
	if !slices.Equal(got, want) {
		t.Fatalf("dry run printed %q, want %q", got, want)
	}
	if _, err := plan.ParseLink(objs[len(objs)-1]); err != nil {
		t.Fatal(err)
	}

	stdout.Reset()
	if code := runMain(append(args, "--token-ttl=0"), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "type: kubernetes.io/service-account-token") {
		t.Errorf("--token-ttl=0 dry run prints no long-lived token Secret:\n%s", stdout.String())
	}
}

func TestInstallPrintsOneLinksObjects(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := runMain([]string{"install", "--link=east", "--crd", "--enable-namespace-creation", "--image=reg.example/svcmirror:v2"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	objs, err := manifests.Decode("stdout", []byte(stdout.String()))
	if err != nil {
		t.Fatal(err)
	}
	want, err := manifests.Install(manifests.InstallOptions{Link: "east", Image: "reg.example/svcmirror:v2", EnableNamespaceCreation: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != len(want)+1 || objs[0].GetKind() != "CustomResourceDefinition" {
		t.Fatalf("printed %d objects starting with %s, want the CRD and %d", len(objs), objs[0].GetKind(), len(want))
	}
	for i, w := range want {
		if got := objs[i+1]; got.GetKind() != w.GetKind() || got.GetName() != w.GetName() {
			t.Errorf("object %d is %s/%s, want %s/%s", i+1, got.GetKind(), got.GetName(), w.GetKind(), w.GetName())
		}
	}
	if !strings.Contains(stdout.String(), "--enable-namespace-creation") || !strings.Contains(stdout.String(), "reg.example/svcmirror:v2") {
		t.Error("flags did not reach the Deployment")
	}

	stdout.Reset()
	stderr.Reset()
	if code := runMain([]string{"install"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "--link is required") {
		t.Errorf("no --link: exit %d, stderr %q", code, stderr.String())
	}
}
