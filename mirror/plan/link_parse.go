package plan

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
)

// InvalidLinkError lists every problem found in one Link. ParseLink reports all
// of them at once, each prefixed with its field path, so that an operator can
// fix a Link in one edit instead of one round trip per mistake.
type InvalidLinkError struct {
	Namespace string
	Name      string
	// Problems are "<field path>: <what is wrong>", in field order.
	Problems []string
}

// Error names the Link and lists its problems on one line, for logs and
// events.
func (e *InvalidLinkError) Error() string {
	return fmt.Sprintf("invalid Link %s/%s: %s", e.Namespace, e.Name, strings.Join(e.Problems, "; "))
}

// ParseLink reads a v1alpha3 Link into a validated Link. It never panics,
// whatever the object holds, and returns an *InvalidLinkError naming every
// bad field.
//
// Rules beyond the CRD schema:
//   - targetClusterName is required, a DNS-1123 label, and at most
//     MaxClusterNameLength characters (it suffixes every mirror name).
//   - targetClusterDomain defaults to "cluster.local".
//   - clusterCredentialsSecret is required.
//   - gatewayAddress is split on ",", entries trimmed, empty ones dropped;
//     each must be an IP or a DNS name. Empty means a flat-only link, and
//     then gatewayPort is ignored (GatewayPort is 0); otherwise gatewayPort is
//     required and must be 1-65535.
//   - probeSpec is only read when its path is set: Linkerd writes placeholder
//     values for links without a gateway. Then port is required, period
//     defaults to 3s, timeout to 30s and failureThreshold to 3.
//   - A missing or empty selector selects nothing, never everything.
func ParseLink(u *unstructured.Unstructured) (*Link, error) {
	if u == nil {
		return nil, errors.New("invalid Link: no object")
	}
	l := &Link{
		Namespace:         u.GetNamespace(),
		Name:              u.GetName(),
		UID:               u.GetUID(),
		Generation:        u.GetGeneration(),
		DeletionRequested: hasField(u.Object, "metadata", "deletionTimestamp"),
	}
	p := &fieldParser{}
	spec := p.object(u.Object, "spec", "spec")
	if spec == nil && len(p.problems) == 0 {
		p.addf("spec", "is required")
	}
	if spec != nil {
		p.parseTarget(spec, l)
		p.parseGateway(spec, l)
		l.Probe = p.parseProbe(p.object(spec, "probeSpec", "spec.probeSpec"))
		l.Selector = p.selector(spec, "selector", "spec.selector")
		l.RemoteDiscoverySelector = p.selector(spec, "remoteDiscoverySelector", "spec.remoteDiscoverySelector")
		l.FederatedServiceSelector = p.selector(spec, "federatedServiceSelector", "spec.federatedServiceSelector")
		l.ExcludedLabels = p.strList(spec, "excludedLabels", "spec.excludedLabels")
		l.ExcludedAnnotations = p.strList(spec, "excludedAnnotations", "spec.excludedAnnotations")
	}
	if len(p.problems) > 0 {
		return nil, &InvalidLinkError{Namespace: l.Namespace, Name: l.Name, Problems: p.problems}
	}
	return l, nil
}

// parseTarget reads the fields that identify the remote cluster.
func (p *fieldParser) parseTarget(spec map[string]any, l *Link) {
	const namePath = "spec.targetClusterName"
	l.TargetClusterName = p.requiredStr(spec, "targetClusterName", namePath)
	if name := l.TargetClusterName; name != "" {
		if len(name) > MaxClusterNameLength {
			p.addf(namePath, "%q is longer than %d characters (it suffixes every mirror name, which must fit in 63)", name, MaxClusterNameLength)
		} else if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			p.addf(namePath, "%q is not a valid DNS-1123 label: %s", name, strings.Join(errs, ", "))
		}
	}

	l.TargetClusterDomain = p.str(spec, "targetClusterDomain", "spec.targetClusterDomain")
	if l.TargetClusterDomain == "" {
		l.TargetClusterDomain = DefaultClusterDomain
	} else if errs := validation.IsDNS1123Subdomain(l.TargetClusterDomain); len(errs) > 0 {
		p.addf("spec.targetClusterDomain", "%q is not a valid DNS domain: %s", l.TargetClusterDomain, strings.Join(errs, ", "))
	}
	l.TargetClusterLinkerdNamespace = p.str(spec, "targetClusterLinkerdNamespace", "spec.targetClusterLinkerdNamespace")

	const secretPath = "spec.clusterCredentialsSecret"
	l.ClusterCredentialsSecret = p.requiredStr(spec, "clusterCredentialsSecret", secretPath)
	if s := l.ClusterCredentialsSecret; s != "" {
		if errs := validation.IsDNS1123Subdomain(s); len(errs) > 0 {
			p.addf(secretPath, "%q is not a valid Secret name: %s", s, strings.Join(errs, ", "))
		}
	}
}

