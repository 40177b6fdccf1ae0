package plan

import (
	"encoding/json"
	"maps"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Shared values of the fixtures: a Link to cluster "east" with a gateway.
const (
	testNS       = "prod"
	testCluster  = "east"
	testIdentity = "linkerd-gateway.linkerd-multicluster.serviceaccount.identity.linkerd.cluster.local"
	testGWPort   = 4143
)

// --- Links ---

type linkOption func(*Link)

// testLink is a parsed Link as ParseLink returns it for linkObject().
func testLink(opts ...linkOption) *Link {
	l := &Link{
		Namespace:                     "linkerd-multicluster",
		Name:                          testCluster,
		TargetClusterName:             testCluster,
		TargetClusterDomain:           "cluster.local",
		TargetClusterLinkerdNamespace: "linkerd",
		ClusterCredentialsSecret:      "cluster-credentials-east",
		GatewayAddresses:              []string{"gw.example.com"},
		GatewayPort:                   testGWPort,
		GatewayIdentity:               testIdentity,
		Selector:                      labels.SelectorFromSet(labels.Set{"mirror.linkerd.io/exported": "true"}),
		RemoteDiscoverySelector:       labels.SelectorFromSet(labels.Set{"mirror.linkerd.io/exported": "remote-discovery"}),
		FederatedServiceSelector:      labels.SelectorFromSet(labels.Set{"mirror.linkerd.io/federated": "member"}),
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

func withoutGateway() linkOption {
	return func(l *Link) { l.GatewayAddresses, l.GatewayPort, l.GatewayIdentity = nil, 0, "" }
}
func withIdentity(id string) linkOption         { return func(l *Link) { l.GatewayIdentity = id } }
func withDomain(d string) linkOption            { return func(l *Link) { l.TargetClusterDomain = d } }
func withExcludedLabels(k ...string) linkOption { return func(l *Link) { l.ExcludedLabels = k } }
func withExcludedAnnotations(k ...string) linkOption {
	return func(l *Link) { l.ExcludedAnnotations = k }
}

// --- Services ---

type svcOption func(*corev1.Service)

// remoteService is an exported remote Service as the remote API server
// returns it: defaulted, with a resourceVersion and a ClusterIP.
func remoteService(name string, opts ...svcOption) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: testNS, ResourceVersion: "42", UID: "remote-uid",
			Labels: map[string]string{"mirror.linkerd.io/exported": "true"},
		},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.1.0.1", ClusterIPs: []string{"10.1.0.1"},
			Ports: []corev1.ServicePort{svcPort("http", 80, 8080)},
		},
	}
	for _, o := range opts {
		o(svc)
	}
	return svc
}

// localService is the skeleton of a mirror-side Service; options fill it in.
func localService(name string, opts ...svcOption) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP},
	}
	for _, o := range opts {
		o(svc)
	}
	return svc
}

func svcPort(name string, port, target int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(target)}
}

func withPorts(ports ...corev1.ServicePort) svcOption {
	return func(s *corev1.Service) { s.Spec.Ports = ports }
}
func withLabels(kv map[string]string) svcOption {
	return func(s *corev1.Service) { s.Labels = kv }
}
func withAnnotations(kv map[string]string) svcOption {
	return func(s *corev1.Service) { s.Annotations = kv }
}

// headless sets clusterIP "None" (and clears clusterIPs, which the API server
// derives from it).
func headless() svcOption {
	return func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, nil }
}
func withClusterIP(ip string) svcOption {
	return func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = ip, []string{ip} }
}
func withType(t corev1.ServiceType) svcOption { return func(s *corev1.Service) { s.Spec.Type = t } }

// --- Endpoints ---

type epOption func(*corev1.Endpoints)

func localEndpoints(name string, opts ...epOption) *corev1.Endpoints {
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS}}
	for _, o := range opts {
		o(ep)
	}
	return ep
}

func epLabels(kv map[string]string) epOption {
	return func(e *corev1.Endpoints) { e.Labels = kv }
}
func epAnnotations(kv map[string]string) epOption {
	return func(e *corev1.Endpoints) { e.Annotations = kv }
}
func withSubsets(s ...corev1.EndpointSubset) epOption {
	return func(e *corev1.Endpoints) { e.Subsets = s }
}

// subset builds one EndpointSubset from ready and not-ready addresses.
func subset(ready, notReady []corev1.EndpointAddress, ports ...corev1.EndpointPort) corev1.EndpointSubset {
	return corev1.EndpointSubset{Addresses: ready, NotReadyAddresses: notReady, Ports: ports}
}

