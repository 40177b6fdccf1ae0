package plan

import (
	"cmp"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// gatewayEndpoints builds Endpoints that send a mirror's traffic to the
// remote gateway: one subset whose addresses are the live gateway IPs (dead
// ones in notReadyAddresses, so a flapping gateway changes readiness rather
// than the address set), with one port per Service port numbered gatewayPort.
//
// There are no subsets at all when the remote Service has no ready endpoint
// or there is no gateway address: the API rejects a subset without addresses,
// and an empty Endpoints is how a Service says "nothing to connect to".
func (b *builder) gatewayEndpoints(name string, labels map[string]string, fqName string, ready bool, gateway []GatewayAddress) *corev1.Endpoints {
	ep := &corev1.Endpoints{ObjectMeta: b.endpointsMeta(name, labels, fqName)}
	if !ready || len(gateway) == 0 {
		return ep
	}
	subset := corev1.EndpointSubset{}
	for _, a := range gateway {
		if a.Alive {
			subset.Addresses = append(subset.Addresses, corev1.EndpointAddress{IP: a.IP})
		} else {
			subset.NotReadyAddresses = append(subset.NotReadyAddresses, corev1.EndpointAddress{IP: a.IP})
		}
	}
	for _, p := range b.remote.Spec.Ports {
		subset.Ports = append(subset.Ports, corev1.EndpointPort{Name: p.Name, Protocol: p.Protocol, Port: b.link.GatewayPort})
	}
	ep.Subsets = []corev1.EndpointSubset{subset}
	return ep
}

// endpointsMeta is the metadata of every Endpoints we write: the given
// labels, the remote-svc-fq-name, and the gateway identity when the Link has
// one, so that Linkerd's proxies expect the gateway's mTLS identity.
func (b *builder) endpointsMeta(name string, labels map[string]string, fqName string) metav1.ObjectMeta {
	annotations := map[string]string{AnnotationRemoteSvcFQName: fqName}
	if b.link.GatewayIdentity != "" {
		annotations[AnnotationRemoteGatewayIdentity] = b.link.GatewayIdentity
	}
	return metav1.ObjectMeta{Name: name, Namespace: b.remote.Namespace, Labels: labels, Annotations: annotations}
}

// endpointMirror builds the Service and Endpoints standing for one ready pod
// hostname of a headless remote Service. The Service is a normal ClusterIP
// Service, so that its IP can go into the headless mirror's Endpoints; its
// own Endpoints point at the gateway like any gateway-mode mirror.
func (b *builder) endpointMirror(host string, gateway []GatewayAddress) (EndpointMirror, error) {
	name := MirrorName(host, b.link.TargetClusterName)
	if err := checkName(name, b.remote); err != nil {
		return EndpointMirror{}, err
	}
	parent := map[string]string{LabelHeadlessMirrorSvcName: b.name}
	labels := b.labels()
	labels[LabelHeadlessMirrorSvcName] = b.name
	fqName := EndpointMirrorFQName(host, b.remote.Name, b.remote.Namespace, b.link.TargetClusterDomain)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: b.remote.Namespace,
			Labels:    labels,
			// As on Linkerd's endpoint mirrors: which remote Service, and
			// which version of it, this one stands for.
			Annotations: map[string]string{AnnotationRemoteSvcFQName: fqName, AnnotationRemoteResourceVersion: b.remote.ResourceVersion},
		},
		Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeClusterIP,
			Ports: copyPorts(b.remote.Spec.Ports),
		},
	}
	// The hostname comes from a ready endpoint, so the gateway Endpoints
	// always get their subset when there is a gateway address.
	em := EndpointMirror{Hostname: host, Service: svc}
	if b.out.Endpoints {
		em.Endpoints = b.gatewayEndpoints(name, b.endpointsLabels(parent), fqName, true, gateway)
	}
	if b.out.Slices {
		em.Slices = b.gatewaySlices(name, parent, fqName, true, gateway)
	}
	return em, nil
}

// endpointsLabels are the labels of the Endpoints we write: the remote
// Service's (as Linkerd copies them), the ownership labels, extra, and
// skip-mirror when we write EndpointSlices ourselves, so
// that kube-controller-manager's EndpointSliceMirroring controller does not
// publish a second slice from them. Without our slices it is left to mirror
// them, so that EndpointSlice consumers still see the mirror.
func (b *builder) endpointsLabels(extra map[string]string) map[string]string {
	labels := b.labels()
	maps.Copy(labels, extra)
	if b.out.Slices {
		labels[discoveryv1.LabelSkipMirror] = "true"
	}
	return labels
}

