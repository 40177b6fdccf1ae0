package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type desiredCase struct {
	name   string
	link   *Link
	remote RemoteState
	mode   Mode
	gw     Gateway
	ips    map[string]string
	want   *Desired
}

func runDesiredCases(t *testing.T, cases []desiredCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			link := tc.link
			if link == nil {
				link = testLink()
			}
			got, err := desiredWithIPs(link, tc.remote, tc.mode, tc.gw, tc.ips)
			if err != nil {
				t.Fatalf("DesiredFor() error = %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DesiredFor() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// Values shared by the expected objects.
var (
	ready      = []RemoteEndpoint{{Ready: true}}
	liveGW     = Gateway{Addresses: []GatewayAddress{{IP: "10.0.0.1", Alive: true}}}
	gwPorts    = []corev1.EndpointPort{epPort("http", testGWPort)}
	webFQ      = "web.prod.svc.cluster.local"
	webSvcAnns = map[string]string{AnnotationRemoteSvcFQName: webFQ, AnnotationRemoteResourceVersion: "42"}
	webEpAnns  = map[string]string{AnnotationRemoteSvcFQName: webFQ, AnnotationRemoteGatewayIdentity: testIdentity}
)

// wantWebMirror is the mirror Service of remoteService("web") in gateway mode.
func wantWebMirror(opts ...svcOption) *corev1.Service {
	base := []svcOption{withLabels(owned()), withAnnotations(webSvcAnns), withPorts(svcPort("http", 80, 8080))}
	return localService("web-east", append(base, opts...)...)
}

// wantWebEndpoints is the gateway Endpoints of remoteService("web").
func wantWebEndpoints(opts ...epOption) *corev1.Endpoints {
	base := []epOption{epLabels(owned()), epAnnotations(webEpAnns)}
	return localEndpoints("web-east", append(base, opts...)...)
}

func TestDesiredForGatewayMode(t *testing.T) {
	runDesiredCases(t, []desiredCase{
		{
			name:   "A ready Service gets a ClusterIP mirror and Endpoints pointing at the live gateway",
			remote: RemoteState{Service: remoteService("web"), Endpoints: ready},
			mode:   ModeGateway, gw: liveGW,
			want: &Desired{
				Mode:      ModeGateway,
				Service:   wantWebMirror(),
				Endpoints: wantWebEndpoints(withSubsets(subset(ips("10.0.0.1"), nil, gwPorts...))),
			},
		},
		{
			name:   "Dead gateway addresses move to notReadyAddresses",
			remote: RemoteState{Service: remoteService("web"), Endpoints: ready},
			mode:   ModeGateway,
			gw:     Gateway{Addresses: []GatewayAddress{{IP: "10.0.0.1", Alive: false}, {IP: "10.0.0.2", Alive: true}}},
			want: &Desired{
				Mode: ModeGateway, Service: wantWebMirror(),
				Endpoints: wantWebEndpoints(withSubsets(subset(ips("10.0.0.2"), ips("10.0.0.1"), gwPorts...))),
			},
		},
		{
			name:   "Gateway addresses are sorted, de-duplicated and stripped of empty IPs, a live copy winning",
			remote: RemoteState{Service: remoteService("web"), Endpoints: ready},
			mode:   ModeGateway,
			gw: Gateway{Addresses: []GatewayAddress{
				{IP: "10.0.0.3", Alive: true}, {IP: "", Alive: true}, {IP: "10.0.0.1", Alive: false},
				{IP: "10.0.0.2", Alive: false}, {IP: "10.0.0.1", Alive: true}, {IP: "10.0.0.3", Alive: false},
			}},
			want: &Desired{
				Mode: ModeGateway, Service: wantWebMirror(),
				Endpoints: wantWebEndpoints(withSubsets(subset(ips("10.0.0.1", "10.0.0.3"), ips("10.0.0.2"), gwPorts...))),
			},
		},
		{
			name:   "Every Service port gets a gateway port of the same name and protocol",
			remote: RemoteState{Service: remoteService("web", withPorts(svcPort("http", 80, 8080), corev1.ServicePort{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53})), Endpoints: ready},
			mode:   ModeGateway, gw: liveGW,
			want: &Desired{
				Mode:    ModeGateway,
				Service: wantWebMirror(withPorts(svcPort("http", 80, 8080), corev1.ServicePort{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53})),
				Endpoints: wantWebEndpoints(withSubsets(subset(ips("10.0.0.1"), nil,
					epPort("http", testGWPort), corev1.EndpointPort{Name: "dns", Protocol: corev1.ProtocolUDP, Port: testGWPort}))),
			},
		},
		{
			name:   "A Service without ready endpoints gets Endpoints without subsets",
			remote: RemoteState{Service: remoteService("web"), Endpoints: []RemoteEndpoint{{Ready: false}}},
			mode:   ModeGateway, gw: liveGW,
			want: &Desired{Mode: ModeGateway, Service: wantWebMirror(), Endpoints: wantWebEndpoints()},
		},
		{
			name:   "A Service without any endpoint gets Endpoints without subsets",
			remote: RemoteState{Service: remoteService("web")},
			mode:   ModeGateway, gw: liveGW,
			want: &Desired{Mode: ModeGateway, Service: wantWebMirror(), Endpoints: wantWebEndpoints()},
		},
		{
			name:   "A gateway without resolved addresses gives Endpoints without subsets",
			remote: RemoteState{Service: remoteService("web"), Endpoints: ready},
			mode:   ModeGateway,
			want:   &Desired{Mode: ModeGateway, Service: wantWebMirror(), Endpoints: wantWebEndpoints()},
		},
		{
			name:   "A flat-only link still writes Endpoints, without subsets, in gateway mode",
			link:   testLink(withoutGateway()),
			remote: RemoteState{Service: remoteService("web"), Endpoints: ready},
			mode:   ModeGateway,
			want: &Desired{Mode: ModeGateway, Service: wantWebMirror(),
				Endpoints: wantWebEndpoints(epAnnotations(map[string]string{AnnotationRemoteSvcFQName: webFQ}))},
		},
		{
			name:   "Without a gateway identity the Endpoints carry no identity annotation",
			link:   testLink(withIdentity("")),
			remote: RemoteState{Service: remoteService("web"), Endpoints: ready},
			mode:   ModeGateway, gw: liveGW,
			want: &Desired{Mode: ModeGateway, Service: wantWebMirror(),
				Endpoints: wantWebEndpoints(epAnnotations(map[string]string{AnnotationRemoteSvcFQName: webFQ}),
					withSubsets(subset(ips("10.0.0.1"), nil, gwPorts...)))},
		},
		{
			name:   "The cluster domain goes into the FQ names",
			link:   testLink(withDomain("east.example")),
			remote: RemoteState{Service: remoteService("web")},
			mode:   ModeGateway,
			want: &Desired{
				Mode: ModeGateway,
				Service: wantWebMirror(withAnnotations(map[string]string{
					AnnotationRemoteSvcFQName: "web.prod.svc.east.example", AnnotationRemoteResourceVersion: "42",
				})),
				Endpoints: wantWebEndpoints(epAnnotations(map[string]string{
					AnnotationRemoteSvcFQName: "web.prod.svc.east.example", AnnotationRemoteGatewayIdentity: testIdentity,
				})),
			},
		},
	})
}

func TestDesiredForServiceShape(t *testing.T) {
	h2c := "kubernetes.io/h2c"
	runDesiredCases(t, []desiredCase{
		{
			name: "Remote labels and annotations are copied, minus reserved keys and the Link's exclusions",
			link: testLink(withExcludedLabels("team"), withExcludedAnnotations("example.com/*")),
			remote: RemoteState{Service: remoteService("web",
				withLabels(map[string]string{"mirror.linkerd.io/exported": "true", "app": "web", "team": "a", LabelClusterName: "evil"}),
				withAnnotations(map[string]string{
					"keep": "me", "example.com/x": "y", AnnotationTopologyMode: "Auto",
					AnnotationRemoteSvcFQName: "spoofed", AnnotationRemoteResourceVersion: "spoofed",
				}))},
			mode: ModeGateway,
			want: &Desired{
				Mode: ModeGateway,
				Service: wantWebMirror(
					withLabels(merge(owned(), map[string]string{"app": "web"})),
					withAnnotations(merge(webSvcAnns, map[string]string{"keep": "me"}))),
				// The Endpoints carry the same labels (Linkerd's do, once).
				Endpoints: wantWebEndpoints(epLabels(merge(owned(), map[string]string{"app": "web"}))),
			},
		},
		{
			name: "Ports keep name, protocol, port, targetPort and appProtocol but not nodePort, and the type becomes ClusterIP",
			remote: RemoteState{Service: remoteService("web", withType(corev1.ServiceTypeLoadBalancer), withPorts(
				corev1.ServicePort{Name: "grpc", Protocol: corev1.ProtocolTCP, Port: 9090, TargetPort: intstr.FromString("grpc"), NodePort: 31000, AppProtocol: &h2c},
				corev1.ServicePort{Name: "admin", Protocol: corev1.ProtocolSCTP, Port: 9990, TargetPort: intstr.FromInt32(9990), NodePort: 31001},
			))},
			mode: ModeRemoteDiscovery,
			want: &Desired{
				Mode: ModeRemoteDiscovery,
				Service: wantWebMirror(
					withLabels(merge(owned(), map[string]string{LabelRemoteDiscovery: testCluster, LabelRemoteService: "web"})),
					withPorts(
						corev1.ServicePort{Name: "grpc", Protocol: corev1.ProtocolTCP, Port: 9090, TargetPort: intstr.FromString("grpc"), AppProtocol: ptr(h2c)},
						corev1.ServicePort{Name: "admin", Protocol: corev1.ProtocolSCTP, Port: 9990, TargetPort: intstr.FromInt32(9990)},
					)),
			},
		},
		{
			name:   "A long remote name gets the hashed mirror name on both objects",
			remote: RemoteState{Service: remoteService("payments-api-" + strings.Repeat("x", 60))},
			mode:   ModeGateway,
			want: func() *Desired {
				name := "payments-api-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-f8619ead6a-east"
				fq := "payments-api-" + strings.Repeat("x", 60) + ".prod.svc.cluster.local"
				svc := wantWebMirror(withAnnotations(map[string]string{AnnotationRemoteSvcFQName: fq, AnnotationRemoteResourceVersion: "42"}))
				svc.Name = name
				ep := wantWebEndpoints(epAnnotations(map[string]string{AnnotationRemoteSvcFQName: fq, AnnotationRemoteGatewayIdentity: testIdentity}))
				ep.Name = name
				return &Desired{Mode: ModeGateway, Service: svc, Endpoints: ep}
			}(),
		},
	})
}

func TestDesiredForRemoteDiscoveryMode(t *testing.T) {
	flatLabels := merge(owned(), map[string]string{LabelRemoteDiscovery: testCluster, LabelRemoteService: "web"})
	runDesiredCases(t, []desiredCase{
		{
			name:   "A flat Service gets the remote-discovery labels and no Endpoints",
			remote: RemoteState{Service: remoteService("web"), Endpoints: ready},
			mode:   ModeRemoteDiscovery, gw: liveGW,
			want: &Desired{Mode: ModeRemoteDiscovery, Service: wantWebMirror(withLabels(flatLabels))},
		},
		{
			name: "A headless flat Service with hostnames is mirrored as ClusterIP, without endpoint mirrors",
			remote: RemoteState{Service: remoteService("web", headless()),
				Endpoints: []RemoteEndpoint{{Hostname: "web-0", Ready: true}}},
			mode: ModeRemoteDiscovery, gw: liveGW,
			want: &Desired{Mode: ModeRemoteDiscovery, Service: wantWebMirror(withLabels(flatLabels))},
		},
		{
			name:   "A flat-only link mirrors flat Services the same way",
			link:   testLink(withoutGateway()),
			remote: RemoteState{Service: remoteService("web")},
			mode:   ModeRemoteDiscovery,
			want:   &Desired{Mode: ModeRemoteDiscovery, Service: wantWebMirror(withLabels(flatLabels))},
		},
	})
}

func TestDesiredForRejects(t *testing.T) {
	for _, tc := range []struct {
		name        string
		link        *Link
		remote      RemoteState
		mode        Mode
		wantInvalid bool // an *InvalidServiceError rather than a plain error
	}{
		{"A nil Link is a caller error", nil, RemoteState{Service: remoteService("web")}, ModeGateway, false},
		{"A nil Service is a caller error", testLink(), RemoteState{}, ModeGateway, false},
		{"ModeNone is a caller error", testLink(), RemoteState{Service: remoteService("web")}, ModeNone, false},
		{"An unknown mode is a caller error", testLink(), RemoteState{Service: remoteService("web")}, Mode("mesh"), false},
		{"A Service without ports is invalid", testLink(), RemoteState{Service: remoteService("web", withPorts())}, ModeGateway, true},
		{"A Service without ports is invalid in flat mode too", testLink(), RemoteState{Service: remoteService("web", withPorts())}, ModeRemoteDiscovery, true},
		{"A Service whose mirror name is not a Service name is invalid", testLink(), RemoteState{Service: remoteService("9lives")}, ModeGateway, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DesiredFor(tc.link, tc.remote, tc.mode, liveGW)
			if err == nil {
				t.Fatalf("DesiredFor() = %+v, want an error", got)
			}
			var ise *InvalidServiceError
			if isInvalid := errors.As(err, &ise); isInvalid != tc.wantInvalid {
				t.Fatalf("DesiredFor() error = %T %v, want InvalidServiceError: %v", err, err, tc.wantInvalid)
			}
			if ise != nil && (ise.Reason != "InvalidService" || ise.Message == "" || ise.Error() != ise.Message) {
				t.Errorf("InvalidServiceError = %+v, want reason InvalidService and a message", ise)
			}
		})
	}
}
