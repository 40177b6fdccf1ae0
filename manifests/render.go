package manifests

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The names the files are written for: rbac-local.yaml, deployment.yaml and
// link-example.yaml serve the Link "target" in linkerd-multicluster, and
// rbac-remote.yaml grants the ServiceAccount svcmirror-remote-reader.
// Install and RemoteAccess render the same files for other names, so the
// files stay the one truth and `kubectl apply -f manifests/` still works.
const (
	ExampleLink          = "target"
	DefaultNamespace     = "linkerd-multicluster"
	RemoteServiceAccount = "svcmirror-remote-reader"
	// DefaultImage is the image deployment.yaml names.
	DefaultImage = "svcmirror:latest"
)

// LocalServiceAccount is the daemon's ServiceAccount for a link.
func LocalServiceAccount(link string) string { return "svcmirror-" + link }

// LeaseName is the leader-election Lease of a link, the name Linkerd's
// controller uses.
func LeaseName(link string) string { return "service-mirror-write-" + link }

// CredentialsSecretName is the conventional credentials Secret of a link.
func CredentialsSecretName(link string) string { return "cluster-credentials-" + link }

// Decode decodes a YAML stream of one or more documents, as Objects does
// for the embedded files; name is only used in errors.
func Decode(name string, data []byte) ([]*unstructured.Unstructured, error) {
	return decode(name, data)
}

// InstallOptions shape the source-cluster objects of one link.
type InstallOptions struct {
	// Link is the Link's name (and so its targetClusterName, by convention).
	Link string
	// Namespace holds the Link, its Secret and the daemon; DefaultNamespace
	// when empty.
	Namespace string
	// Image is the daemon's image; DefaultImage when empty.
	Image string
	// EnableNamespaceCreation lets the daemon create missing namespaces:
	// the ClusterRole gets create on namespaces and the daemon the flag.
	EnableNamespaceCreation bool
}

// Install renders rbac-local.yaml and deployment.yaml for one link: the
// namespace, the daemon's ServiceAccount and least-privilege RBAC, its
// Deployment, PodDisruptionBudget and metrics Service, in file order.
func Install(o InstallOptions) ([]*unstructured.Unstructured, error) {
	if errs := validation.IsDNS1123Label(o.Link); len(errs) > 0 {
		return nil, fmt.Errorf("link name %q: %s", o.Link, strings.Join(errs, "; "))
	}
	// The longest name rendered is "svcmirror-<link>-metrics", a Service name.
	if n := len(LocalServiceAccount(o.Link) + "-metrics"); n > validation.DNS1035LabelMaxLength {
		return nil, fmt.Errorf("link name %q is too long: svcmirror-%s-metrics would be %d characters, more than %d", o.Link, o.Link, n, validation.DNS1035LabelMaxLength)
	}
	ns := o.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return nil, fmt.Errorf("namespace %q: %s", ns, strings.Join(errs, "; "))
	}
	image := o.Image
	if image == "" {
		image = DefaultImage
	}
	var objs []*unstructured.Unstructured
	for _, file := range []string{"rbac-local.yaml", "deployment.yaml"} {
		fileObjs, err := Objects(file)
		if err != nil {
			return nil, err
		}
		objs = append(objs, fileObjs...)
	}
	linkWord := regexp.MustCompile(`(^|[-=])` + ExampleLink + `($|-)`)
	rename := func(s string) string {
		switch {
		case s == DefaultNamespace:
			return ns
		case s == "--namespace="+DefaultNamespace:
			return "--namespace=" + ns
		case s == DefaultImage:
			return image
		}
		return linkWord.ReplaceAllString(s, "${1}"+o.Link+"${2}")
	}
	for _, obj := range objs {
		obj.Object = mapStrings(obj.Object, rename).(map[string]any)
		switch obj.GetKind() {
		case "ClusterRole":
			if o.EnableNamespaceCreation {
				rules, _, _ := unstructured.NestedSlice(obj.Object, "rules")
				rules = append(rules, map[string]any{
					"apiGroups": []any{""}, "resources": []any{"namespaces"}, "verbs": []any{"create"},
				})
				if err := unstructured.SetNestedSlice(obj.Object, rules, "rules"); err != nil {
					return nil, err
				}
			}
		case "Deployment":
			if o.EnableNamespaceCreation {
				if err := addContainerArg(obj, "--enable-namespace-creation"); err != nil {
					return nil, err
				}
			}
		}
	}
	return objs, nil
}

// addContainerArg appends arg to the Deployment's first container.
func addContainerArg(deploy *unstructured.Unstructured, arg string) error {
	containers, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
	if len(containers) == 0 {
		return fmt.Errorf("Deployment %s has no container", deploy.GetName())
	}
	c := containers[0].(map[string]any)
	args, _ := c["args"].([]any)
	c["args"] = append(args, arg)
	return unstructured.SetNestedSlice(deploy.Object, containers, "spec", "template", "spec", "containers")
}

// RemoteAccessOptions shape the target-cluster objects of a link.
type RemoteAccessOptions struct {
	// Namespace holds the ServiceAccount; DefaultNamespace when empty.
	Namespace string
	// ServiceAccount is the read-only identity; RemoteServiceAccount when
	// empty.
	ServiceAccount string
	// LongLivedToken keeps the kubernetes.io/service-account-token Secret
	// (named <ServiceAccount>-token) of rbac-remote.yaml.
	LongLivedToken bool
}

// RemoteAccess renders rbac-remote.yaml: the ServiceAccount, its
// read-only ClusterRole and binding, the Role that lets it renew its own
// token, and, with LongLivedToken, its long-lived token Secret.
func RemoteAccess(o RemoteAccessOptions) ([]*unstructured.Unstructured, error) {
	ns, sa := o.Namespace, o.ServiceAccount
	if ns == "" {
		ns = DefaultNamespace
	}
	if sa == "" {
		sa = RemoteServiceAccount
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return nil, fmt.Errorf("namespace %q: %s", ns, strings.Join(errs, "; "))
	}
	// "<sa>-token" names the Role and the Secret.
	if errs := validation.IsDNS1123Subdomain(sa + "-token"); len(errs) > 0 {
		return nil, fmt.Errorf("ServiceAccount name %q: %s", sa, strings.Join(errs, "; "))
	}
	objs, err := Objects("rbac-remote.yaml")
	if err != nil {
		return nil, err
	}
	rename := func(s string) string {
		if s == DefaultNamespace {
			return ns
		}
		return strings.ReplaceAll(s, RemoteServiceAccount, sa)
	}
	var out []*unstructured.Unstructured
	for _, obj := range objs {
		if obj.GetKind() == "Secret" && !o.LongLivedToken {
			continue
		}
		obj.Object = mapStrings(obj.Object, rename).(map[string]any)
		out = append(out, obj)
	}
	return out, nil
}

// mapStrings applies f to every string value (never to map keys) in v.
func mapStrings(v any, f func(string) string) any {
	switch v := v.(type) {
	case string:
		return f(v)
	case map[string]any:
		for k, e := range v {
			v[k] = mapStrings(e, f)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = mapStrings(e, f)
		}
		return v
	}
	return v
}
