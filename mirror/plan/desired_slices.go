package plan

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ManagedBy is the endpointslice.kubernetes.io/managed-by value of every
// EndpointSlice we write, in the form of kube-controller-manager's own
// ("endpointslice-controller.k8s.io": a label value may hold no slash). kube-controller-manager's controllers leave slices
// managed by others alone, and we touch no slice without it and our
// ownership labels.
const ManagedBy = "service-mirror.svcmirror.io"

// MaxEndpointsPerSlice is where a mirror's endpoints are split into another
// slice: Kubernetes' default (--max-endpoints-per-slice).
const MaxEndpointsPerSlice = 100

// Output chooses which endpoint objects mirrors get. The engine's default is
// DefaultOutput; DesiredFor alone writes only Endpoints.
type Output struct {
	// Endpoints: core/v1 Endpoints (Linkerd's contract).
	Endpoints bool
	// Slices: discovery.k8s.io/v1 EndpointSlices. With Endpoints too, the
	// Endpoints carry endpointslice.kubernetes.io/skip-mirror.
	Slices bool
	// FlatEndpoints: remote-discovery mirrors get EndpointSlices of the
	// remote pods' addresses (with Slices only), so that clients without a
	// mesh reach them through kube-proxy on a flat network. Linkerd's
	// destination service ignores local endpoints of remote-discovery
	// Services, so meshed clients are unaffected.
	FlatEndpoints bool
}

// DefaultOutput is what the daemon writes unless told otherwise: both
// endpoint APIs, and remote pod addresses for flat mirrors.
func DefaultOutput() Output { return Output{Endpoints: true, Slices: true, FlatEndpoints: true} }

// SliceName is the name of the n-th EndpointSlice (from 0) of the mirror
// Service mirror for one address type. The dot cannot appear in a Service
// name, so no other mirror's slice (nor kube-controller-manager's, named
// "<service>-<random>") can ever have this name; and the name depends only on
// the mirror and the slice's place, so a restart computes the same names and
// writes nothing.
func SliceName(mirror string, addressType discoveryv1.AddressType, n int) string {
	if addressType == discoveryv1.AddressTypeIPv6 {
		return mirror + ".v6." + strconv.Itoa(n)
	}
	return mirror + "." + strconv.Itoa(n)
}

// sliceEndpoint is one endpoint of a mirror slice before the endpoints are
// grouped (by address type and ports) and split into slices.
type sliceEndpoint struct {
	addressType discoveryv1.AddressType
	ports       []discoveryv1.EndpointPort
	endpoint    discoveryv1.Endpoint
}

// sliceMeta is the metadata of every EndpointSlice we write for the Service
// name: the Service label kube-proxy and CoreDNS select by, our managed-by,
// the ownership labels (and extra), and the remote-svc-fq-name; gateway
// slices also carry the gateway identity, as gateway Endpoints do.
func (b *builder) sliceMeta(name string, extra map[string]string, fq string, viaGateway bool) metav1.ObjectMeta {
	labels := OwnershipLabels(b.link.TargetClusterName)
	maps.Copy(labels, extra)
	labels[discoveryv1.LabelServiceName] = name
	labels[discoveryv1.LabelManagedBy] = ManagedBy
	annotations := map[string]string{AnnotationRemoteSvcFQName: fq}
	if viaGateway && b.link.GatewayIdentity != "" {
		annotations[AnnotationRemoteGatewayIdentity] = b.link.GatewayIdentity
	}
	return metav1.ObjectMeta{Name: name, Namespace: b.remote.Namespace, Labels: labels, Annotations: annotations}
}

// servicePorts is one slice port per Service port, numbered port (the
// Service's own port when nil).
func (b *builder) servicePorts(port *int32) []discoveryv1.EndpointPort {
	out := make([]discoveryv1.EndpointPort, 0, len(b.remote.Spec.Ports))
	for _, p := range b.remote.Spec.Ports {
		n := p.Port
		if port != nil {
			n = *port
		}
		out = append(out, discoveryv1.EndpointPort{Name: copyString(&p.Name), Protocol: ptrTo(protocol(p.Protocol)), Port: ptrTo(n)})
	}
	return out
}

// gatewaySlices are the EndpointSlices of a gateway-mode mirror (or
// endpoint mirror): one endpoint per gateway IP at gatewayPort, ready and
// serving as the probe says. Like gateway Endpoints they hold no endpoint
// while the remote Service has no ready endpoint.
func (b *builder) gatewaySlices(name string, extra map[string]string, fq string, remoteUp bool, gateway []GatewayAddress) []*discoveryv1.EndpointSlice {
	meta := b.sliceMeta(name, extra, fq, true)
	ports := b.servicePorts(&b.link.GatewayPort)
	var eps []sliceEndpoint
	if remoteUp {
		for _, a := range gateway {
			eps = append(eps, sliceEndpoint{addressType: addressTypeOf(a.IP), ports: ports, endpoint: discoveryv1.Endpoint{
				Addresses: []string{a.IP}, Conditions: conditions(a.Alive, a.Alive, false)}})
		}
	}
	return buildSlices(meta, ports, eps)
}

