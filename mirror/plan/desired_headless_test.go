package plan

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// wantEndpointMirror is the endpoint mirror of pod host of the headless
// remote Service "db", pointing at gateway 10.0.0.1 (nil subsets: none).
func wantEndpointMirror(host string, gatewaySubsets ...corev1.EndpointSubset) EndpointMirror {
	name := host + "-east"
	labels := merge(owned(), map[string]string{LabelHeadlessMirrorSvcName: "db-east"})
	fq := host + ".db.prod.svc.cluster.local"
	return EndpointMirror{
		Hostname: host,
		Service: localService(name, withLabels(labels), withPorts(svcPort("tcp", 5432, 5432)),
			withAnnotations(map[string]string{AnnotationRemoteSvcFQName: fq, AnnotationRemoteResourceVersion: "42"})),
		Endpoints: localEndpoints(name, epLabels(labels), withSubsets(gatewaySubsets...),
			epAnnotations(map[string]string{AnnotationRemoteSvcFQName: fq, AnnotationRemoteGatewayIdentity: testIdentity})),
	}
}

func remoteDB(eps ...RemoteEndpoint) RemoteState {
	return RemoteState{Service: remoteService("db", headless(), withPorts(svcPort("tcp", 5432, 5432))), Endpoints: eps}
}

func wantHeadlessMirror() *corev1.Service {
	return localService("db-east", headless(), withLabels(owned()), withPorts(svcPort("tcp", 5432, 5432)),
		withAnnotations(map[string]string{AnnotationRemoteSvcFQName: "db.prod.svc.cluster.local", AnnotationRemoteResourceVersion: "42"}))
}

// wantHeadlessEndpoints lists endpoint mirrors by hostname and ClusterIP, on
// the Service's own port.
func wantHeadlessEndpoints(addresses ...corev1.EndpointAddress) *corev1.Endpoints {
	opts := []epOption{epLabels(owned()), epAnnotations(map[string]string{
		AnnotationRemoteSvcFQName: "db.prod.svc.cluster.local", AnnotationRemoteGatewayIdentity: testIdentity,
	})}
	if len(addresses) > 0 {
		opts = append(opts, withSubsets(subset(addresses, nil, epPort("tcp", 5432))))
	}
	return localEndpoints("db-east", opts...)
}

