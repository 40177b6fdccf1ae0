package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// Properties of DesiredFor that hold whatever the scenario: it is pure and
// deterministic.

func TestDesiredForDoesNotModifyOrAliasItsInputs(t *testing.T) {
	h2c := "kubernetes.io/h2c"
	svc := remoteService("db", headless(),
		withLabels(map[string]string{"app": "db"}),
		withAnnotations(map[string]string{"a": "b"}),
		withPorts(corev1.ServicePort{Name: "tcp", Protocol: corev1.ProtocolTCP, Port: 5432, AppProtocol: &h2c}))
	remote := RemoteState{Service: svc, Endpoints: []RemoteEndpoint{{Hostname: "db-1", Ready: true}, {Hostname: "db-0", Ready: true}}}
	gw := Gateway{Addresses: []GatewayAddress{{IP: "10.0.0.2", Alive: true}, {IP: "10.0.0.1", Alive: false}}}
	link := testLink(withExcludedLabels("x"))
	ipsIn := map[string]string{"db-0-east": "10.96.0.10"}

	before := []any{svc.DeepCopy(), append([]RemoteEndpoint(nil), remote.Endpoints...), append([]GatewayAddress(nil), gw.Addresses...),
		append([]string(nil), link.ExcludedLabels...), map[string]string{"db-0-east": "10.96.0.10"}}
	d, err := desiredWithIPs(link, remote, ModeGateway, gw, ipsIn)
	if err != nil {
		t.Fatalf("DesiredFor() error = %v", err)
	}
	after := []any{svc, remote.Endpoints, gw.Addresses, link.ExcludedLabels, ipsIn}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Fatalf("DesiredFor() modified its inputs (-before +after):\n%s", diff)
	}

	// Writing to the output must not reach the remote Service.
	d.Service.Labels["app"] = "changed"
	d.Service.Annotations["a"] = "changed"
	*d.Service.Spec.Ports[0].AppProtocol = "changed"
	d.EndpointMirrors[0].Service.Spec.Ports[0].Name = "changed"
	if diff := cmp.Diff(before[0], svc); diff != "" {
		t.Errorf("DesiredFor() output aliases the remote Service (-before +after):\n%s", diff)
	}
	// Nor one output object another.
	d.EndpointMirrors[0].Endpoints.Labels[LabelClusterName] = "changed"
	if d.EndpointMirrors[0].Service.Labels[LabelClusterName] != testCluster {
		t.Error("an endpoint mirror's Service and Endpoints share their labels map")
	}
}

func TestDesiredForIsDeterministic(t *testing.T) {
	svc := remoteService("db", headless(), withPorts(svcPort("tcp", 5432, 5432)))
	ipsIn := map[string]string{"db-0-east": "10.96.0.10", "db-1-east": "10.96.0.11", "db-2-east": "10.96.0.12"}
	a, err := desiredWithIPs(testLink(), RemoteState{Service: svc, Endpoints: []RemoteEndpoint{
		{Hostname: "db-2", Ready: true}, {Hostname: "db-0", Ready: true}, {Hostname: "db-1", Ready: true},
	}}, ModeGateway, Gateway{Addresses: []GatewayAddress{{IP: "10.0.0.3", Alive: true}, {IP: "10.0.0.1", Alive: true}}}, ipsIn)
	if err != nil {
		t.Fatalf("DesiredFor() error = %v", err)
	}
	b, err := desiredWithIPs(testLink(), RemoteState{Service: svc, Endpoints: []RemoteEndpoint{
		{Hostname: "db-1", Ready: true}, {Hostname: "db-2", Ready: true}, {Hostname: "db-0", Ready: true},
	}}, ModeGateway, Gateway{Addresses: []GatewayAddress{{IP: "10.0.0.1", Alive: true}, {IP: "10.0.0.3", Alive: true}}}, ipsIn)
	if err != nil {
		t.Fatalf("DesiredFor() error = %v", err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("DesiredFor() depends on input order (-first +second):\n%s", diff)
	}
}
