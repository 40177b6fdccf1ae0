package plan

import (
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// The Link API we read. It is Linkerd's CRD, so a cluster that runs Linkerd
// and one that runs only svcmirror are configured the same way; v1alpha3 is
// the storage version, so reading it never needs a conversion.
const (
	LinkGroup    = "multicluster.linkerd.io"
	LinkVersion  = "v1alpha3"
	LinkResource = "links"
	LinkKind     = "Link"
)

// LinkGVR identifies Links for dynamic clients and informers.
var LinkGVR = schema.GroupVersionResource{Group: LinkGroup, Version: LinkVersion, Resource: LinkResource}

// Mode says how a remote Service is exported. It decides the shape of the
// mirror: Linkerd's destination service routes a gateway-mode mirror through
// the remote gateway and a remote-discovery mirror straight to remote pods.
type Mode string

const (
	// ModeNone means the Service is not exported by this Link: no mirror
	// should exist for it.
	ModeNone Mode = ""
	// ModeGateway is hierarchical mode: the mirror's Endpoints point at the
	// remote gateway.
	ModeGateway Mode = "gateway"
	// ModeRemoteDiscovery is flat mode: the mirror has no Endpoints, and
	// Linkerd's destination service discovers remote pods itself.
	ModeRemoteDiscovery Mode = "remote-discovery"
)

// Limits and defaults applied by ParseLink.
const (
	// MaxClusterNameLength bounds targetClusterName so that MirrorName can
	// always fit a hashed short form of a long remote name and the cluster
	// suffix into a 63-character Service name (see MirrorName).
	MaxClusterNameLength = 40
	// DefaultClusterDomain is used when targetClusterDomain is empty.
	DefaultClusterDomain = "cluster.local"
	// DefaultProbePeriod is used when probeSpec.period is empty. Linkerd's
	// CLI always writes a period; the default only keeps hand-written Links
	// with a path but no period from being rejected.
	DefaultProbePeriod = 3 * time.Second
	// DefaultProbeTimeout is Linkerd's default for probeSpec.timeout.
	DefaultProbeTimeout = 30 * time.Second
	// DefaultProbeFailureThreshold is Linkerd's default for
	// probeSpec.failureThreshold.
	DefaultProbeFailureThreshold = 3
)

// ProbeSpec says how to probe the remote gateway's liveness. Its zero value
// means "do not probe".
type ProbeSpec struct {
	// Path is the HTTP path to GET; empty disables probing.
	Path string
	// Port is the gateway's probe port (Linkerd's gateway uses 4191).
	Port int32
	// Period is the time between probes.
	Period time.Duration
	// Timeout bounds one probe.
	Timeout time.Duration
	// FailureThreshold is how many consecutive failures mark the gateway
	// down; one success marks it up again.
	FailureThreshold int
}

// Enabled reports whether the gateway should be probed at all. A link without
// a gateway, or with probing switched off, has an empty path.
func (p ProbeSpec) Enabled() bool { return p.Path != "" }

// Link is the parsed, validated spec of one Link object. It is immutable once
// parsed: the engine replaces it wholesale when the Link changes, so readers
// never see a half-updated configuration.
type Link struct {
	Namespace  string
	Name       string
	UID        types.UID
	Generation int64

	// TargetClusterName is the mirror-name suffix and the value of the
	// cluster-name ownership label: a DNS-1123 label of at most
	// MaxClusterNameLength characters.
	TargetClusterName string
	// TargetClusterDomain is the remote cluster's DNS domain, used in the
	// remote-svc-fq-name annotations; DefaultClusterDomain when unset.
	TargetClusterDomain string
	// TargetClusterLinkerdNamespace is informational only.
	TargetClusterLinkerdNamespace string
	// ClusterCredentialsSecret names the Secret, in the Link's namespace,
	// holding the remote kubeconfig.
	ClusterCredentialsSecret string

	// GatewayAddresses are the IPs and/or DNS names of the remote gateway,
	// in the order given. Empty for a flat-network-only link.
	GatewayAddresses []string
	// GatewayPort is the gateway's data port; 0 when there is no gateway.
	GatewayPort int32
	// GatewayIdentity is the gateway's mTLS identity, copied onto mirror
	// Endpoints so that Linkerd's proxies can verify the gateway.
	GatewayIdentity string
	// Probe says how to probe the gateway.
	Probe ProbeSpec

	// Selector picks remote Services exported in gateway mode.
	Selector labels.Selector
	// RemoteDiscoverySelector picks remote Services exported in
	// remote-discovery mode; it wins over Selector.
	RemoteDiscoverySelector labels.Selector
	// FederatedServiceSelector picks federated-service members.
	FederatedServiceSelector labels.Selector
	// All three selectors are never nil after ParseLink, and a missing or
	// empty selector is labels.Nothing(): forgetting a selector must never
	// export every Service of the remote cluster.

	// ExcludedLabels and ExcludedAnnotations are keys not copied onto
	// mirrors; an entry ending in "/*" excludes a whole prefix.
	ExcludedLabels      []string
	ExcludedAnnotations []string

	// DeletionRequested is true once the Link has a deletionTimestamp, so
	// the engine can clean up its mirrors instead of leaving them behind.
	DeletionRequested bool
}

// ModeFor returns how a remote Service with the given labels is exported by
// this Link. RemoteDiscoverySelector wins when both selectors match, as in
// Linkerd. A nil Link or nil selector exports nothing.
func (l *Link) ModeFor(svcLabels map[string]string) Mode {
	if l == nil {
		return ModeNone
	}
	set := labels.Set(svcLabels)
	switch {
	case selects(l.RemoteDiscoverySelector, set):
		return ModeRemoteDiscovery
	case selects(l.Selector, set):
		return ModeGateway
	default:
		return ModeNone
	}
}

// selects treats a nil selector as selecting nothing, so a Link built by hand
// (in tests or by a future caller) fails safe.
func selects(sel labels.Selector, set labels.Set) bool {
	return sel != nil && sel.Matches(set)
}
