package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// podEndpoint is a remote pod as remote/ keeps it: one IPv4 address on the
// http port 8080.
func podEndpoint(ip, host string, ready bool) RemoteEndpoint {
	return RemoteEndpoint{Addresses: []string{ip}, AddressType: discoveryv1.AddressTypeIPv4, Hostname: host,
		Ready: ready, Serving: ready, Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080)), Protocol: ptr(corev1.ProtocolTCP)}}}
}

func manyPods(n int) []RemoteEndpoint {
	var out []RemoteEndpoint
	for i := range n {
		out = append(out, podEndpoint(fmt.Sprintf("10.1.%d.%d", i/250, i%250+1), "", true))
	}
	return out
}

// TestMakeWithEndpointSlicesFollowsTheDecisionTable is Make's table with
// the daemon's default output: Endpoints and EndpointSlices, and flat
// mirrors with the remote pods' addresses.
func TestMakeWithEndpointSlicesFollowsTheDecisionTable(t *testing.T) {
	all := DefaultOutput()
	noFlat := Output{Endpoints: true, Slices: true}
	slicesOnly := Output{Slices: true, FlatEndpoints: true}
	web := remoteService("web")
	rd := remoteService("web", withLabels(map[string]string{"mirror.linkerd.io/exported": "remote-discovery"}))
	rdDB := remoteService("db", headless(), withLabels(map[string]string{"mirror.linkerd.io/exported": "remote-discovery"}))
	db := remoteService("db", headless())
	pods := []RemoteEndpoint{podEndpoint("10.1.0.2", "", true), podEndpoint("10.1.0.1", "", true), podEndpoint("10.1.0.3", "", true)}
	onePodUnready := []RemoteEndpoint{pods[0], podEndpoint("10.1.0.1", "", false), pods[2]}
	dbPods := []RemoteEndpoint{podEndpoint("10.1.0.1", "db-0", true), podEndpoint("10.1.0.2", "db-1", true)}
	dbIPs := map[string]string{"db-0-east": "10.96.0.10", "db-1-east": "10.96.0.11", "db-east": "None"}
	downGW := Gateway{Addresses: []GatewayAddress{{IP: "10.0.0.1", Alive: false}}}
	v6GW := Gateway{Addresses: []GatewayAddress{{IP: "fd00::1", Alive: true}}}

	slicesWithoutSkipMirror := func() []any {
		objs := storedWith(t, all, web, ready, ModeGateway, nil)
		delete(objs[1].(*corev1.Endpoints).Labels, discoveryv1.LabelSkipMirror)
		return objs
	}
	sliceWithNodeName := func() []any {
		objs := storedWith(t, all, web, ready, ModeGateway, nil)
		objs[2].(*discoveryv1.EndpointSlice).Endpoints[0].NodeName = ptr("someone-elses-node")
		return objs
	}
	otherRemotesSlice := func() []any {
		objs := storedWith(t, all, web, ready, ModeGateway, nil)
		s := objs[2].(*discoveryv1.EndpointSlice).DeepCopy()
		s.Name = "web-east.7"
		s.Annotations[AnnotationRemoteSvcFQName] = "web-east.prod.svc.cluster.local"
		return append(objs, s)
	}

	runPlanCases(t, []planCase{
		{name: "a new gateway-mode mirror gets its Service, Endpoints and one EndpointSlice",
			output: &all, remote: web, eps: ready, outcome: OutcomeMirrored,
			changes: []string{"Create Service web-east", "Create Endpoints web-east", "Create EndpointSlice web-east.0"}},
		{name: "a mirror with its slice already right needs no change",
			output: &all, remote: web, eps: ready, local: storedWith(t, all, web, ready, ModeGateway, nil), outcome: OutcomeMirrored},
		{name: "Endpoints written before slices gain skip-mirror",
			output: &all, remote: web, eps: ready, local: slicesWithoutSkipMirror(), outcome: OutcomeMirrored,
			changes: []string{"Update Endpoints web-east"}},
		{name: "a slice someone else edited is repaired",
			output: &all, remote: web, eps: ready, local: sliceWithNodeName(), outcome: OutcomeMirrored,
			changes: []string{"Update EndpointSlice web-east.0"}},
		{name: "a gateway whose probe fails turns the slice's endpoint not ready",
			output: &all, remote: web, eps: ready, gw: &downGW, local: storedWith(t, all, web, ready, ModeGateway, nil), outcome: OutcomeMirrored,
			changes: []string{"Update Endpoints web-east", "Update EndpointSlice web-east.0"}},
		{name: "an IPv6 gateway gets an IPv6 slice and the IPv4 one goes",
			output: &all, remote: web, eps: ready, gw: &v6GW, local: storedWith(t, all, web, ready, ModeGateway, nil), outcome: OutcomeMirrored,
			changes: []string{"Update Endpoints web-east", "Create EndpointSlice web-east.v6.0", "Delete EndpointSlice web-east.0"}},
		{name: "a slice of ours for the same Service name but another remote Service is never touched",
			output: &all, remote: web, eps: ready, local: otherRemotesSlice(), outcome: OutcomeMirrored},
		{name: "with EndpointSlices alone, the Endpoints go",
			output: &slicesOnly, remote: web, eps: ready, local: storedWith(t, all, web, ready, ModeGateway, nil), outcome: OutcomeMirrored,
			changes: []string{"Delete Endpoints web-east"}},
		{name: "with Endpoints alone, the slices go and the Endpoints lose skip-mirror",
			output: &Output{Endpoints: true}, remote: web, eps: ready, local: storedWith(t, all, web, ready, ModeGateway, nil), outcome: OutcomeMirrored,
			changes: []string{"Update Endpoints web-east", "Delete EndpointSlice web-east.0"}},
		{name: "a new flat mirror gets a slice of the remote pods' addresses and no Endpoints",
			output: &all, remote: rd, eps: pods, outcome: OutcomeMirrored,
			changes: []string{"Create Service web-east", "Create EndpointSlice web-east.0"}},
		{name: "a flat mirror already right needs no change",
			output: &all, remote: rd, eps: pods, local: storedWith(t, all, rd, pods, ModeRemoteDiscovery, nil), outcome: OutcomeMirrored},
		{name: "a remote pod turning unready updates the flat slice",
			output: &all, remote: rd, eps: onePodUnready, local: storedWith(t, all, rd, pods, ModeRemoteDiscovery, nil), outcome: OutcomeMirrored,
			changes: []string{"Update EndpointSlice web-east.0"}},
		{name: "remote pods going away leave the flat mirror one empty slice",
			output: &all, remote: rd, local: storedWith(t, all, rd, pods, ModeRemoteDiscovery, nil), outcome: OutcomeMirrored,
			changes: []string{"Update EndpointSlice web-east.0"}},
		{name: "150 remote pods are split into two slices",
			output: &all, remote: rd, eps: manyPods(150), outcome: OutcomeMirrored,
			changes: []string{"Create Service web-east", "Create EndpointSlice web-east.0", "Create EndpointSlice web-east.1"}},
		{name: "150 remote pods down to 50 update the first slice and delete the second",
			output: &all, remote: rd, eps: manyPods(50), local: storedWith(t, all, rd, manyPods(150), ModeRemoteDiscovery, nil), outcome: OutcomeMirrored,
			changes: []string{"Update EndpointSlice web-east.0", "Delete EndpointSlice web-east.1"}},
		{name: "with flat endpoints off, a flat mirror's slices go",
			output: &noFlat, remote: rd, eps: pods, local: storedWith(t, all, rd, pods, ModeRemoteDiscovery, nil), outcome: OutcomeMirrored,
			changes: []string{"Delete EndpointSlice web-east.0"}},
		{name: "gateway to flat mode replaces the gateway slice's endpoints with the pods' and deletes the Endpoints",
			output: &all, remote: rd, eps: pods, local: storedWith(t, all, web, pods, ModeGateway, nil), outcome: OutcomeMirrored,
			changes: []string{"Update Service web-east", "Delete Endpoints web-east", "Update EndpointSlice web-east.0"}},
		{name: "a headless flat Service with hostnames gets a headless mirror whose slice names the pods, and no endpoint mirrors",
			output: &all, remote: rdDB, eps: dbPods, outcome: OutcomeMirrored,
			changes: []string{"Create Service db-east", "Create EndpointSlice db-east.0"}},
		{name: "a headless gateway-mode Service gets slices for its endpoint mirrors, then for itself from their ClusterIPs",
			output: &all, remote: db, eps: dbPods, outcome: OutcomeMirrored,
			changes: []string{"Create Service db-0-east", "Create Endpoints db-0-east", "Create EndpointSlice db-0-east.0",
				"Create Service db-1-east", "Create Endpoints db-1-east", "Create EndpointSlice db-1-east.0", "Create Service db-east"},
			phase2: "Create Endpoints db-east 10.96.0.10=db-0,10.96.0.11=db-1; Create EndpointSlice db-east.0 10.96.0.10=db-0,10.96.0.11=db-1", phase2IPs: dbIPs},
		{name: "a headless gateway-mode mirror already right needs no change in either phase",
			output: &all, remote: db, eps: dbPods, local: storedWith(t, all, db, dbPods, ModeGateway, dbIPs), outcome: OutcomeMirrored, phase2IPs: dbIPs},
		{name: "a hostname that went away loses its endpoint mirror with its slice",
			output: &all, remote: db, eps: dbPods[:1], local: storedWith(t, all, db, dbPods, ModeGateway, dbIPs), outcome: OutcomeMirrored,
			changes: []string{"Delete EndpointSlice db-1-east.0", "Delete Endpoints db-1-east", "Delete Service db-1-east"},
			phase2:  "Update Endpoints db-east 10.96.0.10=db-0; Update EndpointSlice db-east.0 10.96.0.10=db-0", phase2IPs: dbIPs},
		{name: "a headless gateway-mode Service with EndpointSlices alone gets no Endpoints in either phase",
			output: &slicesOnly, remote: db, eps: dbPods[:1], outcome: OutcomeMirrored,
			changes: []string{"Create Service db-0-east", "Create EndpointSlice db-0-east.0", "Create Service db-east"},
			phase2:  "Create EndpointSlice db-east.0 10.96.0.10=db-0", phase2IPs: dbIPs},
		{name: "a remote Service gone removes its slices, then its Endpoints and Service",
			output: &all, local: storedWith(t, all, web, ready, ModeGateway, nil), outcome: OutcomeRemoved,
			changes: []string{"Delete EndpointSlice web-east.0", "Delete Endpoints web-east", "Delete Service web-east"}},
		{name: "a flat mirror unexported loses its slices with it",
			output: &all, remote: remoteService("web", withLabels(nil)), local: storedWith(t, all, rd, manyPods(150), ModeRemoteDiscovery, nil), outcome: OutcomeRemoved,
			changes: []string{"Delete EndpointSlice web-east.0", "Delete EndpointSlice web-east.1", "Delete Service web-east"}},
	})
}

