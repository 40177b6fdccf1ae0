package plan

import (
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// RemoteEndpoint is what the engine keeps of one remote endpoint (from
// EndpointSlices): whether the Service is up, which pod hostnames a headless
// Service needs an endpoint mirror for, and, for flat-mode EndpointSlices,
// the pod's addresses and ports. nodeName and targetRef are never kept: they
// name remote objects and mean nothing locally.
type RemoteEndpoint struct {
	Hostname string
	// Ready, Serving and Terminating are the remote conditions with the
	// API's defaults applied (an absent ready means ready, an absent
	// serving means ready's value, an absent terminating means false).
	Ready, Serving, Terminating bool
	// AddressType is the remote slice's (IPv4, IPv6 or FQDN).
	AddressType discoveryv1.AddressType
	Addresses   []string
	// Ports are the remote slice's, shared by every endpoint of that slice
	// (and with the remote cache): never modify them.
	Ports []discoveryv1.EndpointPort
	Zone  string
}

// RemoteState is everything known about one exported remote Service.
type RemoteState struct {
	// Service is the remote Service; DesiredFor never modifies it.
	Service *corev1.Service
	// Endpoints are all endpoints of the Service across its slices. The
	// same pod may appear more than once (one slice per IP family).
	Endpoints []RemoteEndpoint
}

// Desired is everything the engine should have in the local cluster for one
// remote Service.
type Desired struct {
	Mode    Mode
	Service *corev1.Service
	// Endpoints is nil when none should exist (remote-discovery mode).
	Endpoints *corev1.Endpoints
	// EndpointMirrors are the per-hostname mirrors of a headless Service,
	// sorted by Service name; empty otherwise.
	EndpointMirrors []EndpointMirror
	// Headless is set instead of Endpoints for a headless mirror with
	// endpoint mirrors: its Endpoints list the endpoint mirrors' ClusterIPs,
	// which the API server assigns only when it creates them, so they are
	// built in a second phase, once those IPs are known.
	Headless *HeadlessEndpoints
	// Slices are the mirror's EndpointSlices, sorted by name; nil when it
	// should have none (Output without Slices, or a flat mirror without
	// FlatEndpoints). A headless mirror's are built by Headless instead.
	Slices []*discoveryv1.EndpointSlice
}

// EndpointMirror is the Service and Endpoints standing for one pod of a
// headless remote Service, so that "<host>.<mirror>.<ns>.svc" resolves.
type EndpointMirror struct {
	Hostname  string
	Service   *corev1.Service
	Endpoints *corev1.Endpoints // nil without Output.Endpoints
	Slices    []*discoveryv1.EndpointSlice
}

// InvalidServiceError means the remote Service itself cannot be mirrored (no
// ports, a name that cannot be made valid): retrying will not help until the
// remote Service changes, so the engine reports it instead of requeueing.
type InvalidServiceError struct {
	Reason  string
	Message string
}

// Error returns the message, which names the remote Service.
func (e *InvalidServiceError) Error() string { return e.Message }

func invalidService(format string, args ...any) *InvalidServiceError {
	return &InvalidServiceError{Reason: ReasonInvalidService, Message: fmt.Sprintf(format, args...)}
}

// DesiredFor computes the local objects that mirror one remote Service under
// link in the given mode. It is pure: same inputs, same (deterministic)
// output, and the inputs are not modified.
//
// For a headless mirror with endpoint mirrors, Endpoints is nil and Headless
// builds them once the endpoint mirrors' ClusterIPs are known.
//
// Errors: a nil link or Service, or mode ModeNone, are caller bugs and return
// a plain error; a Service that cannot be mirrored returns an
// *InvalidServiceError.
//
// DesiredFor is the desired state with core/v1 Endpoints alone, Linkerd's
// contract; DesiredWith chooses the endpoint objects.
func DesiredFor(link *Link, remote RemoteState, mode Mode, gw Gateway) (*Desired, error) {
	return DesiredWith(link, remote, mode, gw, Output{Endpoints: true})
}

// DesiredWith is DesiredFor with the endpoint objects out asks for.
func DesiredWith(link *Link, remote RemoteState, mode Mode, gw Gateway, out Output) (*Desired, error) {
	svc := remote.Service
	switch {
	case link == nil:
		return nil, errors.New("mirror: DesiredFor needs a Link")
	case svc == nil:
		return nil, errors.New("mirror: DesiredFor needs a remote Service")
	case mode != ModeGateway && mode != ModeRemoteDiscovery:
		return nil, fmt.Errorf("mirror: cannot mirror %s/%s in mode %q", svc.Namespace, svc.Name, mode)
	case len(svc.Spec.Ports) == 0:
		return nil, invalidService("remote Service %s/%s has no ports; a mirror needs at least one", svc.Namespace, svc.Name)
	}
	b := &builder{link: link, remote: svc, name: MirrorName(svc.Name, link.TargetClusterName), out: out}
	if err := checkName(b.name, svc); err != nil {
		return nil, err
	}

	d := &Desired{Mode: mode, Service: b.mirrorService()}
	if mode == ModeRemoteDiscovery {
		d.Service.Labels[LabelRemoteDiscovery] = link.TargetClusterName
		d.Service.Labels[LabelRemoteService] = svc.Name
		if out.Slices && out.FlatEndpoints {
			// A headless remote with hostnames gets a headless mirror, so
			// that "<host>.<mirror>.<ns>.svc" resolves straight to the pod.
			// Any hostname counts, ready or not, so that the mirror does
			// not flip (and lose its ClusterIP) as pods flap.
			if svc.Spec.ClusterIP == corev1.ClusterIPNone && anyHostname(remote.Endpoints) {
				d.Service.Spec.ClusterIP = corev1.ClusterIPNone
			}
			d.Slices = b.flatSlices(remote.Endpoints)
		}
		return d, nil
	}

	gateway := sortedGateway(gw)
	hosts := readyHostnames(remote.Endpoints)
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || len(hosts) == 0 {
		fq := FQName(svc.Name, svc.Namespace, link.TargetClusterDomain)
		up := anyReady(remote.Endpoints)
		if out.Endpoints {
			d.Endpoints = b.gatewayEndpoints(b.name, b.endpointsLabels(nil), fq, up, gateway)
		}
		if out.Slices {
			d.Slices = b.gatewaySlices(b.name, nil, fq, up, gateway)
		}
		return d, nil
	}

	d.Service.Spec.ClusterIP = corev1.ClusterIPNone
	for _, host := range hosts {
		em, err := b.endpointMirror(host, gateway)
		if err != nil {
			return nil, err
		}
		d.EndpointMirrors = append(d.EndpointMirrors, em)
	}
	sortEndpointMirrors(d.EndpointMirrors)
	d.Headless = b.headlessEndpoints(d.EndpointMirrors)
	return d, nil
}

// checkName validates a computed mirror name. MirrorName keeps lengths in
// bounds, but a name can still be unusable (an endpoint mirror of a pod
// hostname starting with a digit); that must be reported, never written.
func checkName(name string, remote *corev1.Service) error {
	if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
		return invalidService("remote Service %s/%s: mirror name %q is not a valid Service name: %s",
			remote.Namespace, remote.Name, name, strings.Join(errs, ", "))
	}
	return nil
}