// HeadlessEndpoints is the second phase of a headless mirror: its Endpoints
// hold one address per endpoint mirror whose ClusterIP is known, carrying
// the pod hostname, so that "<host>.<mirror>.<ns>.svc" resolves to that
// endpoint mirror. Ports are the Service's own: traffic goes to the endpoint
// mirror, not to the gateway.
type HeadlessEndpoints struct {
	// Meta is the Endpoints' metadata.
	Meta metav1.ObjectMeta
	// Hosts pairs each pod hostname with its endpoint mirror's Service name,
	// sorted by that name.
	Hosts []HostMirror
	// Ports are the headless Service's ports.
	Ports []corev1.EndpointPort
	// Output says which of Endpoints and Slices the mirror gets.
	Output Output
	// SliceMeta and SlicePorts are its EndpointSlices' metadata and ports.
	SliceMeta  metav1.ObjectMeta
	SlicePorts []discoveryv1.EndpointPort
}

// HostMirror is one pod hostname of a headless Service and the name of the
// endpoint mirror standing for it.
type HostMirror struct {
	Hostname, Service string
}

// Endpoints builds the headless mirror's Endpoints from the endpoint
// mirrors' ClusterIPs, by Service name ("" or absent while unassigned).
func (h *HeadlessEndpoints) Endpoints(clusterIPs map[string]string) *corev1.Endpoints {
	ep := &corev1.Endpoints{ObjectMeta: *h.Meta.DeepCopy()}
	var addresses []corev1.EndpointAddress
	for _, m := range h.Hosts {
		ip := clusterIPs[m.Service]
		if ip == "" || ip == corev1.ClusterIPNone {
			continue
		}
		addresses = append(addresses, corev1.EndpointAddress{IP: ip, Hostname: m.Hostname})
	}
	if len(addresses) == 0 {
		return ep
	}
	sortAddresses(addresses)
	ep.Subsets = []corev1.EndpointSubset{{Addresses: addresses, Ports: slices.Clone(h.Ports)}}
	return ep
}

// Slices builds the headless mirror's EndpointSlices from the endpoint
// mirrors' ClusterIPs, as Endpoints does its Endpoints; nil without
// Output.Slices.
func (h *HeadlessEndpoints) Slices(clusterIPs map[string]string) []*discoveryv1.EndpointSlice {
	if !h.Output.Slices {
		return nil
	}
	var eps []sliceEndpoint
	for _, m := range h.Hosts {
		ip := clusterIPs[m.Service]
		if ip == "" || ip == corev1.ClusterIPNone {
			continue
		}
		eps = append(eps, sliceEndpoint{addressType: addressTypeOf(ip), ports: h.SlicePorts, endpoint: discoveryv1.Endpoint{
			Addresses: []string{ip}, Hostname: copyString(&m.Hostname), Conditions: conditions(true, true, false)}})
	}
	return buildSlices(h.SliceMeta, h.SlicePorts, eps)
}

func (b *builder) headlessEndpoints(mirrors []EndpointMirror) *HeadlessEndpoints {
	fq := FQName(b.remote.Name, b.remote.Namespace, b.link.TargetClusterDomain)
	h := &HeadlessEndpoints{Meta: b.endpointsMeta(b.name, b.endpointsLabels(nil), fq), Output: b.out}
	for _, m := range mirrors {
		h.Hosts = append(h.Hosts, HostMirror{Hostname: m.Hostname, Service: m.Service.Name})
	}
	for _, p := range b.remote.Spec.Ports {
		h.Ports = append(h.Ports, corev1.EndpointPort{Name: p.Name, Protocol: p.Protocol, Port: p.Port})
	}
	if b.out.Slices {
		h.SliceMeta = b.sliceMeta(b.name, nil, fq, true)
		h.SlicePorts = b.servicePorts(nil)
	}
	return h
}

// sortedGateway returns the gateway addresses sorted by IP, without empty
// IPs, and with duplicates merged (alive if any copy is alive: two gateway
// names may resolve to the same IP, and one live probe of it is enough).
func sortedGateway(gw Gateway) []GatewayAddress {
	alive := map[string]bool{}
	for _, a := range gw.Addresses {
		if a.IP != "" {
			alive[a.IP] = alive[a.IP] || a.Alive
		}
	}
	out := make([]GatewayAddress, 0, len(alive))
	for _, ip := range sortedKeys(alive) {
		out = append(out, GatewayAddress{IP: ip, Alive: alive[ip]})
	}
	return out
}

// readyHostnames returns the distinct, sorted hostnames of ready endpoints.
// Not-ready pods get no endpoint mirror: they cannot serve, and their
// mirror would otherwise be created and deleted as they flap.
func readyHostnames(eps []RemoteEndpoint) []string {
	var hosts []string
	for _, e := range eps {
		if e.Ready && e.Hostname != "" {
			hosts = append(hosts, e.Hostname)
		}
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}

func sortEndpointMirrors(ms []EndpointMirror) {
	slices.SortFunc(ms, func(a, b EndpointMirror) int { return cmp.Compare(a.Service.Name, b.Service.Name) })
}

// sortAddresses orders addresses by IP, then hostname: the canonical order
// for both building and comparing Endpoints.
func sortAddresses(as []corev1.EndpointAddress) {
	slices.SortFunc(as, func(a, b corev1.EndpointAddress) int {
		return cmp.Or(cmp.Compare(a.IP, b.IP), cmp.Compare(a.Hostname, b.Hostname))
	})
}