func TestDesiredForHeadless(t *testing.T) {
	toGateway := subset(ips("10.0.0.1"), nil, epPort("tcp", testGWPort))
	twoPods := []RemoteEndpoint{{Hostname: "db-1", Ready: true}, {Hostname: "db-0", Ready: true}}
	runDesiredCases(t, []desiredCase{
		{
			name:   "A headless Service with ready hostnames gets a headless mirror and one endpoint mirror per hostname",
			remote: remoteDB(twoPods...),
			mode:   ModeGateway, gw: liveGW,
			ips: map[string]string{"db-0-east": "10.96.0.10", "db-1-east": "10.96.0.11"},
			want: &Desired{
				Mode:            ModeGateway,
				Service:         wantHeadlessMirror(),
				Endpoints:       wantHeadlessEndpoints(hostAddr("db-0", "10.96.0.10"), hostAddr("db-1", "10.96.0.11")),
				EndpointMirrors: []EndpointMirror{wantEndpointMirror("db-0", toGateway), wantEndpointMirror("db-1", toGateway)},
			},
		},
		{
			name:   "Headless addresses are sorted by IP whatever the hostname order",
			remote: remoteDB(twoPods...),
			mode:   ModeGateway, gw: liveGW,
			ips: map[string]string{"db-0-east": "10.96.0.20", "db-1-east": "10.96.0.11"},
			want: &Desired{
				Mode:            ModeGateway,
				Service:         wantHeadlessMirror(),
				Endpoints:       wantHeadlessEndpoints(hostAddr("db-1", "10.96.0.11"), hostAddr("db-0", "10.96.0.20")),
				EndpointMirrors: []EndpointMirror{wantEndpointMirror("db-0", toGateway), wantEndpointMirror("db-1", toGateway)},
			},
		},
		{
			name:   "Endpoint mirrors without a ClusterIP yet are left out of the headless Endpoints",
			remote: remoteDB(twoPods...),
			mode:   ModeGateway, gw: liveGW,
			ips: map[string]string{"db-0-east": "", "db-1-east": "10.96.0.11", "db-2-east": "10.96.0.12"},
			want: &Desired{
				Mode:            ModeGateway,
				Service:         wantHeadlessMirror(),
				Endpoints:       wantHeadlessEndpoints(hostAddr("db-1", "10.96.0.11")),
				EndpointMirrors: []EndpointMirror{wantEndpointMirror("db-0", toGateway), wantEndpointMirror("db-1", toGateway)},
			},
		},
		{
			name:   "With no endpoint mirror ClusterIP known the headless Endpoints have no subsets",
			remote: remoteDB(twoPods...),
			mode:   ModeGateway, gw: liveGW,
			ips: map[string]string{"db-0-east": corev1.ClusterIPNone},
			want: &Desired{
				Mode:            ModeGateway,
				Service:         wantHeadlessMirror(),
				Endpoints:       wantHeadlessEndpoints(),
				EndpointMirrors: []EndpointMirror{wantEndpointMirror("db-0", toGateway), wantEndpointMirror("db-1", toGateway)},
			},
		},
		{
			name:   "A hostname seen in two slices (one per IP family) gets one endpoint mirror",
			remote: remoteDB(RemoteEndpoint{Hostname: "db-0", Ready: true}, RemoteEndpoint{Hostname: "db-0", Ready: true}),
			mode:   ModeGateway, gw: liveGW,
			ips: map[string]string{"db-0-east": "10.96.0.10"},
			want: &Desired{
				Mode:            ModeGateway,
				Service:         wantHeadlessMirror(),
				Endpoints:       wantHeadlessEndpoints(hostAddr("db-0", "10.96.0.10")),
				EndpointMirrors: []EndpointMirror{wantEndpointMirror("db-0", toGateway)},
			},
		},
		{
			name:   "Not-ready and hostname-less endpoints get no endpoint mirror",
			remote: remoteDB(RemoteEndpoint{Hostname: "db-0", Ready: true}, RemoteEndpoint{Hostname: "db-1", Ready: false}, RemoteEndpoint{Ready: true}),
			mode:   ModeGateway, gw: liveGW,
			ips: map[string]string{"db-0-east": "10.96.0.10", "db-1-east": "10.96.0.11"},
			want: &Desired{
				Mode:            ModeGateway,
				Service:         wantHeadlessMirror(),
				Endpoints:       wantHeadlessEndpoints(hostAddr("db-0", "10.96.0.10")),
				EndpointMirrors: []EndpointMirror{wantEndpointMirror("db-0", toGateway)},
			},
		},
		{
			name:   "Endpoint mirrors of a dead gateway list it as not ready",
			remote: remoteDB(RemoteEndpoint{Hostname: "db-0", Ready: true}),
			mode:   ModeGateway,
			gw:     Gateway{Addresses: []GatewayAddress{{IP: "10.0.0.1"}}},
			want: &Desired{
				Mode:      ModeGateway,
				Service:   wantHeadlessMirror(),
				Endpoints: wantHeadlessEndpoints(),
				EndpointMirrors: []EndpointMirror{
					wantEndpointMirror("db-0", subset(nil, ips("10.0.0.1"), epPort("tcp", testGWPort))),
				},
			},
		},
		{
			name:   "Endpoint mirrors of a link without gateway addresses have no subsets",
			remote: remoteDB(RemoteEndpoint{Hostname: "db-0", Ready: true}),
			mode:   ModeGateway,
			want: &Desired{
				Mode:            ModeGateway,
				Service:         wantHeadlessMirror(),
				Endpoints:       wantHeadlessEndpoints(),
				EndpointMirrors: []EndpointMirror{wantEndpointMirror("db-0")},
			},
		},
		{
			name:   "A headless Service without hostnames is mirrored as a normal ClusterIP mirror",
			remote: remoteDB(RemoteEndpoint{Ready: true}),
			mode:   ModeGateway, gw: liveGW,
			want: &Desired{
				Mode:    ModeGateway,
				Service: localService("db-east", withLabels(owned()), withPorts(svcPort("tcp", 5432, 5432)), withAnnotations(wantHeadlessMirror().Annotations)),
				Endpoints: localEndpoints("db-east", epLabels(owned()), epAnnotations(wantHeadlessEndpoints().Annotations),
					withSubsets(toGateway)),
			},
		},
		{
			name:   "A headless Service whose hostnames are all on not-ready endpoints is mirrored as normal, without subsets",
			remote: remoteDB(RemoteEndpoint{Hostname: "db-0", Ready: false}),
			mode:   ModeGateway, gw: liveGW,
			want: &Desired{
				Mode:      ModeGateway,
				Service:   localService("db-east", withLabels(owned()), withPorts(svcPort("tcp", 5432, 5432)), withAnnotations(wantHeadlessMirror().Annotations)),
				Endpoints: localEndpoints("db-east", epLabels(owned()), epAnnotations(wantHeadlessEndpoints().Annotations)),
			},
		},
	})
}

func TestDesiredForRejectsAHostnameThatCannotNameAService(t *testing.T) {
	_, err := DesiredFor(testLink(), remoteDB(RemoteEndpoint{Hostname: "0-db", Ready: true}), ModeGateway, liveGW)
	var ise *InvalidServiceError
	if !errors.As(err, &ise) {
		t.Fatalf("DesiredFor() error = %v, want an *InvalidServiceError", err)
	}
}

// TestEveryObjectOfAHeadlessMirrorCarriesTheRemoteLabels: Linkerd's
// endpoint mirrors carry the remote labels and resource version; the
// headless Endpoints do too.
func TestEveryObjectOfAHeadlessMirrorCarriesTheRemoteLabels(t *testing.T) {
	remote := remoteDB(RemoteEndpoint{Hostname: "db-0", Ready: true})
	remote.Service.Labels["app"] = "db"
	d, err := DesiredFor(testLink(), remote, ModeGateway, liveGW)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.EndpointMirrors) != 1 || d.Headless == nil {
		t.Fatalf("want one endpoint mirror and a second phase, got %+v", d)
	}
	em := d.EndpointMirrors[0]
	for what, labels := range map[string]map[string]string{
		"mirror Service": d.Service.Labels, "headless Endpoints": d.Headless.Meta.Labels,
		"endpoint mirror Service": em.Service.Labels, "endpoint mirror Endpoints": em.Endpoints.Labels,
	} {
		if labels["app"] != "db" {
			t.Errorf("%s labels %v lack the remote label app=db", what, labels)
		}
	}
	if rv := em.Service.Annotations[AnnotationRemoteResourceVersion]; rv != "42" {
		t.Errorf("endpoint mirror remote-resource-version %q, want the remote's 42", rv)
	}
}