// flatSlices are the EndpointSlices of a remote-discovery mirror: the remote
// pods' addresses, ports, conditions, hostname and zone, as the remote
// slices hold them. FQDN endpoints are left out: kube-proxy ignores them.
func (b *builder) flatSlices(remote []RemoteEndpoint) []*discoveryv1.EndpointSlice {
	meta := b.sliceMeta(b.name, nil, FQName(b.remote.Name, b.remote.Namespace, b.link.TargetClusterDomain), false)
	var eps []sliceEndpoint
	for _, r := range remote {
		if (r.AddressType != discoveryv1.AddressTypeIPv4 && r.AddressType != discoveryv1.AddressTypeIPv6) || len(r.Addresses) == 0 {
			continue
		}
		e := discoveryv1.Endpoint{Addresses: slices.Clone(r.Addresses), Conditions: conditions(r.Ready, r.Serving, r.Terminating)}
		if r.Hostname != "" {
			e.Hostname = copyString(&r.Hostname)
		}
		if r.Zone != "" {
			e.Zone = copyString(&r.Zone)
		}
		eps = append(eps, sliceEndpoint{addressType: r.AddressType, ports: copySlicePorts(r.Ports), endpoint: e})
	}
	return buildSlices(meta, nil, eps)
}

// buildSlices groups endpoints by address type and ports (every endpoint of
// a slice shares its ports), sorts each group by address, drops repeats (a
// pod may briefly be in two remote slices), splits groups at
// MaxEndpointsPerSlice and names the slices in that order. With no endpoint
// at all there is one empty IPv4 slice with emptyPorts, as
// kube-controller-manager keeps for a Service without endpoints, so that a
// mirror's slice count does not swing between zero and one.
func buildSlices(meta metav1.ObjectMeta, emptyPorts []discoveryv1.EndpointPort, eps []sliceEndpoint) []*discoveryv1.EndpointSlice {
	type group struct {
		addressType discoveryv1.AddressType
		portsKey    string
		ports       []discoveryv1.EndpointPort
		endpoints   []discoveryv1.Endpoint
		seen        map[string]bool
	}
	groups := map[string]*group{}
	for _, e := range eps {
		pk := portsKey(e.ports)
		k := string(e.addressType) + "|" + pk
		g := groups[k]
		if g == nil {
			g = &group{addressType: e.addressType, portsKey: pk, ports: e.ports, seen: map[string]bool{}}
			groups[k] = g
		}
		if addr := e.endpoint.Addresses[0]; !g.seen[addr] {
			g.seen[addr] = true
			g.endpoints = append(g.endpoints, e.endpoint)
		}
	}
	ordered := slices.Collect(maps.Values(groups))
	slices.SortFunc(ordered, func(a, b *group) int {
		return cmp.Or(cmp.Compare(a.addressType, b.addressType), cmp.Compare(a.portsKey, b.portsKey))
	})
	if len(ordered) == 0 {
		ordered = []*group{{addressType: discoveryv1.AddressTypeIPv4, ports: emptyPorts}}
	}
	var out []*discoveryv1.EndpointSlice
	next := map[discoveryv1.AddressType]int{}
	for _, g := range ordered {
		sortSliceEndpoints(g.endpoints)
		for start := 0; start == 0 || start < len(g.endpoints); start += MaxEndpointsPerSlice {
			chunk := g.endpoints[start:min(start+MaxEndpointsPerSlice, len(g.endpoints))]
			s := &discoveryv1.EndpointSlice{
				ObjectMeta:  *meta.DeepCopy(),
				AddressType: g.addressType,
				Ports:       copySlicePorts(g.ports),
			}
			s.Name = SliceName(meta.Name, g.addressType, next[g.addressType])
			next[g.addressType]++
			for _, e := range chunk {
				s.Endpoints = append(s.Endpoints, *e.DeepCopy())
			}
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// addressTypeOf is an IP's slice address type; anything that is not an
// IPv6 address counts as IPv4, the address type gateway IPs have been.
func addressTypeOf(ip string) discoveryv1.AddressType {
	if a, err := netip.ParseAddr(ip); err == nil && a.Is6() && !a.Is4In6() {
		return discoveryv1.AddressTypeIPv6
	}
	return discoveryv1.AddressTypeIPv4
}

func conditions(ready, serving, terminating bool) discoveryv1.EndpointConditions {
	return discoveryv1.EndpointConditions{Ready: ptrTo(ready), Serving: ptrTo(serving), Terminating: ptrTo(terminating)}
}

// copySlicePorts copies the owned fields of slice ports: name, protocol,
// port and appProtocol.
func copySlicePorts(ports []discoveryv1.EndpointPort) []discoveryv1.EndpointPort {
	if ports == nil {
		return nil
	}
	out := make([]discoveryv1.EndpointPort, 0, len(ports))
	for _, p := range ports {
		out = append(out, discoveryv1.EndpointPort{Name: copyString(p.Name), Protocol: copyPtr(p.Protocol), Port: copyPtr(p.Port), AppProtocol: copyString(p.AppProtocol)})
	}
	return out
}

// portsKey is a canonical string of a slice's ports, for grouping.
func portsKey(ports []discoveryv1.EndpointPort) string {
	var parts []string
	for _, p := range normalSlicePorts(ports) {
		parts = append(parts, p.name+"/"+string(p.protocol)+"/"+strconv.Itoa(int(p.port))+"/"+p.appProtocol)
	}
	return strings.Join(parts, ",")
}

func sortSliceEndpoints(eps []discoveryv1.Endpoint) {
	slices.SortFunc(eps, func(a, b discoveryv1.Endpoint) int {
		return cmp.Or(cmp.Compare(firstAddress(a), firstAddress(b)), cmp.Compare(deref(a.Hostname), deref(b.Hostname)))
	})
}

func firstAddress(e discoveryv1.Endpoint) string {
	if len(e.Addresses) == 0 {
		return ""
	}
	return e.Addresses[0]
}

func ptrTo[T any](v T) *T { return &v }

func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// protocolOf is a slice port's protocol with the API default (TCP).
func protocolOf(p *corev1.Protocol) corev1.Protocol {
	if p == nil {
		return corev1.ProtocolTCP
	}
	return protocol(*p)
}