// TestSlicesHoldWhatTheRemoteSays checks the content of the slices Make
// writes: labels, ports, conditions, hostnames, and nothing of the remote
// that means nothing locally.
func TestSlicesHoldWhatTheRemoteSays(t *testing.T) {
	rd := remoteService("db", headless(), withLabels(map[string]string{"mirror.linkerd.io/exported": "remote-discovery"}))
	zone := "zone-a"
	eps := []RemoteEndpoint{podEndpoint("10.1.0.2", "db-1", false), podEndpoint("10.1.0.1", "db-0", true)}
	eps[1].Zone = zone
	d, err := DesiredWith(testLink(), RemoteState{Service: rd, Endpoints: eps}, ModeRemoteDiscovery, liveGW, DefaultOutput())
	if err != nil {
		t.Fatal(err)
	}
	if d.Service.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("flat mirror of a headless Service with hostnames has clusterIP %q, want None", d.Service.Spec.ClusterIP)
	}
	want := &discoveryv1.EndpointSlice{
		ObjectMeta:  localService("db-east").ObjectMeta,
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.1.0.1"}, Hostname: ptr("db-0"), Zone: &zone, Conditions: conditions(true, true, false)},
			{Addresses: []string{"10.1.0.2"}, Hostname: ptr("db-1"), Conditions: conditions(false, false, false)},
		},
		Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080)), Protocol: ptr(corev1.ProtocolTCP)}},
	}
	want.Name = "db-east.0"
	want.Labels = merge(owned(), map[string]string{discoveryv1.LabelServiceName: "db-east", discoveryv1.LabelManagedBy: ManagedBy})
	want.Annotations = map[string]string{AnnotationRemoteSvcFQName: "db.prod.svc.cluster.local"}
	if diff := cmp.Diff([]*discoveryv1.EndpointSlice{want}, d.Slices); diff != "" {
		t.Errorf("flat slices (-want +got):\n%s", diff)
	}

	gw, err := DesiredWith(testLink(), RemoteState{Service: remoteService("web"), Endpoints: ready}, ModeGateway, liveGW, DefaultOutput())
	if err != nil {
		t.Fatal(err)
	}
	if got := gw.Endpoints.Labels[discoveryv1.LabelSkipMirror]; got != "true" {
		t.Errorf("gateway Endpoints skip-mirror label %q, want \"true\"", got)
	}
	s := gw.Slices[0]
	if got := sliceAddresses(s); got != "10.0.0.1=" || *s.Ports[0].Port != testGWPort || s.Annotations[AnnotationRemoteGatewayIdentity] != testIdentity {
		t.Errorf("gateway slice %s holds %s port %d identity %q, want the gateway 10.0.0.1 at %d with identity %q",
			s.Name, got, *s.Ports[0].Port, s.Annotations[AnnotationRemoteGatewayIdentity], testGWPort, testIdentity)
	}
}