func ips(ips ...string) []corev1.EndpointAddress {
	var out []corev1.EndpointAddress
	for _, ip := range ips {
		out = append(out, corev1.EndpointAddress{IP: ip})
	}
	return out
}

func hostAddr(host, ip string) corev1.EndpointAddress {
	return corev1.EndpointAddress{Hostname: host, IP: ip}
}

func epPort(name string, port int32) corev1.EndpointPort {
	return corev1.EndpointPort{Name: name, Protocol: corev1.ProtocolTCP, Port: port}
}

// --- Label and annotation sets ---

// merge returns the union of maps, later ones winning.
func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

func owned() map[string]string { return OwnershipLabels(testCluster) }

// --- API server simulation ---

// apiServerService returns svc as the local API server would return it after
// creating it: a JSON round trip (empty maps and lists become nil), the
// defaults it applies, and the fields it assigns.
func apiServerService(t *testing.T, svc *corev1.Service) *corev1.Service {
	t.Helper()
	out := roundTrip(t, svc)
	out.ResourceVersion, out.UID, out.Generation = "1001", types.UID("local-uid"), 1
	out.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "svcmirror", Operation: metav1.ManagedFieldsOperationUpdate}}
	if out.Spec.Type == "" {
		out.Spec.Type = corev1.ServiceTypeClusterIP
	}
	if out.Spec.ClusterIP == "" {
		out.Spec.ClusterIP = "10.96.12.34"
	}
	out.Spec.ClusterIPs = []string{out.Spec.ClusterIP}
	single, ipv4, cluster := corev1.IPFamilyPolicySingleStack, corev1.IPv4Protocol, corev1.ServiceInternalTrafficPolicyCluster
	out.Spec.IPFamilies, out.Spec.IPFamilyPolicy = []corev1.IPFamily{ipv4}, &single
	out.Spec.SessionAffinity, out.Spec.InternalTrafficPolicy = corev1.ServiceAffinityNone, &cluster
	for i := range out.Spec.Ports {
		p := &out.Spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == (intstr.IntOrString{}) {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	return out
}

// apiServerEndpoints is apiServerService for Endpoints.
func apiServerEndpoints(t *testing.T, ep *corev1.Endpoints) *corev1.Endpoints {
	t.Helper()
	out := roundTrip(t, ep)
	out.ResourceVersion, out.UID = "2002", types.UID("local-ep-uid")
	for i := range out.Subsets {
		for j := range out.Subsets[i].Ports {
			if out.Subsets[i].Ports[j].Protocol == "" {
				out.Subsets[i].Ports[j].Protocol = corev1.ProtocolTCP
			}
		}
	}
	return out
}

func roundTrip[T any](t *testing.T, in *T) *T {
	t.Helper()
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	out := new(T)
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	return out
}

// cmpObjects compares Kubernetes objects, treating nil and empty maps and
// slices alike (the API server does not tell them apart either).
var cmpObjects = cmp.Options{cmpopts.EquateEmpty()}

func ptr[T any](v T) *T { return &v }

// desiredWithIPs runs DesiredFor and, for a headless mirror, its second
// phase with the given endpoint-mirror ClusterIPs, so that tables can state
// the whole desired state in one value.
func desiredWithIPs(link *Link, remote RemoteState, mode Mode, gw Gateway, ips map[string]string) (*Desired, error) {
	return desiredWithIPsOut(link, remote, mode, gw, ips, Output{Endpoints: true})
}

// desiredWithIPsOut is desiredWithIPs for the endpoint objects out asks for.
func desiredWithIPsOut(link *Link, remote RemoteState, mode Mode, gw Gateway, ips map[string]string, out Output) (*Desired, error) {
	d, err := DesiredWith(link, remote, mode, gw, out)
	if err != nil || d.Headless == nil {
		return d, err
	}
	if out.Endpoints {
		d.Endpoints = d.Headless.Endpoints(ips)
	}
	d.Slices, d.Headless = d.Headless.Slices(ips), nil
	return d, nil
}

// apiServerSlice is apiServerService for EndpointSlices: the API server
// defaults a port's name to "" and its protocol to TCP.
func apiServerSlice(t *testing.T, s *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	t.Helper()
	out := roundTrip(t, s)
	out.ResourceVersion, out.UID, out.Generation = "3003", types.UID("local-slice-uid-"+types.UID(s.Name)), 1
	for i := range out.Ports {
		if out.Ports[i].Name == nil {
			out.Ports[i].Name = ptr("")
		}
		if out.Ports[i].Protocol == nil {
			out.Ports[i].Protocol = ptr(corev1.ProtocolTCP)
		}
	}
	return out
}
