package plan

import (
	"cmp"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// PlanSlice decides what to do about one mirror EndpointSlice; desired is
// nil when none should exist, existing when there is none. The decision
// table is PlanService's, with addressType (immutable in the API) in place
// of headlessness: a change of it recreates the slice. Owned fields: the
// label and annotation maps, addressType, the endpoints (addresses,
// conditions, hostname, zone, and nothing else: a nodeName or targetRef
// someone added is drift) and the ports, compared after normalising (see
// slicesInSync).
func PlanSlice(desired, existing *discoveryv1.EndpointSlice) (Action, *discoveryv1.EndpointSlice) {
	return planSlice(desired, existing, nil)
}

// planSlice is PlanSlice with owned digests (see planService).
func planSlice(desired, existing *discoveryv1.EndpointSlice, owned Digests) (Action, *discoveryv1.EndpointSlice) {
	recreate := func(d, e *discoveryv1.EndpointSlice) bool { return d.AddressType != e.AddressType }
	inSync := func(d, e *discoveryv1.EndpointSlice) bool { return slicesInSync(d, e, owned) }
	if action := decide(desired, existing, recreate, inSync); action != ActionUpdate {
		return action, picked(action, desired, existing)
	}
	return ActionUpdate, OwnSlice(existing, desired)
}

// OwnSlice is OwnService for EndpointSlices.
func OwnSlice(existing, desired *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	out := existing.DeepCopy()
	out.Labels = maps.Clone(desired.Labels)
	out.Annotations = maps.Clone(desired.Annotations)
	d := desired.DeepCopy()
	out.Endpoints, out.Ports = d.Endpoints, d.Ports
	return out
}

// slicesInSync compares a slice's owned fields. The API server defaults a
// port's name to "" and protocol to TCP and leaves conditions as written;
// conditions are compared with the API's meaning of absent ones (ready:
// true, serving: ready's value, terminating: false), endpoints in address
// order, ports in name order.
func slicesInSync(desired, existing *discoveryv1.EndpointSlice, owned Digests) bool {
	return SliceDigest(desired) == ownedDigest(owned, existing, SliceDigest)
}

// normalSlicePort is the comparable form of a slice port.
type normalSlicePort struct {
	name        string
	protocol    corev1.Protocol
	port        int32
	appProtocol string
}

func normalSlicePorts(ports []discoveryv1.EndpointPort) []normalSlicePort {
	out := make([]normalSlicePort, 0, len(ports))
	for _, p := range ports {
		out = append(out, normalSlicePort{name: deref(p.Name), protocol: protocolOf(p.Protocol), port: deref(p.Port), appProtocol: deref(p.AppProtocol)})
	}
	slices.SortFunc(out, func(a, b normalSlicePort) int {
		return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.port, b.port), cmp.Compare(a.protocol, b.protocol))
	})
	return out
}

func normalSliceEndpoints(eps []discoveryv1.Endpoint) []discoveryv1.Endpoint {
	if len(eps) == 0 {
		return nil
	}
	out := make([]discoveryv1.Endpoint, 0, len(eps))
	for _, e := range eps {
		n := *e.DeepCopy()
		ready := n.Conditions.Ready == nil || *n.Conditions.Ready
		serving := ready
		if n.Conditions.Serving != nil {
			serving = *n.Conditions.Serving
		}
		n.Conditions = conditions(ready, serving, deref(n.Conditions.Terminating))
		if deref(n.Hostname) == "" {
			n.Hostname = nil
		}
		if deref(n.Zone) == "" {
			n.Zone = nil
		}
		out = append(out, n)
	}
	sortSliceEndpoints(out)
	return out
}
