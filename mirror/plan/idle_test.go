package plan

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// idleScenarios cover every shape DesiredFor produces. The remote ports leave
// protocol and targetPort unset, so the local API server's defaulting has
// something to change.
func idleScenarios() []struct {
	name   string
	link   *Link
	remote RemoteState
	mode   Mode
	gw     Gateway
} {
	bare := []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53}}
	pods := []RemoteEndpoint{{Hostname: "db-0", Ready: true}, {Hostname: "db-1", Ready: true}, {Hostname: "db-2", Ready: false}}
	mixedGW := Gateway{Addresses: []GatewayAddress{{IP: "10.0.0.2", Alive: true}, {IP: "10.0.0.1", Alive: false}}}
	return []struct {
		name   string
		link   *Link
		remote RemoteState
		mode   Mode
		gw     Gateway
	}{
		{"a ready gateway-mode Service", testLink(), RemoteState{Service: remoteService("web", withPorts(bare...)), Endpoints: ready}, ModeGateway, liveGW},
		{"a gateway-mode Service behind a half-dead gateway", testLink(), RemoteState{Service: remoteService("web", withPorts(bare...)), Endpoints: ready}, ModeGateway, mixedGW},
		{"a gateway-mode Service without ready endpoints", testLink(), RemoteState{Service: remoteService("web", withPorts(bare...))}, ModeGateway, liveGW},
		{"a gateway-mode Service of a flat-only link", testLink(withoutGateway()), RemoteState{Service: remoteService("web", withPorts(bare...)), Endpoints: ready}, ModeGateway, Gateway{}},
		{"a remote-discovery Service", testLink(), RemoteState{Service: remoteService("web", withPorts(bare...)), Endpoints: ready}, ModeRemoteDiscovery, liveGW},
		{"a headless Service with hostnames", testLink(), RemoteState{Service: remoteService("db", headless(), withPorts(bare...)), Endpoints: pods}, ModeGateway, mixedGW},
		{"a headless Service without hostnames", testLink(), RemoteState{Service: remoteService("db", headless(), withPorts(bare...)), Endpoints: ready}, ModeGateway, liveGW},
		{"a Service with a long name", testLink(), RemoteState{Service: remoteService(strings.Repeat("long-", 15)+"name", withPorts(bare...)), Endpoints: ready}, ModeGateway, liveGW},
		{"a Service without labels or annotations", testLink(), RemoteState{Service: remoteService("web", withLabels(nil), withPorts(bare...)), Endpoints: ready}, ModeGateway, liveGW},
	}
}

// TestIdleMirrorsCauseNoWrites is the guarantee that matters most: once the
// local cluster holds what DesiredFor asked for, as the API server stores it,
// planning again writes nothing.
func TestIdleMirrorsCauseNoWrites(t *testing.T) {
	ipsFor := map[string]string{"db-0-east": "10.96.0.10", "db-1-east": "10.96.0.11"}
	for _, sc := range idleScenarios() {
		t.Run("Once created, "+sc.name+" needs no write", func(t *testing.T) {
			d, err := desiredWithIPs(sc.link, sc.remote, sc.mode, sc.gw, ipsFor)
			if err != nil {
				t.Fatalf("DesiredFor() error = %v", err)
			}
			assertNoServiceWrite(t, d.Service, apiServerService(t, d.Service))
			assertNoEndpointsWrite(t, d.Endpoints, storedEndpoints(t, d.Endpoints))
			for _, em := range d.EndpointMirrors {
				assertNoServiceWrite(t, em.Service, apiServerService(t, em.Service))
				assertNoEndpointsWrite(t, em.Endpoints, storedEndpoints(t, em.Endpoints))
			}
		})
	}
}

// TestUpdatesConverge checks that after one planned update is stored, the
// next plan is a no-op: updates never ping-pong.
func TestUpdatesConverge(t *testing.T) {
	for _, sc := range idleScenarios() {
		t.Run("After one update, "+sc.name+" needs no further write", func(t *testing.T) {
			d, err := desiredWithIPs(sc.link, sc.remote, sc.mode, sc.gw, nil)
			if err != nil {
				t.Fatalf("DesiredFor() error = %v", err)
			}
			// A stale mirror: other ports, a stray label, a stray subset.
			staleSvc := apiServerService(t, d.Service)
			staleSvc.Spec.Ports = []corev1.ServicePort{{Name: "old", Port: 1}}
			staleSvc.Labels["stray"] = "x"
			action, update := PlanService(d.Service, staleSvc)
			if action != ActionUpdate {
				t.Fatalf("PlanService(stale) = %v, want Update", action)
			}
			assertNoServiceWrite(t, d.Service, apiServerService(t, update))

			if d.Endpoints == nil {
				return
			}
			staleEp := storedEndpoints(t, d.Endpoints)
			staleEp.Subsets = []corev1.EndpointSubset{subset(ips("192.0.2.1"), nil, epPort("old", 1))}
			action, epUpdate := PlanEndpoints(d.Endpoints, staleEp)
			if action != ActionUpdate {
				t.Fatalf("PlanEndpoints(stale) = %v, want Update", action)
			}
			assertNoEndpointsWrite(t, d.Endpoints, storedEndpoints(t, epUpdate))
		})
	}
}

func storedEndpoints(t *testing.T, ep *corev1.Endpoints) *corev1.Endpoints {
	t.Helper()
	if ep == nil {
		return nil
	}
	return apiServerEndpoints(t, ep)
}

func assertNoServiceWrite(t *testing.T, desired, existing *corev1.Service) {
	t.Helper()
	if action, obj := PlanService(desired, existing); action != ActionNone || obj != nil {
		t.Errorf("PlanService(%s) = %v, %v; want None, nil", desired.Name, action, obj)
	}
}

func assertNoEndpointsWrite(t *testing.T, desired, existing *corev1.Endpoints) {
	t.Helper()
	if action, obj := PlanEndpoints(desired, existing); action != ActionNone || obj != nil {
		t.Errorf("PlanEndpoints() = %v, %v; want None, nil", action, obj)
	}
}
