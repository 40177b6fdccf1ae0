package plan

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The functions here put owned fields into a canonical form before they are
// compared, so that what the API server stores after defaulting compares
// equal to what we asked for. Without this every sync would rewrite every
// mirror; an idle mirror must cause zero writes.

// serviceInSync compares a Service's owned fields (see PlanService) by
// their digests (owned.go): nil and empty maps are equal. existing's
// digest is owned's entry for it when it has one (a cache's compact form).
func serviceInSync(desired, existing *corev1.Service, owned Digests) bool {
	return ServiceDigest(desired) == ownedDigest(owned, existing, ServiceDigest)
}

// serviceType applies the API server's default type.
func serviceType(svc *corev1.Service) corev1.ServiceType {
	if svc.Spec.Type == "" {
		return corev1.ServiceTypeClusterIP
	}
	return svc.Spec.Type
}

// normalPort is the comparable form of the owned fields of a ServicePort.
type normalPort struct {
	name        string
	protocol    corev1.Protocol
	port        int32
	targetPort  intstr.IntOrString
	appProtocol string
}

// normalPorts applies the API server's defaults (protocol TCP, targetPort =
// port) and drops nodePort. Port order is kept: it is the remote's order, and
// the API server does not reorder ports.
func normalPorts(ports []corev1.ServicePort) []normalPort {
	out := make([]normalPort, 0, len(ports))
	for _, p := range ports {
		n := normalPort{name: p.Name, protocol: protocol(p.Protocol), port: p.Port, targetPort: p.TargetPort}
		if (n.targetPort.Type == intstr.Int && n.targetPort.IntVal == 0) ||
			(n.targetPort.Type == intstr.String && n.targetPort.StrVal == "") {
			n.targetPort = intstr.FromInt32(p.Port)
		}
		if p.AppProtocol != nil {
			n.appProtocol = *p.AppProtocol
		}
		out = append(out, n)
	}
	return out
}

func protocol(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// endpointsInSync compares an Endpoints' owned fields (see PlanEndpoints)
// by their digests, as serviceInSync.
func endpointsInSync(desired, existing *corev1.Endpoints, owned Digests) bool {
	return EndpointsDigest(desired) == ownedDigest(owned, existing, EndpointsDigest)
}

// normalSubsets returns a canonical copy of subsets: subsets without any
// address dropped (the API cannot store them), addresses sorted by IP then
// hostname, ports sorted and protocol-defaulted, empty lists as nil. Subset
// order is kept; we only ever write one subset.
func normalSubsets(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	var out []corev1.EndpointSubset
	for _, s := range subsets {
		if len(s.Addresses) == 0 && len(s.NotReadyAddresses) == 0 {
			continue
		}
		n := corev1.EndpointSubset{
			Addresses:         normalAddresses(s.Addresses),
			NotReadyAddresses: normalAddresses(s.NotReadyAddresses),
		}
		for _, p := range s.Ports {
			p = *p.DeepCopy()
			p.Protocol = protocol(p.Protocol)
			if p.AppProtocol != nil && *p.AppProtocol == "" {
				p.AppProtocol = nil
			}
			n.Ports = append(n.Ports, p)
		}
		slices.SortFunc(n.Ports, func(a, b corev1.EndpointPort) int {
			return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Protocol, b.Protocol))
		})
		out = append(out, n)
	}
	return out
}

func normalAddresses(as []corev1.EndpointAddress) []corev1.EndpointAddress {
	if len(as) == 0 {
		return nil
	}
	out := make([]corev1.EndpointAddress, 0, len(as))
	for _, a := range as {
		out = append(out, *a.DeepCopy())
	}
	sortAddresses(out)
	return out
}