// builder holds what every object built for one remote Service shares.
type builder struct {
	link   *Link
	remote *corev1.Service
	name   string // the mirror Service's name
	out    Output
}

// mirrorService builds the mirror Service (not headless; DesiredFor makes it
// so when needed).
func (b *builder) mirrorService() *corev1.Service {
	labels := b.labels()
	annotations := copyAnnotations(b.remote.Annotations, b.link.ExcludedAnnotations)
	annotations[AnnotationRemoteSvcFQName] = FQName(b.remote.Name, b.remote.Namespace, b.link.TargetClusterDomain)
	annotations[AnnotationRemoteResourceVersion] = b.remote.ResourceVersion
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:        b.name,
			Namespace:   b.remote.Namespace,
			Labels:      labels,
			Annotations: annotations,
		},
		Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeClusterIP,
			Ports: copyPorts(b.remote.Spec.Ports),
		},
	}
}

// labels are every mirror object's labels: the remote Service's (minus
// the excluded and reserved keys), then the ownership labels. Linkerd
// copies them onto the Endpoints only when it creates them, so they go
// stale there; ours stay current on every object.
func (b *builder) labels() map[string]string {
	labels := copyLabels(b.remote.Labels, b.link.ExcludedLabels)
	for k, v := range OwnershipLabels(b.link.TargetClusterName) {
		labels[k] = v
	}
	return labels
}

// copyPorts keeps what a mirror needs of each remote port. NodePort is
// dropped: it is an allocation in the remote cluster and meaningless here.
func copyPorts(remote []corev1.ServicePort) []corev1.ServicePort {
	out := make([]corev1.ServicePort, 0, len(remote))
	for _, p := range remote {
		out = append(out, corev1.ServicePort{
			Name:        p.Name,
			Protocol:    p.Protocol,
			Port:        p.Port,
			TargetPort:  p.TargetPort,
			AppProtocol: copyString(p.AppProtocol),
		})
	}
	return out
}

func copyString(s *string) *string {
	if s == nil {
		return nil
	}
	c := *s
	return &c
}

func anyHostname(eps []RemoteEndpoint) bool {
	for _, e := range eps {
		if e.Hostname != "" {
			return true
		}
	}
	return false
}

func anyReady(eps []RemoteEndpoint) bool {
	for _, e := range eps {
		if e.Ready {
			return true
		}
	}
	return false
}
