package plan

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Observed is everything one sync of one remote Service decides from,
// gathered by the engine before planning: the plan reads nothing else.
type Observed struct {
	// Namespace and Name are the remote Service's.
	Namespace, Name string
	// Link is the Link being served; never nil. When it is being deleted
	// every mirror goes, whatever the remote holds.
	Link *Link
	// Remote is the remote Service, exported or not; nil when the remote
	// cluster has none of that name.
	Remote *corev1.Service
	// RemoteEndpoints are the remote Service's endpoints across its slices.
	RemoteEndpoints []RemoteEndpoint
	// Gateway is the current gateway set.
	Gateway Gateway
	// Output chooses the endpoint objects mirrors get (DefaultOutput in
	// the daemon unless its flags say otherwise).
	Output Output
	// NamespaceExists says whether the local namespace exists;
	// MayCreateNamespace whether the engine may create it.
	NamespaceExists, MayCreateNamespace bool
	// Local holds, by name, the cached local objects of this link in the
	// Service's namespace that the plan may touch: those at every name
	// LocalNames gives, and every endpoint mirror labelled as this
	// Service's mirror's. Objects without this link's ownership labels are
	// never cached, so they appear only as conflicts at write time.
	Local Local
}

// Local is the cached local state for one remote Service. Services and
// Endpoints are keyed by name; Slices by slice name, holding this link's
// slices whose kubernetes.io/service-name is any of the Services' names.
type Local struct {
	Services  map[string]*corev1.Service
	Endpoints map[string]*corev1.Endpoints
	Slices    map[string]*discoveryv1.EndpointSlice
	// Owned has the owned-field digests of the objects above that came
	// from the caches' compact forms, which keep identity, ownership marks
	// and that digest, not the fields (see OwnedDigest).
	Owned Digests
}

// slicesOf returns the cached slices of the local Service service that
// mirror the remote object fq, by name.
func (l Local) slicesOf(service, fq string) map[string]*discoveryv1.EndpointSlice {
	out := map[string]*discoveryv1.EndpointSlice{}
	for name, s := range l.Slices {
		if s.Labels[discoveryv1.LabelServiceName] == service && s.Annotations[AnnotationRemoteSvcFQName] == fq {
			out[name] = s
		}
	}
	return out
}

// LocalNames returns the local object names the desired state for remote
// may use: the mirror's and, for a headless Service, one endpoint mirror's
// per ready hostname. The engine looks these up before planning.
func LocalNames(link *Link, remote *corev1.Service, endpoints []RemoteEndpoint) []string {
	if remote == nil {
		return nil
	}
	names := []string{MirrorName(remote.Name, link.TargetClusterName)}
	if remote.Spec.ClusterIP == corev1.ClusterIPNone {
		for _, host := range readyHostnames(endpoints) {
			names = append(names, MirrorName(host, link.TargetClusterName))
		}
	}
	return names
}

// Kind is the kind of a local object a Change is about.
type Kind string

const (
	KindService       Kind = "Service"
	KindEndpoints     Kind = "Endpoints"
	KindEndpointSlice Kind = "EndpointSlice"
)

// Change is one write. Object is a *corev1.Service, *corev1.Endpoints or
// *discoveryv1.EndpointSlice:
// the object to create for Create and Recreate, the updated copy of the
// existing object for Update, the existing object for Delete. Recreate
// deletes Existing first.
type Change struct {
	Action   Action
	Kind     Kind
	Object   metav1.Object
	Existing metav1.Object
}

// Name is the changed object's name, for logs.
func (c Change) Name() string { return c.Object.GetName() }

// Outcome is what a plan does for its remote Service as a whole.
type Outcome string

const (
	// OutcomeMirrored: the Service is mirrored in Plan.Mode once the
	// changes are applied.
	OutcomeMirrored Outcome = "Mirrored"
	// OutcomeRemoved: the Service is not exported (or the Link is being
	// deleted); the changes remove whatever was mirrored of it.
	OutcomeRemoved Outcome = "Removed"
	// OutcomeSkipped: the Service cannot be mirrored now; Skip says why
	// and nothing is written.
	OutcomeSkipped Outcome = "Skipped"
)

// Skip says why a Service is not mirrored.
type Skip struct {
	Reason  string // ReasonMissingNamespace, ReasonConflict or ReasonInvalidService
	Message string
}

func (s *Skip) Error() string { return s.Message }

// Plan is what one sync writes, in two phases.
type Plan struct {
	Outcome Outcome
	Mode    Mode
	// MirrorName is the mirror Service's name, for reports.
	MirrorName string
	Skip       *Skip
	// CreateNamespace asks for the local namespace to be created first.
	CreateNamespace bool
	// Changes are the first phase, in order.
	Changes []Change
	// Headless, when set, is the second phase: the headless mirror's
	// Endpoints, which depend on the ClusterIPs the API server assigns to
	// the endpoint mirrors the first phase creates.
	Headless *HeadlessPhase
}

