package testbed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/svcmirror/svcmirror/manifests"
)

// LinkNamespace is where Links, their Secrets and the daemon live, as in
// manifests/.
const LinkNamespace = "linkerd-multicluster"

// LinkGVR is the Link resource.
var LinkGVR = schema.GroupVersionResource{Group: "multicluster.linkerd.io", Version: "v1alpha3", Resource: "links"}

// Pair is a source cluster linked to a target cluster as an operator would
// link them with svcmirror's manifests: the CRD and the daemon's RBAC in the
// source, read-only RBAC in the target, and a credentials Secret holding a
// kubeconfig for the target's read-only ServiceAccount.
type Pair struct {
	Source, Target *Cluster
	// ClusterName is the Link's targetClusterName and name.
	ClusterName string
	// DaemonKubeconfig is a kubeconfig file for the source cluster that
	// authenticates as the link's daemon ServiceAccount
	// (manifests/rbac-local.yaml, rendered for the link by manifests.Install).
	DaemonKubeconfig string
}

// LinkClusters installs svcmirror's manifests in both clusters and makes
// the credentials Secret; the Link itself is left to the caller (see
// LinkObject), so tests can write good and bad ones.
func LinkClusters(ctx context.Context, source, target *Cluster, clusterName string) (*Pair, error) {
	return LinkClustersWith(ctx, source, target, manifests.InstallOptions{Link: clusterName})
}

// LinkClustersWith is LinkClusters with the source cluster's RBAC rendered
// by manifests.Install with install (install.Link is the cluster name; the
// namespace is always LinkNamespace).
func LinkClustersWith(ctx context.Context, source, target *Cluster, install manifests.InstallOptions) (*Pair, error) {
	clusterName := install.Link
	install.Namespace = LinkNamespace
	for _, c := range []*Cluster{source, target} {
		if err := c.EnsureNamespace(ctx, LinkNamespace); err != nil {
			return nil, err
		}
	}
	if err := source.ApplyManifest(ctx, "crd-link.yaml"); err != nil {
		return nil, err
	}
	if err := source.WaitForCRD(ctx, LinkGVR.GroupVersion().String(), LinkGVR.Resource); err != nil {
		return nil, err
	}
	// The link's RBAC only: the Deployment's pods would never run here, and
	// its metrics Service would add Service and Endpoints writes to the
	// counts the tests read.
	installed, err := manifests.Install(install)
	if err != nil {
		return nil, err
	}
	var rbac []*unstructured.Unstructured
	for _, o := range installed {
		switch o.GetKind() {
		case "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			rbac = append(rbac, o)
		}
	}
	if err := source.Apply(ctx, rbac...); err != nil {
		return nil, err
	}
	if err := target.ApplyManifest(ctx, "rbac-remote.yaml"); err != nil {
		return nil, err
	}
	p := &Pair{Source: source, Target: target, ClusterName: clusterName}
	if err := p.WriteCredentials(ctx, "svcmirror-remote-reader"); err != nil {
		return nil, err
	}
	daemonCfg, err := source.ServiceAccountKubeconfig(ctx, LinkNamespace, manifests.LocalServiceAccount(clusterName))
	if err != nil {
		return nil, err
	}
	p.DaemonKubeconfig = filepath.Join(source.Dir, "daemon.kubeconfig")
	return p, os.WriteFile(p.DaemonKubeconfig, daemonCfg, 0o600)
}

// SecretName is the credentials Secret's name.
func (p *Pair) SecretName() string { return "cluster-credentials-" + p.ClusterName }

// WriteCredentials (re)writes the credentials Secret with a fresh token of
// the target's ServiceAccount account (in LinkNamespace).
func (p *Pair) WriteCredentials(ctx context.Context, account string) error {
	kubeconfig, err := p.Target.ServiceAccountKubeconfig(ctx, LinkNamespace, account)
	if err != nil {
		return err
	}
	return p.WriteSecret(ctx, kubeconfig)
}

// WriteSecret (re)writes the credentials Secret with kubeconfig as is.
func (p *Pair) WriteSecret(ctx context.Context, kubeconfig []byte) error {
	secret := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: LinkNamespace, Name: p.SecretName()},
		Type:       "mirror.linkerd.io/remote-kubeconfig",
		Data:       map[string][]byte{"kubeconfig": kubeconfig},
	}
	obj, err := toUnstructured(secret)
	if err != nil {
		return err
	}
	return p.Source.Apply(ctx, obj)
}

// LinkObject is a Link for this pair with the conventional selectors and
// the given gateway; extra spec fields override or add to the defaults.
func (p *Pair) LinkObject(gatewayAddress string, extra map[string]any) *unstructured.Unstructured {
	spec := map[string]any{
		"targetClusterName":             p.ClusterName,
		"targetClusterDomain":           "cluster.local",
		"targetClusterLinkerdNamespace": "linkerd",
		"clusterCredentialsSecret":      p.SecretName(),
		"gatewayAddress":                gatewayAddress,
		"gatewayPort":                   "4143",
		"gatewayIdentity":               "linkerd-gateway.linkerd-multicluster.serviceaccount.identity.linkerd.cluster.local",
		"selector":                      map[string]any{"matchLabels": map[string]any{"mirror.linkerd.io/exported": "true"}},
		"remoteDiscoverySelector":       map[string]any{"matchLabels": map[string]any{"mirror.linkerd.io/exported": "remote-discovery"}},
	}
	for k, v := range extra {
		spec[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": LinkGVR.GroupVersion().String(),
		"kind":       "Link",
		"metadata":   map[string]any{"namespace": LinkNamespace, "name": p.ClusterName},
		"spec":       spec,
	}}
}

// ApplyLink creates or replaces the Link.
func (p *Pair) ApplyLink(ctx context.Context, link *unstructured.Unstructured) error {
	return p.Source.Apply(ctx, link)
}

// GetLink reads the Link.
func (p *Pair) GetLink(ctx context.Context) (*unstructured.Unstructured, error) {
	return p.Source.Dynamic().Resource(LinkGVR).Namespace(LinkNamespace).Get(ctx, p.ClusterName, metav1.GetOptions{})
}

func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	m, err := runtimeToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

var runtimeToUnstructured = runtime.DefaultUnstructuredConverter.ToUnstructured