// TestSliceNamesNeverCollide: a mirror's slice names cannot be another
// mirror's, whatever the Service names.
func TestSliceNamesNeverCollide(t *testing.T) {
	seen := map[string]string{}
	for _, mirror := range []string{"web", "web-0", "web-v6", "web-1-east", "web-1"} {
		for _, at := range []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6} {
			for n := range 12 {
				name := SliceName(mirror, at, n)
				if other, ok := seen[name]; ok && other != mirror {
					t.Fatalf("slice name %s is both %s's and %s's", name, mirror, other)
				}
				seen[name] = mirror
				if !strings.HasPrefix(name, mirror+".") {
					t.Errorf("slice name %s does not start with its mirror's name and a dot", name)
				}
			}
		}
	}
}

// TestSliceMetadataIsValid runs the API server's own label and name rules
// on what Make writes: a slash in the managed-by value, say, is refused by
// every API server.
func TestSliceMetadataIsValid(t *testing.T) {
	d, err := DesiredWith(testLink(), RemoteState{Service: remoteService("web"), Endpoints: ready}, ModeGateway, liveGW, DefaultOutput())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range d.Slices {
		for k, v := range s.Labels {
			if errs := validation.IsQualifiedName(k); len(errs) > 0 {
				t.Errorf("slice %s: label key %q: %v", s.Name, k, errs)
			}
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				t.Errorf("slice %s: label %s value %q: %v", s.Name, k, v, errs)
			}
		}
		if errs := validation.IsDNS1123Subdomain(s.Name); len(errs) > 0 {
			t.Errorf("slice name %q: %v", s.Name, errs)
		}
	}
}
