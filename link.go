package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/manifests"
	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/remote"
)

// Token lifetimes. The default, 24 h, bounds what a copied Secret is worth
// to a day, while the daemon renews it at 80% (after 19.2 h), leaving 4.8 h
// for retries, longer than any rolling upgrade or node drain; a daemon down
// longer than that says so and asks for a new `svcmirror link`. The
// minimum is the API server's own for TokenRequest.
const (
	defaultTokenTTL = 24 * time.Hour
	minTokenTTL     = 10 * time.Minute
	// tokenSecretWait bounds the wait for the token controller to fill a
	// long-lived token Secret (it normally takes well under a second).
	tokenSecretWait = time.Minute
)

// Names Linkerd's gateway Service uses for its ports and annotations.
const (
	gatewayPortName           = "mc-gateway"
	probePortName             = "mc-probe"
	gatewayIdentityAnnotation = "mirror.linkerd.io/gateway-identity"
)

// linkOptions are `svcmirror link`'s flags.
type linkOptions struct {
	kubeconfig, context      string
	clusterName, namespace   string
	apiServerAddress         string
	serviceAccount           string
	tokenTTL                 time.Duration
	dryRun                   bool
	gateway                  bool
	gatewayAddresses         string
	gatewayPort              int
	gatewayService           string
	gatewayIdentity          string
	clusterDomain            string
	linkerdNamespace         string
	selector                 string
	remoteDiscoverySelector  string
	federatedServiceSelector string
	excludedLabels           string
	excludedAnnotations      string
	probePath                string
	probePort                int
	probePeriod              time.Duration
	probeTimeout             time.Duration
	probeFailureThreshold    int

	set map[string]bool // flags given on the command line
	fs  *flag.FlagSet
}

func linkFlags(fs *flag.FlagSet) func(context.Context) error {
	return newLinkOptions(fs).run
}

// newLinkOptions registers the flags on fs.
func newLinkOptions(fs *flag.FlagSet) *linkOptions {
	o := &linkOptions{fs: fs}
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the TARGET (remote) cluster; $KUBECONFIG or ~/.kube/config when empty")
	fs.StringVar(&o.context, "context", "", "kubeconfig context of the target cluster; the current one when empty")
	fs.StringVar(&o.clusterName, "cluster-name", "", "name of the target cluster: the Link's name and targetClusterName, the mirrors' suffix (required)")
	fs.StringVar(&o.namespace, "namespace", manifests.DefaultNamespace, "namespace of the ServiceAccount in the target cluster and of the Link and Secret in the source cluster")
	fs.StringVar(&o.apiServerAddress, "api-server-address", "", "URL by which the SOURCE cluster's pods reach the target API server; the kubeconfig's server when empty")
	fs.StringVar(&o.serviceAccount, "service-account", manifests.RemoteServiceAccount, "the read-only ServiceAccount made in the target cluster")
	fs.DurationVar(&o.tokenTTL, "token-ttl", defaultTokenTTL, "lifetime of the bound token the daemon then renews at 80% of its life (at least 10m); 0 for a long-lived token Secret, as Linkerd uses")
	fs.BoolVar(&o.dryRun, "dry-run", false, "create nothing: print the target cluster's objects and the Link instead")
	fs.BoolVar(&o.gateway, "gateway", true, "the target has a gateway; --gateway=false makes a flat-network-only link")
	fs.StringVar(&o.gatewayAddresses, "gateway-addresses", "", "comma-separated IPs or DNS names of the target's gateway, as the source cluster reaches it")
	fs.IntVar(&o.gatewayPort, "gateway-port", 4143, "the gateway's data port (from --gateway-service's port "+gatewayPortName+" when not given)")
	fs.StringVar(&o.gatewayService, "gateway-service", "", "namespace/name of the gateway Service in the target cluster, whose load-balancer status gives the addresses")
	fs.StringVar(&o.gatewayIdentity, "gateway-identity", "", "the gateway's mTLS identity; from --gateway-service's "+gatewayIdentityAnnotation+" annotation, else Linkerd's default")
	fs.StringVar(&o.clusterDomain, "cluster-domain", plan.DefaultClusterDomain, "the target cluster's DNS domain")
	fs.StringVar(&o.linkerdNamespace, "linkerd-namespace", "linkerd", "Linkerd's control-plane namespace in the target (informational)")
	fs.StringVar(&o.selector, "selector", "mirror.linkerd.io/exported=true", "label selector of the Services exported in gateway mode; empty exports none")
	fs.StringVar(&o.remoteDiscoverySelector, "remote-discovery-selector", "mirror.linkerd.io/exported=remote-discovery", "label selector of the Services exported in flat (remote-discovery) mode; empty exports none")
	fs.StringVar(&o.federatedServiceSelector, "federated-service-selector", "mirror.linkerd.io/federated=member", "label selector of federated-service members; empty selects none")
	fs.StringVar(&o.excludedLabels, "excluded-labels", "", "comma-separated label keys not copied onto mirrors (an entry ending in /* excludes a prefix)")
	fs.StringVar(&o.excludedAnnotations, "excluded-annotations", "", "comma-separated annotation keys not copied onto mirrors (an entry ending in /* excludes a prefix)")
	fs.StringVar(&o.probePath, "probe-path", "/ready", "HTTP path probed on the gateway; empty disables probing")
	fs.IntVar(&o.probePort, "probe-port", 4191, "port probed on the gateway (from --gateway-service's port "+probePortName+" when not given)")
	fs.DurationVar(&o.probePeriod, "probe-period", 3*time.Second, "time between gateway probes")
	fs.DurationVar(&o.probeTimeout, "probe-timeout", plan.DefaultProbeTimeout, "timeout of one gateway probe")
	fs.IntVar(&o.probeFailureThreshold, "probe-failure-threshold", plan.DefaultProbeFailureThreshold, "consecutive failed probes after which the gateway counts as down")
	return o
}