// HeadlessPhase is the second phase of a headless mirror's plan.
type HeadlessPhase struct {
	Desired *HeadlessEndpoints
	// Existing is the cached headless Endpoints, nil when there are none.
	Existing *corev1.Endpoints
	// ExistingSlices are the headless mirror's cached slices, by name.
	ExistingSlices map[string]*discoveryv1.EndpointSlice
	// ClusterIPs are the endpoint mirrors' ClusterIPs known from the cache,
	// by Service name; the first phase's creates add theirs.
	ClusterIPs map[string]string
	// Owned has the digests of the existing objects' owned fields, as in
	// Local.
	Owned Digests
}

// Changes returns the writes the headless Endpoints and EndpointSlices
// need, given the endpoint mirrors' ClusterIPs after the first phase; none
// when they are already right.
func (h *HeadlessPhase) Changes(clusterIPs map[string]string) []Change {
	p := &Plan{}
	var desired *corev1.Endpoints
	if h.Desired.Output.Endpoints {
		desired = h.Desired.Endpoints(clusterIPs)
	}
	p.add(endpointsChange(desired, h.Existing, h.Owned))
	p.Changes = append(p.Changes, sliceChanges(h.Desired.Slices(clusterIPs), h.ExistingSlices, h.Owned)...)
	return p.Changes
}

// Make plans one sync: it compares the desired state for the observed
// remote Service with the observed local objects and lists the writes that
// make them match. It is pure; see the package doc for the decision table.
func Make(o Observed) *Plan {
	name := MirrorName(o.Name, o.Link.TargetClusterName)
	fq := FQName(o.Name, o.Namespace, o.Link.TargetClusterDomain)
	mode := ModeNone
	if o.Remote != nil && !o.Link.DeletionRequested {
		mode = o.Link.ModeFor(o.Remote.Labels)
	}
	p := &Plan{Mode: mode, MirrorName: name}
	if mode == ModeNone {
		p.Outcome = OutcomeRemoved
		p.Changes = removals(o, name, fq)
		return p
	}
	skip := func(reason, format string, args ...any) *Plan {
		p.Outcome, p.Changes = OutcomeSkipped, nil
		p.Skip = &Skip{Reason: reason, Message: fmt.Sprintf(format, args...)}
		return p
	}
	if !o.NamespaceExists {
		if !o.MayCreateNamespace {
			return skip(ReasonMissingNamespace, "namespace %q does not exist in the local cluster", o.Namespace)
		}
		p.CreateNamespace = true
	}
	desired, err := DesiredWith(o.Link, RemoteState{Service: o.Remote, Endpoints: o.RemoteEndpoints}, mode, o.Gateway, o.Output)
	if err != nil {
		if inv, ok := err.(*InvalidServiceError); ok {
			return skip(inv.Reason, "%s", inv.Message)
		}
		return skip(ReasonInvalidService, "%v", err)
	}
	p.Outcome = OutcomeMirrored

	// Endpoint mirrors first: the headless mirror's Endpoints point at
	// their ClusterIPs.
	keep := map[string]bool{}
	ips := map[string]string{}
	for _, em := range desired.EndpointMirrors {
		keep[em.Service.Name] = true
		svc, ep := o.Local.Services[em.Service.Name], o.Local.Endpoints[em.Service.Name]
		if why := conflict(svc, o.Link.TargetClusterName, em.Service.Annotations[AnnotationRemoteSvcFQName]); why != "" {
			return skip(ReasonConflict, "Service %s/%s already exists and %s; leaving it alone", o.Namespace, em.Service.Name, why)
		}
		if svc != nil {
			ips[svc.Name] = svc.Spec.ClusterIP
		}
		emFQ := em.Service.Annotations[AnnotationRemoteSvcFQName]
		p.add(serviceChange(em.Service, svc, o.Local.Owned))
		p.add(endpointsChange(em.Endpoints, ours(ep, emFQ), o.Local.Owned))
		p.Changes = append(p.Changes, sliceChanges(em.Slices, o.Local.slicesOf(em.Service.Name, emFQ), o.Local.Owned)...)
	}
	p.Changes = append(p.Changes, staleEndpointMirrors(o, name, keep)...)

	svc := o.Local.Services[name]
	if why := conflict(svc, o.Link.TargetClusterName, fq); why != "" {
		return skip(ReasonConflict, "Service %s/%s already exists and %s; leaving it alone", o.Namespace, name, why)
	}
	ep := o.Local.Endpoints[name]
	if why := conflict(ep, o.Link.TargetClusterName, fq); why != "" {
		return skip(ReasonConflict, "Endpoints %s/%s already exist and %s; leaving them alone", o.Namespace, name, why)
	}
	p.add(serviceChange(desired.Service, svc, o.Local.Owned))
	existingSlices := o.Local.slicesOf(name, fq)
	switch {
	case desired.Headless != nil:
		p.Headless = &HeadlessPhase{Desired: desired.Headless, Existing: ep, ExistingSlices: existingSlices, ClusterIPs: ips,
			Owned: o.Local.Owned}
		return p
	case desired.Endpoints != nil:
		p.add(endpointsChange(desired.Endpoints, ep, o.Local.Owned))
	case ep != nil:
		// Remote-discovery mirrors have no Endpoints, nor mirrors written
		// with EndpointSlices alone.
		p.add(Change{Action: ActionDelete, Kind: KindEndpoints, Object: ep})
	}
	p.Changes = append(p.Changes, sliceChanges(desired.Slices, existingSlices, o.Local.Owned)...)
	return p
}

