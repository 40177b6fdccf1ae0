package check

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/svcmirror/svcmirror/mirror/plan"
)

const (
	testNS      = "linkerd-multicluster"
	testLink    = "east"
	testSecret  = "cluster-credentials-east"
	testAccount = "svcmirror-remote-reader"
)

// testNow is the fixed clock of every test.
var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// env is one test's two clusters: fakes of the source (local) and target
// (remote) clusters, and the Config that reaches them.
type env struct {
	t      *testing.T
	local  *fake.Clientset
	remote *fake.Clientset
	cfg    Config
	// rules are what the remote's SelfSubjectRulesReview answers.
	rules []authorizationv1.ResourceRule
	// reviewErr, when set, is the review's error instead.
	reviewErr error
	// reviewNamespace is the namespace the last review asked about.
	reviewNamespace string
}

// neededRules are the rules of manifests/rbac-remote.yaml, less get of
// endpointslices, plus token renewal: exactly what the daemon needs.
func neededRules() []authorizationv1.ResourceRule {
	return []authorizationv1.ResourceRule{
		{Verbs: []string{"list", "watch"}, APIGroups: []string{""}, Resources: []string{"services"}},
		{Verbs: []string{"list", "watch"}, APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}},
		{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, ResourceNames: []string{testAccount}},
		{Verbs: []string{"create"}, APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"selfsubjectaccessreviews", "selfsubjectrulesreviews"}},
	}
}

// newEnv is a healthy link: CRD served, a valid Link with a probed
// gateway, its Secret with a fresh token, a live Lease, and the remote
// granting exactly what is needed.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, rules: neededRules()}
	e.local = fake.NewClientset()
	e.local.Resources = []*metav1.APIResourceList{{
		GroupVersion: "multicluster.linkerd.io/v1alpha3",
		APIResources: []metav1.APIResource{{Name: "links", Namespaced: true, Kind: "Link"}},
	}}
	e.remote = fake.NewClientset()
	e.remote.PrependReactor("create", "selfsubjectrulesreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		review := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectRulesReview)
		e.reviewNamespace = review.Spec.Namespace
		if e.reviewErr != nil {
			return true, nil, e.reviewErr
		}
		review = review.DeepCopy()
		review.Status.ResourceRules = e.rules
		return true, review, nil
	})
	e.cfg = Config{
		Namespace: testNS, LinkName: testLink,
		Local:        e.local,
		Dynamic:      dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{plan.LinkGVR: "LinkList"}),
		RemoteClient: func(*rest.Config) (kubernetes.Interface, error) { return e.remote, nil },
		HTTPClient:   &http.Client{},
		LookupIP: func(_ context.Context, host string) ([]net.IP, error) {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		},
		Now: func() time.Time { return testNow },
	}
	e.setLink(nil)
	e.setSecret(kubeconfigWithToken(t, serviceAccountJWT(testNow.Add(-time.Hour), testNow.Add(47*time.Hour))))
	e.setLease("svcmirror-0", testNow.Add(-2*time.Second), 30)
	return e
}

// setLink writes the Link, with change applied to its spec first.
func (e *env) setLink(change func(spec map[string]any)) {
	e.t.Helper()
	spec := map[string]any{
		"targetClusterName":        "east",
		"clusterCredentialsSecret": testSecret,
		"gatewayAddress":           "127.0.0.1",
		"gatewayPort":              "4143",
		"probeSpec":                map[string]any{"path": "/ready", "port": "1", "period": "3s", "timeout": "2s"},
		"selector":                 map[string]any{"matchLabels": map[string]any{"mirror.linkerd.io/exported": "true"}},
		"remoteDiscoverySelector":  map[string]any{"matchLabels": map[string]any{"mirror.linkerd.io/exported": "remote-discovery"}},
	}
	if change != nil {
		change(spec)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "multicluster.linkerd.io/v1alpha3", "kind": "Link",
		"metadata": map[string]any{"namespace": testNS, "name": testLink},
		"spec":     spec,
	}}
	ri := e.cfg.Dynamic.Resource(plan.LinkGVR).Namespace(testNS)
	_ = ri.Delete(context.Background(), testLink, metav1.DeleteOptions{})
	if _, err := ri.Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// setProbePort points the Link's probe at port (a test server's).
func (e *env) setProbePort(port string) {
	e.setLink(func(spec map[string]any) {
		spec["probeSpec"] = map[string]any{"path": "/ready", "port": port, "period": "3s", "timeout": "2s"}
	})
}