// parsed notes which flags were given, once the flag set is parsed.
func (o *linkOptions) parsed() {
	o.set = map[string]bool{}
	o.fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
}

func (o *linkOptions) run(ctx context.Context) error {
	o.parsed()
	if o.clusterName == "" {
		return errors.New("--cluster-name is required")
	}
	if o.tokenTTL != 0 && o.tokenTTL < minTokenTTL {
		return fmt.Errorf("--token-ttl must be 0 (long-lived) or at least %s (the API server's minimum), not %s", minTokenTTL, o.tokenTTL)
	}
	if !o.gateway && (o.gatewayAddresses != "" || o.gatewayService != "") {
		return errors.New("--gateway=false contradicts --gateway-addresses and --gateway-service")
	}
	if o.gatewayAddresses != "" && o.gatewayService != "" {
		return errors.New("give --gateway-addresses or --gateway-service, not both")
	}

	cfg, err := o.targetConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("target client: %w", err)
	}
	link, err := o.linkObject(ctx, client)
	if err != nil {
		return err
	}
	// The Link must be one the daemon accepts: checked with its own parser.
	if _, err := plan.ParseLink(link); err != nil {
		return fmt.Errorf("the Link would be invalid: %w", err)
	}

	access, err := manifests.RemoteAccess(manifests.RemoteAccessOptions{
		Namespace: o.namespace, ServiceAccount: o.serviceAccount, LongLivedToken: o.tokenTTL == 0,
	})
	if err != nil {
		return err
	}
	if o.dryRun {
		ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": o.namespace}}}
		header := fmt.Sprintf(`svcmirror link --dry-run: the objects it would create on the TARGET cluster.
The Link below is for the SOURCE cluster; without --dry-run, svcmirror link prints it with
its credentials Secret (%s), which needs a token of the ServiceAccount above.`, manifests.CredentialsSecretName(o.clusterName))
		return writeYAML(out, header, append(append([]*unstructured.Unstructured{ns}, access...), link))
	}

	if err := o.createAccess(ctx, cfg, client, access); err != nil {
		return err
	}
	token, ca, err := o.credentials(ctx, client)
	if err != nil {
		return err
	}
	if len(cfg.CAData) > 0 {
		ca = cfg.CAData // what this kubeconfig trusts for this server
	} else if cfg.CAFile != "" {
		if ca, err = os.ReadFile(cfg.CAFile); err != nil {
			return fmt.Errorf("read the kubeconfig's CA file: %w", err)
		}
	}
	if len(ca) == 0 {
		// Published in every namespace by kube-controller-manager.
		if cm, err := client.CoreV1().ConfigMaps(o.namespace).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err == nil {
			ca = []byte(cm.Data["ca.crt"])
		}
	}
	kubeconfig, err := o.kubeconfigFor(cfg, token, ca)
	if err != nil {
		return err
	}
	if _, err := remote.ConfigFromKubeconfig(kubeconfig, 1, 1); err != nil {
		return fmt.Errorf("the credentials kubeconfig would be unusable: %w", err)
	}
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{
			"name": manifests.CredentialsSecretName(o.clusterName), "namespace": o.namespace,
			"labels": map[string]any{"app.kubernetes.io/name": "svcmirror", "svcmirror.io/link": o.clusterName},
		},
		"type":       "mirror.linkerd.io/remote-kubeconfig",
		"stringData": map[string]any{remote.KubeconfigKey: string(kubeconfig)},
	}}
	header := fmt.Sprintf(`svcmirror link --cluster-name %s: apply on the SOURCE cluster (kubectl apply -f -).
The Secret holds credentials for the target cluster: keep this output private.`, o.clusterName)
	return writeYAML(out, header, []*unstructured.Unstructured{link, secret})
}

