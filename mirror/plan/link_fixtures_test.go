package plan

import (
	"strings"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

type objOption func(obj map[string]any)

// linkObject is a v1alpha3 Link as `linkerd multicluster link` writes it, as
// an unstructured object; options change it.
func linkObject(opts ...objOption) *unstructured.Unstructured {
	obj := map[string]any{
		"apiVersion": LinkGroup + "/" + LinkVersion,
		"kind":       LinkKind,
		"metadata": map[string]any{
			"name":       testCluster,
			"namespace":  "linkerd-multicluster",
			"uid":        "link-uid",
			"generation": int64(7),
		},
		"spec": map[string]any{
			"targetClusterName":             testCluster,
			"targetClusterDomain":           "cluster.local",
			"targetClusterLinkerdNamespace": "linkerd",
			"clusterCredentialsSecret":      "cluster-credentials-east",
			"gatewayAddress":                "gw.example.com",
			"gatewayPort":                   "4143",
			"gatewayIdentity":               testIdentity,
			"probeSpec": map[string]any{
				"path": "/ready", "port": "4191", "period": "3s", "timeout": "30s", "failureThreshold": "3",
			},
			"selector":                 matchLabels("mirror.linkerd.io/exported", "true"),
			"remoteDiscoverySelector":  matchLabels("mirror.linkerd.io/exported", "remote-discovery"),
			"federatedServiceSelector": matchLabels("mirror.linkerd.io/federated", "member"),
			"excludedLabels":           []any{},
			"excludedAnnotations":      []any{},
		},
	}
	for _, o := range opts {
		o(obj)
	}
	return &unstructured.Unstructured{Object: obj}
}

func matchLabels(k, v string) map[string]any {
	return map[string]any{"matchLabels": map[string]any{k: v}}
}

func matchExpressions(exprs ...map[string]any) map[string]any {
	list := make([]any, 0, len(exprs))
	for _, e := range exprs {
		list = append(list, e)
	}
	return map[string]any{"matchExpressions": list}
}

func expr(key, op string, values ...any) map[string]any {
	e := map[string]any{"key": key, "operator": op}
	if values != nil {
		e["values"] = values
	}
	return e
}

// set sets a dotted path (such as "spec.probeSpec.port"), creating objects on
// the way.
func set(path string, v any) objOption {
	return func(obj map[string]any) {
		fields := strings.Split(path, ".")
		m := obj
		for _, f := range fields[:len(fields)-1] {
			next, ok := m[f].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[f] = next
			}
			m = next
		}
		m[fields[len(fields)-1]] = v
	}
}

// unset removes a dotted path.
func unset(path string) objOption {
	return func(obj map[string]any) {
		fields := strings.Split(path, ".")
		m := obj
		for _, f := range fields[:len(fields)-1] {
			next, ok := m[f].(map[string]any)
			if !ok {
				return
			}
			m = next
		}
		delete(m, fields[len(fields)-1])
	}
}

// parsedLink is what ParseLink returns for linkObject(); options adjust it.
func parsedLink(opts ...linkOption) *Link {
	base := []linkOption{func(l *Link) {
		l.UID, l.Generation = "link-uid", 7
		l.Probe = ProbeSpec{Path: "/ready", Port: 4191, Period: 3 * time.Second, Timeout: 30 * time.Second, FailureThreshold: 3}
	}}
	return testLink(append(base, opts...)...)
}

func withProbe(p ProbeSpec) linkOption { return func(l *Link) { l.Probe = p } }

func withSelectors(gateway, remoteDiscovery, federated labels.Selector) linkOption {
	return func(l *Link) {
		l.Selector, l.RemoteDiscoverySelector, l.FederatedServiceSelector = gateway, remoteDiscovery, federated
	}
}

// describeSelector tells Nothing from Everything, which both print as "".
func describeSelector(s labels.Selector) string {
	switch {
	case s == nil:
		return "<nil>"
	case s == labels.Nothing():
		return "<nothing>"
	case s.Empty():
		return "<everything>"
	default:
		return s.String()
	}
}

// cmpLink compares Links, selectors by their description.
var cmpLink = cmp.Transformer("selector", describeSelector)
