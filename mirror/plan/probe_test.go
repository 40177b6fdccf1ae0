package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func probedLink(opts ...linkOption) *Link {
	l := testLink(opts...)
	l.Probe = ProbeSpec{Path: "/ready", Port: 4191, Period: 3e9, Timeout: 30e9, FailureThreshold: 3}
	return l
}

func TestPlanProbeFollowsTheLinkAndTheGateway(t *testing.T) {
	twoGW := Gateway{Addresses: []GatewayAddress{{IP: "10.0.0.2", Alive: false}, {IP: "10.0.0.1", Alive: true}}}
	right := func(l *Link, gw Gateway) (*corev1.Service, *corev1.Endpoints) {
		svc, ep := DesiredProbe(l, gw)
		return apiServerService(t, svc), apiServerEndpoints(t, ep)
	}
	rightSvc, rightEp := right(probedLink(), liveGW)
	foreign := localService(ProbeName("east"))
	cases := []struct {
		name    string
		link    *Link
		gw      Gateway
		svc     *corev1.Service
		ep      *corev1.Endpoints
		want    []string
		skipped bool
	}{
		{name: "none yet: both are created", link: probedLink(), gw: liveGW,
			want: []string{"Create Service probe-gateway-east", "Create Endpoints probe-gateway-east"}},
		{name: "already right: nothing", link: probedLink(), gw: liveGW, svc: rightSvc, ep: rightEp},
		{name: "a gateway IP added: the Endpoints are updated", link: probedLink(), gw: twoGW, svc: rightSvc, ep: rightEp,
			want: []string{"Update Endpoints probe-gateway-east"}},
		{name: "the probe port changed: both are updated", link: func() *Link { l := probedLink(); l.Probe.Port = 4192; return l }(),
			gw: liveGW, svc: rightSvc, ep: rightEp,
			want: []string{"Update Service probe-gateway-east", "Update Endpoints probe-gateway-east"}},
		{name: "probing switched off: both are deleted", link: testLink(), gw: liveGW, svc: rightSvc, ep: rightEp,
			want: []string{"Delete Service probe-gateway-east", "Delete Endpoints probe-gateway-east"}},
		{name: "a flat-only link has none", link: probedLink(withoutGateway())},
		{name: "the Link being deleted: both are deleted", link: probedLink(func(l *Link) { l.DeletionRequested = true }),
			gw: liveGW, svc: rightSvc, ep: rightEp,
			want: []string{"Delete Service probe-gateway-east", "Delete Endpoints probe-gateway-east"}},
		{name: "an object of that name without our cluster label is left alone", link: probedLink(), gw: liveGW,
			svc: foreign, skipped: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			changes, skip := PlanProbe(c.link, c.gw, c.svc, c.ep)
			if (skip != nil) != c.skipped {
				t.Fatalf("skip = %+v, want skipped %v", skip, c.skipped)
			}
			if diff := cmp.Diff(c.want, describe(changes)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDesiredProbeIsWhatLinkerdsCheckReads(t *testing.T) {
	svc, ep := DesiredProbe(probedLink(), Gateway{Addresses: []GatewayAddress{{IP: "10.0.0.2", Alive: false}, {IP: "10.0.0.1", Alive: true}}})
	if svc.Name != "probe-gateway-east" || svc.Namespace != "linkerd-multicluster" || svc.Labels[LabelClusterName] != "east" ||
		svc.Annotations[AnnotationRemoteGatewayIdentity] != testIdentity {
		t.Errorf("probe Service meta %+v", svc.ObjectMeta)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "mc-probe" || svc.Spec.Ports[0].Port != 4191 {
		t.Errorf("probe Service ports %+v, want one mc-probe at 4191", svc.Spec.Ports)
	}
	want := []corev1.EndpointSubset{{Addresses: ips("10.0.0.1", "10.0.0.2"), Ports: []corev1.EndpointPort{{Name: "mc-probe", Protocol: corev1.ProtocolTCP, Port: 4191}}}}
	if diff := cmp.Diff(want, ep.Subsets); diff != "" {
		t.Errorf("probe Endpoints (-want +got), every gateway IP ready whatever its probe says:\n%s", diff)
	}
}