// targetConfig loads the target cluster's kubeconfig and context.
func (o *linkOptions) targetConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.kubeconfig != "" {
		rules.ExplicitPath = o.kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("target cluster kubeconfig: %w", err)
	}
	cfg.UserAgent = "svcmirror-link/" + version
	return cfg, nil
}

// linkObject builds the v1alpha3 Link from the flags and, with
// --gateway-service, the gateway Service.
func (o *linkOptions) linkObject(ctx context.Context, client kubernetes.Interface) (*unstructured.Unstructured, error) {
	spec := map[string]any{
		"targetClusterName":             o.clusterName,
		"targetClusterDomain":           o.clusterDomain,
		"targetClusterLinkerdNamespace": o.linkerdNamespace,
		"clusterCredentialsSecret":      manifests.CredentialsSecretName(o.clusterName),
	}
	if o.gateway {
		gw, err := o.gatewayFields(ctx, client)
		if err != nil {
			return nil, err
		}
		for k, v := range gw {
			spec[k] = v
		}
	}
	for key, sel := range map[string]string{
		"selector": o.selector, "remoteDiscoverySelector": o.remoteDiscoverySelector, "federatedServiceSelector": o.federatedServiceSelector,
	} {
		if strings.TrimSpace(sel) == "" {
			continue // no selector selects nothing
		}
		ls, err := metav1.ParseToLabelSelector(sel)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flagOf(key), err)
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ls)
		if err != nil {
			return nil, err
		}
		spec[key] = m
	}
	for key, list := range map[string]string{"excludedLabels": o.excludedLabels, "excludedAnnotations": o.excludedAnnotations} {
		var l []any
		for _, e := range splitList(list) {
			l = append(l, e)
		}
		if len(l) > 0 {
			spec[key] = l
		}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": plan.LinkGroup + "/" + plan.LinkVersion,
		"kind":       plan.LinkKind,
		"metadata":   map[string]any{"name": o.clusterName, "namespace": o.namespace},
		"spec":       spec,
	}}, nil
}

func flagOf(specKey string) string {
	switch specKey {
	case "remoteDiscoverySelector":
		return "remote-discovery-selector"
	case "federatedServiceSelector":
		return "federated-service-selector"
	}
	return "selector"
}

// gatewayFields are the Link's gateway and probe fields.
func (o *linkOptions) gatewayFields(ctx context.Context, client kubernetes.Interface) (map[string]any, error) {
	addresses := splitList(o.gatewayAddresses)
	port, probePort, identity := o.gatewayPort, o.probePort, o.gatewayIdentity
	if o.gatewayService != "" {
		ns, name, ok := strings.Cut(o.gatewayService, "/")
		if !ok || ns == "" || name == "" {
			return nil, fmt.Errorf("--gateway-service %q: want namespace/name", o.gatewayService)
		}
		svc, err := client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("--gateway-service: %w", err)
		}
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			if ing.IP != "" {
				addresses = append(addresses, ing.IP)
			} else if ing.Hostname != "" {
				addresses = append(addresses, ing.Hostname)
			}
		}
		if len(addresses) == 0 {
			return nil, fmt.Errorf("gateway Service %s has no load-balancer address yet; wait for it or pass --gateway-addresses", o.gatewayService)
		}
		for _, p := range svc.Spec.Ports {
			switch {
			case p.Name == gatewayPortName && !o.set["gateway-port"]:
				port = int(p.Port)
			case p.Name == probePortName && !o.set["probe-port"]:
				probePort = int(p.Port)
			}
		}
		if identity == "" {
			identity = svc.Annotations[gatewayIdentityAnnotation]
		}
	}
	if len(addresses) == 0 {
		return nil, errors.New("no gateway address: pass --gateway-addresses or --gateway-service, or --gateway=false for a flat-network-only link")
	}
	if identity == "" {
		identity = fmt.Sprintf("linkerd-gateway.%s.serviceaccount.identity.%s.%s", o.namespace, o.linkerdNamespace, o.clusterDomain)
	}
	fields := map[string]any{
		"gatewayAddress":  strings.Join(addresses, ","),
		"gatewayPort":     strconv.Itoa(port),
		"gatewayIdentity": identity,
	}
	if o.probePath != "" {
		fields["probeSpec"] = map[string]any{
			"path":             o.probePath,
			"port":             strconv.Itoa(probePort),
			"period":           o.probePeriod.String(),
			"timeout":          o.probeTimeout.String(),
			"failureThreshold": strconv.Itoa(o.probeFailureThreshold),
		}
	}
	return fields, nil
}