// parseGateway reads the gateway's addresses, port and identity.
func (p *fieldParser) parseGateway(spec map[string]any, l *Link) {
	for _, a := range strings.Split(p.str(spec, "gatewayAddress", "spec.gatewayAddress"), ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if !isIP(a) && len(validation.IsDNS1123Subdomain(strings.ToLower(a))) > 0 {
			p.addf("spec.gatewayAddress", "%q is neither an IP address nor a DNS name", a)
		}
		l.GatewayAddresses = append(l.GatewayAddresses, a)
	}
	port := p.str(spec, "gatewayPort", "spec.gatewayPort")
	if len(l.GatewayAddresses) > 0 {
		if port != "" {
			l.GatewayPort = p.port(port, "spec.gatewayPort")
		} else if isUnset(spec["gatewayPort"]) {
			p.addf("spec.gatewayPort", "is required when spec.gatewayAddress is set")
		}
	}
	l.GatewayIdentity = p.str(spec, "gatewayIdentity", "spec.gatewayIdentity")
}

// parseProbe reads probeSpec. Fields are type-checked always but validated
// only when probing is enabled (non-empty path).
func (p *fieldParser) parseProbe(obj map[string]any) ProbeSpec {
	path := p.str(obj, "path", "spec.probeSpec.path")
	port := p.str(obj, "port", "spec.probeSpec.port")
	period := p.str(obj, "period", "spec.probeSpec.period")
	timeout := p.str(obj, "timeout", "spec.probeSpec.timeout")
	threshold := p.str(obj, "failureThreshold", "spec.probeSpec.failureThreshold")
	if path == "" {
		return ProbeSpec{}
	}
	probe := ProbeSpec{
		Path:             path,
		Period:           p.duration(period, DefaultProbePeriod, "spec.probeSpec.period"),
		Timeout:          p.duration(timeout, DefaultProbeTimeout, "spec.probeSpec.timeout"),
		FailureThreshold: DefaultProbeFailureThreshold,
	}
	if !strings.HasPrefix(path, "/") {
		p.addf("spec.probeSpec.path", "%q must start with \"/\"", path)
	}
	if port != "" {
		probe.Port = p.port(port, "spec.probeSpec.port")
	} else if isUnset(obj["port"]) {
		p.addf("spec.probeSpec.port", "is required when spec.probeSpec.path is set")
	}
	if threshold != "" {
		n, err := strconv.Atoi(threshold)
		if err != nil || n < 1 {
			p.addf("spec.probeSpec.failureThreshold", "%q is not a positive integer", threshold)
		} else {
			probe.FailureThreshold = n
		}
	}
	return probe
}

// port parses a port number given as a string, as the Link CRD stores them.
func (p *fieldParser) port(s, path string) int32 {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		p.addf(path, "%q is not a port number (1-65535)", s)
		return 0
	}
	return int32(n)
}

// duration parses a Go duration, applying def to the empty string.
func (p *fieldParser) duration(s string, def time.Duration, path string) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		p.addf(path, "%q is not a positive duration (such as \"3s\")", s)
		return 0
	}
	return d
}

// isIP reports whether s is an IPv4 or IPv6 address (netip parses without
// touching the network).
func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
