package plan

import (
	"reflect"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Label and annotation keys on mirror objects. They are Linkerd's, so that
// Linkerd's destination service and CLI read our mirrors as their own.
const (
	// MirrorKeyPrefix is the prefix of the service-mirror keys. Remote
	// labels under it are never copied: they are the mirror's own metadata
	// (or the remote's export label), not the Service's.
	MirrorKeyPrefix = "mirror.linkerd.io/"

	// LabelMirroredService is "true" on every mirror object; with
	// LabelClusterName it is the ownership mark.
	LabelMirroredService = "mirror.linkerd.io/mirrored-service"
	// LabelClusterName is the Link's targetClusterName on every mirror
	// object.
	LabelClusterName = "mirror.linkerd.io/cluster-name"
	// LabelHeadlessMirrorSvcName is on endpoint mirrors (Service and
	// Endpoints); its value is the name of their headless mirror.
	LabelHeadlessMirrorSvcName = "mirror.linkerd.io/headless-mirror-svc-name"

	// AnnotationRemoteSvcFQName records which remote object a mirror stands
	// for: "<name>.<ns>.svc.<domain>", or "<host>.<name>.<ns>.svc.<domain>"
	// on endpoint mirrors. It is the only reverse mapping we trust.
	AnnotationRemoteSvcFQName = "mirror.linkerd.io/remote-svc-fq-name"
	// AnnotationRemoteResourceVersion is the remote Service's
	// resourceVersion the mirror was built from.
	AnnotationRemoteResourceVersion = "mirror.linkerd.io/remote-resource-version"
	// AnnotationRemoteGatewayIdentity is the gateway's mTLS identity, on
	// Endpoints that point at the gateway.
	AnnotationRemoteGatewayIdentity = "mirror.linkerd.io/remote-gateway-identity"

	// LabelRemoteDiscovery marks a remote-discovery (flat) mirror; its value
	// is the cluster name. Federated Services carry the same key as an
	// annotation listing "name@cluster,...".
	LabelRemoteDiscovery = "multicluster.linkerd.io/remote-discovery"
	// LabelRemoteService is the remote Service's name on a remote-discovery
	// mirror.
	LabelRemoteService = "multicluster.linkerd.io/remote-service"

	// AnnotationTopologyAwareHints and AnnotationTopologyMode are never
	// copied: topology hints describe the remote cluster's zones, and on a
	// selector-less mirror they would only confuse kube-proxy.
	AnnotationTopologyAwareHints = "service.kubernetes.io/topology-aware-hints"
	AnnotationTopologyMode       = "service.kubernetes.io/topology-mode"
)

// OwnershipLabels returns the two labels that mark an object as a mirror
// written for cluster. Every object we write carries them.
func OwnershipLabels(cluster string) map[string]string {
	return map[string]string{
		LabelMirroredService: "true",
		LabelClusterName:     cluster,
	}
}

// IsOwnedBy reports whether obj carries the ownership mark for cluster. An
// object failing it is not ours: it is never changed or deleted, even when its
// name is the one a mirror wants.
func IsOwnedBy(obj metav1.Object, cluster string) bool {
	if isNil(obj) || cluster == "" {
		return false
	}
	l := obj.GetLabels()
	return l[LabelMirroredService] == "true" && l[LabelClusterName] == cluster
}

// LocalSelector selects the local objects owned by cluster's mirror; the
// engine restricts its local informers to it so they hold only our objects.
func LocalSelector(cluster string) labels.Selector {
	return labels.SelectorFromSet(OwnershipLabels(cluster))
}

// ownedKeys are set by the mirror itself and never copied from the remote
// Service, so that a remote label cannot, say, make a gateway-mode mirror look
// like a remote-discovery one to Linkerd's destination service.
var ownedKeys = []string{LabelRemoteDiscovery, LabelRemoteService}

// copyLabels returns the remote labels to copy onto a mirror Service: all of
// them except keys under MirrorKeyPrefix, the keys the mirror sets itself and
// the Link's exclusions. It returns a new map, never nil.
func copyLabels(remote map[string]string, excluded []string) map[string]string {
	out := make(map[string]string, len(remote))
	for k, v := range remote {
		if strings.HasPrefix(k, MirrorKeyPrefix) || slices.Contains(ownedKeys, k) || isExcluded(k, excluded) {
			continue
		}
		out[k] = v
	}
	return out
}

// copyAnnotations returns the remote annotations to copy onto a mirror
// Service: all of them except the topology keys and the Link's exclusions.
// Our own annotations are set after copying, so they always win. It returns
// a new map, never nil.
func copyAnnotations(remote map[string]string, excluded []string) map[string]string {
	out := make(map[string]string, len(remote))
	for k, v := range remote {
		if k == AnnotationTopologyAwareHints || k == AnnotationTopologyMode || isExcluded(k, excluded) {
			continue
		}
		out[k] = v
	}
	return out
}

// isExcluded applies a Link's exclusion list to one key: "*" alone excludes
// every key; an entry ending in "/*" excludes every key starting with what
// precedes the "*" (so "example.com/*" excludes "example.com/a" but not
// "example.com"); any other entry excludes exactly that key.
func isExcluded(key string, exclusions []string) bool {
	for _, e := range exclusions {
		if e == "*" {
			return true
		}
		if prefix, ok := strings.CutSuffix(e, "*"); ok && strings.HasSuffix(prefix, "/") {
			if strings.HasPrefix(key, prefix) {
				return true
			}
		} else if key == e {
			return true
		}
	}
	return false
}

// isNil catches typed nil pointers inside an interface, which would panic on
// the first method call.
func isNil(obj metav1.Object) bool {
	if obj == nil {
		return true
	}
	v := reflect.ValueOf(obj)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