func (e *env) setSecret(kubeconfig []byte) {
	e.t.Helper()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: testSecret},
		Type:       "mirror.linkerd.io/remote-kubeconfig",
		Data:       map[string][]byte{"kubeconfig": kubeconfig},
	}
	_ = e.local.CoreV1().Secrets(testNS).Delete(context.Background(), testSecret, metav1.DeleteOptions{})
	if _, err := e.local.CoreV1().Secrets(testNS).Create(context.Background(), secret, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) setLease(holder string, renewed time.Time, seconds int32) {
	e.t.Helper()
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: plan.LeaseName(testLink)},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(holder),
			LeaseDurationSeconds: ptr.To(seconds),
			RenewTime:            &metav1.MicroTime{Time: renewed},
		},
	}
	_ = e.local.CoordinationV1().Leases(testNS).Delete(context.Background(), lease.Name, metav1.DeleteOptions{})
	if _, err := e.local.CoordinationV1().Leases(testNS).Create(context.Background(), lease, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// run runs every check.
func (e *env) run() Report {
	return Run(context.Background(), e.cfg)
}

// result runs every check and returns the one named.
func (e *env) result(name string) Result {
	e.t.Helper()
	for _, r := range e.run().Checks {
		if r.Name == name {
			return r
		}
	}
	e.t.Fatalf("no check %q", name)
	return Result{}
}

// kubeconfigWithToken is a remote kubeconfig authenticating with token.
func kubeconfigWithToken(t *testing.T, token string) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["east"] = &clientcmdapi.Cluster{Server: "https://east.example:6443"}
	cfg.AuthInfos["east"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["east"] = &clientcmdapi.Context{Cluster: "east", AuthInfo: "east"}
	cfg.CurrentContext = "east"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// serviceAccountJWT is an unsigned token for testAccount issued at iat and
// expiring at exp (no exp claim when exp is zero).
func serviceAccountJWT(iat, exp time.Time) string {
	claims := map[string]any{"sub": "system:serviceaccount:" + testNS + ":" + testAccount, "iat": iat.Unix()}
	if !exp.IsZero() {
		claims["exp"] = exp.Unix()
	}
	return jwtOf(claims)
}

func jwtOf(claims map[string]any) string {
	payload, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + ".c2lnbmF0dXJl"
}

// mirrorService is a local gateway-mode mirror of remote ns/name.
func mirrorService(ns, name string, labelsKV ...string) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: name + "-east",
		Labels:      plan.OwnershipLabels("east"),
		Annotations: map[string]string{plan.AnnotationRemoteSvcFQName: plan.FQName(name, ns, "cluster.local")},
	}}
	for i := 0; i+1 < len(labelsKV); i += 2 {
		svc.Labels[labelsKV[i]] = labelsKV[i+1]
	}
	return svc
}

// mirrorEndpoints are a mirror's Endpoints with ready and not-ready
// gateway addresses.
func mirrorEndpoints(ns, name string, ready, notReady []string) *corev1.Endpoints {
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-east", Labels: plan.OwnershipLabels("east")}}
	if len(ready)+len(notReady) == 0 {
		return ep
	}
	sub := corev1.EndpointSubset{}
	for _, ip := range ready {
		sub.Addresses = append(sub.Addresses, corev1.EndpointAddress{IP: ip})
	}
	for _, ip := range notReady {
		sub.NotReadyAddresses = append(sub.NotReadyAddresses, corev1.EndpointAddress{IP: ip})
	}
	ep.Subsets = []corev1.EndpointSubset{sub}
	return ep
}

// remoteService is a remote Service with labels.
func remoteService(ns, name string, labelsKV ...string) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{}}}
	for i := 0; i+1 < len(labelsKV); i += 2 {
		svc.Labels[labelsKV[i]] = labelsKV[i+1]
	}
	return svc
}

// remoteSlice is an EndpointSlice of remote ns/name with the given
// readiness per endpoint.
func remoteSlice(ns, name string, ready ...bool) *discoveryv1.EndpointSlice {
	sl := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: name + "-abc", Labels: map[string]string{discoveryv1.LabelServiceName: name},
	}}
	for _, r := range ready {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(r)}})
	}
	return sl
}

func create[T runtime.Object](t *testing.T, c *fake.Clientset, objs ...T) {
	t.Helper()
	for _, o := range objs {
		if err := c.Tracker().Add(o); err != nil {
			t.Fatal(err)
		}
	}
}