func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// gvrs of the objects `svcmirror link` creates.
var linkGVRs = map[string]schema.GroupVersionResource{
	"Namespace":          {Version: "v1", Resource: "namespaces"},
	"ServiceAccount":     {Version: "v1", Resource: "serviceaccounts"},
	"Secret":             {Version: "v1", Resource: "secrets"},
	"ClusterRole":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
	"ClusterRoleBinding": {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
	"Role":               {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
	"RoleBinding":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
}

// createAccess creates the namespace (if missing) and the remote objects,
// with server-side apply, so running `svcmirror link` again is harmless and
// fields others own (the token controller's in a token Secret) are kept.
func (o *linkOptions) createAccess(ctx context.Context, cfg *rest.Config, client kubernetes.Interface, objs []*unstructured.Unstructured) error {
	logger := klog.FromContext(ctx)
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s in the target cluster: %w", o.namespace, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		gvr, ok := linkGVRs[obj.GetKind()]
		if !ok {
			return fmt.Errorf("no resource known for kind %s", obj.GetKind())
		}
		var ri dynamic.ResourceInterface = dyn.Resource(gvr)
		if obj.GetNamespace() != "" {
			ri = dyn.Resource(gvr).Namespace(obj.GetNamespace())
		}
		if _, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: "svcmirror-link", Force: true}); err != nil {
			return fmt.Errorf("create %s %s in the target cluster: %w", obj.GetKind(), obj.GetName(), err)
		}
		logger.V(1).Info("Applied on the target cluster", "kind", obj.GetKind(), "object", klog.KObj(obj))
	}
	return nil
}

// credentials returns a token for the ServiceAccount and, when the token
// Secret holds one, the cluster CA.
func (o *linkOptions) credentials(ctx context.Context, client kubernetes.Interface) (token string, ca []byte, err error) {
	if o.tokenTTL == 0 {
		return o.longLivedToken(ctx, client)
	}
	seconds := int64(o.tokenTTL / time.Second)
	tr, err := client.CoreV1().ServiceAccounts(o.namespace).CreateToken(ctx, o.serviceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", nil, fmt.Errorf("request a token for %s/%s: %w", o.namespace, o.serviceAccount, err)
	}
	expiry := tr.Status.ExpirationTimestamp.Time
	logger := klog.FromContext(ctx)
	// The API server may cap the lifetime (--service-account-max-token-expiration).
	if asked := time.Now().Add(o.tokenTTL); expiry.Before(asked.Add(-time.Minute)) {
		logger.Info("The API server shortened the token's lifetime", "asked", o.tokenTTL, "expiry", expiry.UTC())
	}
	fmt.Fprintf(errOut, "svcmirror link: token for %s/%s expires at %s; the daemon renews it at 80%% of its life\n",
		o.namespace, o.serviceAccount, expiry.UTC().Format(time.RFC3339))
	return tr.Status.Token, nil, nil
}

// longLivedToken waits for the token controller to fill the token Secret.
func (o *linkOptions) longLivedToken(ctx context.Context, client kubernetes.Interface) (string, []byte, error) {
	name := o.serviceAccount + "-token"
	var secret *corev1.Secret
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, tokenSecretWait, true, func(ctx context.Context) (bool, error) {
		s, err := client.CoreV1().Secrets(o.namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		secret = s
		return len(s.Data[corev1.ServiceAccountTokenKey]) > 0, nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("the token controller did not fill Secret %s/%s within %s (is kube-controller-manager running with a service-account key?): %w", o.namespace, name, tokenSecretWait, err)
	}
	fmt.Fprintf(errOut, "svcmirror link: long-lived token from Secret %s/%s; it never expires: delete that Secret to revoke it\n", o.namespace, name)
	return string(secret.Data[corev1.ServiceAccountTokenKey]), secret.Data[corev1.ServiceAccountRootCAKey], nil
}

// kubeconfigFor is the credentials kubeconfig: the target API server as the
// source cluster reaches it, its CA, and the token.
func (o *linkOptions) kubeconfigFor(cfg *rest.Config, token string, ca []byte) ([]byte, error) {
	server := o.apiServerAddress
	if server == "" {
		server = cfg.Host
	}
	if !strings.Contains(server, "://") {
		server = "https://" + server
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters[o.clusterName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	if len(ca) == 0 {
		fmt.Fprintln(errOut, "svcmirror link: no CA certificate found for the target API server; the kubeconfig relies on the system's trust store")
	}
	kc.AuthInfos[o.serviceAccount] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts[o.clusterName] = &clientcmdapi.Context{Cluster: o.clusterName, AuthInfo: o.serviceAccount}
	kc.CurrentContext = o.clusterName
	return clientcmd.Write(*kc)
}
