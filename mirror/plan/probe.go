package plan

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProbePortName names the probe Service's one port, as Linkerd's does.
const ProbePortName = "mc-probe"

// ProbeName names the Service and Endpoints, in the Link's namespace, that
// point at the remote gateway's probe port. Linkerd's service mirror
// writes them and `linkerd multicluster check` requires their endpoints.
func ProbeName(link string) string { return "probe-gateway-" + link }

// DesiredProbe returns the probe Service and Endpoints for link and the
// current gateway set: one port mc-probe at probeSpec.port, every gateway
// IP as an address (the probe Endpoints say where to probe, not whether
// the gateway is up), the gateway identity annotation and the cluster-name
// label. Both are nil for a Link without a gateway or without probing.
func DesiredProbe(link *Link, gw Gateway) (*corev1.Service, *corev1.Endpoints) {
	if len(link.GatewayAddresses) == 0 || !link.Probe.Enabled() {
		return nil, nil
	}
	meta := metav1.ObjectMeta{
		Name: ProbeName(link.Name), Namespace: link.Namespace,
		Labels:      map[string]string{LabelClusterName: link.TargetClusterName},
		Annotations: map[string]string{},
	}
	if link.GatewayIdentity != "" {
		meta.Annotations[AnnotationRemoteGatewayIdentity] = link.GatewayIdentity
	}
	svc := &corev1.Service{ObjectMeta: *meta.DeepCopy(), Spec: corev1.ServiceSpec{
		Type:  corev1.ServiceTypeClusterIP,
		Ports: []corev1.ServicePort{{Name: ProbePortName, Protocol: corev1.ProtocolTCP, Port: link.Probe.Port}},
	}}
	ep := &corev1.Endpoints{ObjectMeta: meta}
	var addresses []corev1.EndpointAddress
	for _, a := range sortedGateway(gw) {
		addresses = append(addresses, corev1.EndpointAddress{IP: a.IP})
	}
	if len(addresses) > 0 {
		ep.Subsets = []corev1.EndpointSubset{{Addresses: addresses,
			Ports: []corev1.EndpointPort{{Name: ProbePortName, Protocol: corev1.ProtocolTCP, Port: link.Probe.Port}}}}
	}
	return svc, ep
}

// PlanProbe lists the writes that make the probe objects match: the
// existing ones are ours when their cluster-name label is this Link's
// (Linkerd's own probe objects carry it too, so a swap adopts them);
// anything else of that name is a conflict and left alone.
func PlanProbe(link *Link, gw Gateway, svc *corev1.Service, ep *corev1.Endpoints) ([]Change, *Skip) {
	wantSvc, wantEp := DesiredProbe(link, gw)
	if link.DeletionRequested {
		wantSvc, wantEp = nil, nil
	}
	ours := func(obj metav1.Object) bool {
		return obj.GetLabels()[LabelClusterName] == link.TargetClusterName
	}
	for _, obj := range []metav1.Object{svc, ep} {
		if !isNil(obj) && !ours(obj) {
			return nil, &Skip{Reason: ReasonConflict, Message: "the probe object " + link.Namespace + "/" + obj.GetName() +
				" already exists without this link's cluster-name label; leaving it alone"}
		}
	}
	var out []Change
	switch {
	case wantSvc == nil && svc != nil:
		out = append(out, Change{Action: ActionDelete, Kind: KindService, Object: svc})
	case wantSvc != nil && svc == nil:
		out = append(out, Change{Action: ActionCreate, Kind: KindService, Object: wantSvc})
	case wantSvc != nil && !serviceInSync(wantSvc, svc, nil):
		updated := svc.DeepCopy()
		updated.Labels, updated.Annotations = maps.Clone(wantSvc.Labels), maps.Clone(wantSvc.Annotations)
		updated.Spec.Type, updated.Spec.Selector, updated.Spec.Ports = wantSvc.Spec.Type, nil, copyPorts(wantSvc.Spec.Ports)
		out = append(out, Change{Action: ActionUpdate, Kind: KindService, Object: updated})
	}
	switch {
	case wantEp == nil && ep != nil:
		out = append(out, Change{Action: ActionDelete, Kind: KindEndpoints, Object: ep})
	case wantEp != nil && ep == nil:
		out = append(out, Change{Action: ActionCreate, Kind: KindEndpoints, Object: wantEp})
	case wantEp != nil && !endpointsInSync(wantEp, ep, nil):
		updated := ep.DeepCopy()
		updated.Labels, updated.Annotations = maps.Clone(wantEp.Labels), maps.Clone(wantEp.Annotations)
		updated.Subsets = wantEp.DeepCopy().Subsets
		out = append(out, Change{Action: ActionUpdate, Kind: KindEndpoints, Object: updated})
	}
	return out, nil
}