// add appends c unless it is no change. A conflict cannot reach it: the
// objects a plan sees are cached by the ownership labels, and conflicts
// of name are found before.
func (p *Plan) add(c Change) {
	if c.Action != ActionNone && c.Action != ActionConflict {
		p.Changes = append(p.Changes, c)
	}
}

// sliceChanges brings one Service's slices from existing (ours, by name)
// to desired: creates and updates first, so that kube-proxy never sees
// fewer endpoints than either state has, then deletes of the slices no
// longer wanted.
func sliceChanges(desired []*discoveryv1.EndpointSlice, existing map[string]*discoveryv1.EndpointSlice, owned Digests) []Change {
	p := &Plan{}
	wanted := map[string]bool{}
	for _, d := range desired {
		wanted[d.Name] = true
		action, obj := planSlice(d, existing[d.Name], owned)
		c := Change{Action: action, Kind: KindEndpointSlice, Object: obj}
		if action == ActionRecreate {
			c.Existing = existing[d.Name]
		}
		p.add(c)
	}
	for _, s := range sortedValues(existing) {
		if !wanted[s.Name] {
			p.add(Change{Action: ActionDelete, Kind: KindEndpointSlice, Object: s})
		}
	}
	return p.Changes
}

func serviceChange(desired, existing *corev1.Service, owned Digests) Change {
	action, obj := planService(desired, existing, owned)
	c := Change{Action: action, Kind: KindService}
	switch action {
	case ActionNone:
	case ActionRecreate:
		c.Object, c.Existing = obj, existing
	default:
		c.Object = obj
	}
	return c
}

func endpointsChange(desired, existing *corev1.Endpoints, owned Digests) Change {
	action, obj := planEndpoints(desired, existing, owned)
	return Change{Action: action, Kind: KindEndpoints, Object: obj}
}

// removals deletes everything mirrored of one remote Service: its
// endpoint mirrors, then its Endpoints and Service. Objects mirroring
// another remote Service are left alone.
func removals(o Observed, name, fq string) []Change {
	out := staleEndpointMirrors(o, name, nil)
	out = append(out, sliceChanges(nil, o.Local.slicesOf(name, fq), nil)...)
	if ep := ours(o.Local.Endpoints[name], fq); ep != nil {
		out = append(out, Change{Action: ActionDelete, Kind: KindEndpoints, Object: ep})
	}
	if svc := ours(o.Local.Services[name], fq); svc != nil {
		out = append(out, Change{Action: ActionDelete, Kind: KindService, Object: svc})
	}
	return out
}

// staleEndpointMirrors deletes this Service's endpoint mirrors whose names
// are not in keep (all of them when keep is nil), Endpoints first.
func staleEndpointMirrors(o Observed, mirrorName string, keep map[string]bool) []Change {
	var out []Change
	for _, svc := range sortedValues(o.Local.Services) {
		if keep[svc.Name] || svc.Labels[LabelHeadlessMirrorSvcName] != mirrorName {
			continue
		}
		ns, remoteName, ok := RemoteOf(svc)
		if !ok || ns != o.Namespace || remoteName != o.Name {
			continue // another remote Service's endpoint mirror
		}
		out = append(out, sliceChanges(nil, o.Local.slicesOf(svc.Name, svc.Annotations[AnnotationRemoteSvcFQName]), nil)...)
		if ep := o.Local.Endpoints[svc.Name]; ep != nil {
			out = append(out, Change{Action: ActionDelete, Kind: KindEndpoints, Object: ep})
		}
		out = append(out, Change{Action: ActionDelete, Kind: KindService, Object: svc})
	}
	return out
}
