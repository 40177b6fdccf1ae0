package plan

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// planCase is one line of Make's decision table.
type planCase struct {
	name     string
	link     *Link
	remote   *corev1.Service // nil: the remote has no such Service
	eps      []RemoteEndpoint
	local    []any // *corev1.Service and *corev1.Endpoints in the local cache
	noNS     bool  // the local namespace is missing
	createNS bool  // the engine may create it
	// want
	outcome  Outcome
	reason   string // Skip.Reason when skipped
	changes  []string
	createNs bool
	// phase2 is the second phase's changes given phase2IPs, "" for none.
	phase2    string
	phase2IPs map[string]string
	// output is the endpoint objects asked for; nil means Endpoints alone.
	output *Output
	// gw is the gateway set; nil means liveGW.
	gw *Gateway
}

// stored is what the local cache holds once the desired objects for remote
// were written and read back from the API server, with ClusterIPs.
func stored(t *testing.T, remote *corev1.Service, eps []RemoteEndpoint, mode Mode, ips map[string]string) []any {
	t.Helper()
	return storedWith(t, Output{Endpoints: true}, remote, eps, mode, ips)
}

// storedWith is stored for the endpoint objects out asks for.
func storedWith(t *testing.T, output Output, remote *corev1.Service, eps []RemoteEndpoint, mode Mode, ips map[string]string) []any {
	t.Helper()
	d, err := desiredWithIPsOut(testLink(), RemoteState{Service: remote, Endpoints: eps}, mode, liveGW, ips, output)
	if err != nil {
		t.Fatal(err)
	}
	var slices []any
	for _, s := range d.Slices {
		slices = append(slices, apiServerSlice(t, s))
	}
	for _, em := range d.EndpointMirrors {
		for _, s := range em.Slices {
			slices = append(slices, apiServerSlice(t, s))
		}
	}
	svc := apiServerService(t, d.Service)
	if ip, ok := ips[svc.Name]; ok {
		svc.Spec.ClusterIP = ip
	}
	out := []any{svc}
	if d.Endpoints != nil {
		out = append(out, apiServerEndpoints(t, d.Endpoints))
	}
	for _, em := range d.EndpointMirrors {
		s := apiServerService(t, em.Service)
		s.Spec.ClusterIP = ips[s.Name]
		out = append(out, s)
		if em.Endpoints != nil {
			out = append(out, apiServerEndpoints(t, em.Endpoints))
		}
	}
	return append(out, slices...)
}

func TestMakeFollowsTheDecisionTable(t *testing.T) {
	web := remoteService("web")
	rd := remoteService("web", withLabels(map[string]string{"mirror.linkerd.io/exported": "remote-discovery"}))
	db := remoteService("db", headless())
	pods := []RemoteEndpoint{{Hostname: "db-0", Ready: true}, {Hostname: "db-1", Ready: true}}
	dbIPs := map[string]string{"db-0-east": "10.96.0.10", "db-1-east": "10.96.0.11", "db-east": "None"}
	drifted := func() []any {
		objs := stored(t, web, ready, ModeGateway, nil)
		objs[0].(*corev1.Service).Labels["edited"] = "by hand"
		return objs
	}
	otherRemote := func() []any {
		objs := stored(t, web, ready, ModeGateway, nil)
		objs[0].(*corev1.Service).Annotations[AnnotationRemoteSvcFQName] = "web-east.prod.svc.cluster.local"
		return objs[:1]
	}
	foreign := localService("web-east") // no ownership labels

	cases := []planCase{
		{name: "an exported Service without a mirror gets its Service and Endpoints created",
			remote: web, eps: ready, outcome: OutcomeMirrored,
			changes: []string{"Create Service web-east", "Create Endpoints web-east"}},
		{name: "a mirror already right needs no change",
			remote: web, eps: ready, local: stored(t, web, ready, ModeGateway, nil), outcome: OutcomeMirrored},
		{name: "a mirror Service edited by someone else is updated",
			remote: web, eps: ready, local: drifted(), outcome: OutcomeMirrored,
			changes: []string{"Update Service web-east"}},
		{name: "a missing namespace is a skip with no write",
			remote: web, eps: ready, noNS: true, outcome: OutcomeSkipped, reason: ReasonMissingNamespace},
		{name: "a missing namespace is created first when allowed",
			remote: web, eps: ready, noNS: true, createNS: true, outcome: OutcomeMirrored, createNs: true,
			changes: []string{"Create Service web-east", "Create Endpoints web-east"}},
		{name: "an object of ours mirroring another remote Service is a conflict",
			remote: web, eps: ready, local: otherRemote(), outcome: OutcomeSkipped, reason: ReasonConflict},
		{name: "an object without the ownership labels is a conflict",
			remote: web, eps: ready, local: []any{foreign}, outcome: OutcomeSkipped, reason: ReasonConflict},
		{name: "a remote Service that cannot be mirrored is an InvalidService skip",
			remote: remoteService("web", withPorts()), eps: ready, outcome: OutcomeSkipped, reason: ReasonInvalidService},
		{name: "gateway to remote-discovery updates the Service and deletes its Endpoints",
			remote: rd, eps: ready, local: stored(t, web, ready, ModeGateway, nil), outcome: OutcomeMirrored,
			changes: []string{"Update Service web-east", "Delete Endpoints web-east"}},
		{name: "remote-discovery to gateway updates the Service and creates Endpoints",
			remote: web, eps: ready, local: stored(t, rd, ready, ModeRemoteDiscovery, nil), outcome: OutcomeMirrored,
			changes: []string{"Update Service web-east", "Create Endpoints web-east"}},
		{name: "a new headless Service creates endpoint mirrors, then its Endpoints from their ClusterIPs",
			remote: db, eps: pods, outcome: OutcomeMirrored,
			changes: []string{"Create Service db-0-east", "Create Endpoints db-0-east",
				"Create Service db-1-east", "Create Endpoints db-1-east", "Create Service db-east"},
			phase2: "Create Endpoints db-east 10.96.0.10=db-0,10.96.0.11=db-1", phase2IPs: dbIPs},
		{name: "a headless mirror already right needs no change in either phase",
			remote: db, eps: pods, local: stored(t, db, pods, ModeGateway, dbIPs), outcome: OutcomeMirrored, phase2IPs: dbIPs},
		{name: "a hostname that went away loses its endpoint mirror and its address",
			remote: db, eps: pods[:1], local: stored(t, db, pods, ModeGateway, dbIPs), outcome: OutcomeMirrored,
			changes: []string{"Delete Endpoints db-1-east", "Delete Service db-1-east"},
			phase2:  "Update Endpoints db-east 10.96.0.10=db-0", phase2IPs: dbIPs},
		{name: "headless to ClusterIP recreates the Service and drops the endpoint mirrors",
			remote: remoteService("db"), eps: pods, local: stored(t, db, pods, ModeGateway, dbIPs), outcome: OutcomeMirrored,
			changes: []string{"Delete Endpoints db-0-east", "Delete Service db-0-east", "Delete Endpoints db-1-east",
				"Delete Service db-1-east", "Recreate Service db-east", "Update Endpoints db-east"}},
		{name: "a remote Service gone removes its Endpoints, then its Service",
			local: stored(t, web, ready, ModeGateway, nil), outcome: OutcomeRemoved,
			changes: []string{"Delete Endpoints web-east", "Delete Service web-east"}},
		{name: "an unexported remote Service is removed like a deleted one",
			remote: remoteService("web", withLabels(nil)), local: stored(t, web, ready, ModeGateway, nil), outcome: OutcomeRemoved,
			changes: []string{"Delete Endpoints web-east", "Delete Service web-east"}},
		{name: "a headless mirror is removed with its endpoint mirrors first",
			local: stored(t, db, pods, ModeGateway, dbIPs), outcome: OutcomeRemoved,
			changes: []string{"Delete Endpoints db-0-east", "Delete Service db-0-east", "Delete Endpoints db-1-east",
				"Delete Service db-1-east", "Delete Endpoints db-east", "Delete Service db-east"}},
		{name: "removal never touches an object mirroring another remote Service",
			local: otherRemote(), outcome: OutcomeRemoved},
		{name: "nothing on either side is nothing to do", outcome: OutcomeRemoved},
		{name: "a Link being deleted removes mirrors of Services still exported",
			link: testLink(func(l *Link) { l.DeletionRequested = true }), remote: web, eps: ready,
			local: stored(t, web, ready, ModeGateway, nil), outcome: OutcomeRemoved,
			changes: []string{"Delete Endpoints web-east", "Delete Service web-east"}},
	}
	runPlanCases(t, cases)
}

func runPlanCases(t *testing.T, cases []planCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := observedFor(c)
			p := Make(o)
			if p.Outcome != c.outcome {
				t.Fatalf("outcome = %s, want %s (skip %+v)", p.Outcome, c.outcome, p.Skip)
			}
			gotReason := ""
			if p.Skip != nil {
				gotReason = p.Skip.Reason
				if p.Skip.Message == "" {
					t.Error("a skip must say why")
				}
			}
			if gotReason != c.reason {
				t.Errorf("skip reason = %q, want %q", gotReason, c.reason)
			}
			if diff := cmp.Diff(c.changes, describe(p.Changes)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if p.CreateNamespace != c.createNs {
				t.Errorf("CreateNamespace = %v, want %v", p.CreateNamespace, c.createNs)
			}
			got := ""
			if p.Headless != nil {
				ips := map[string]string{}
				for k, v := range p.Headless.ClusterIPs {
					ips[k] = v
				}
				for k, v := range c.phase2IPs {
					ips[k] = v
				}
				var parts []string
				for _, ch := range p.Headless.Changes(ips) {
					parts = append(parts, describeWithAddresses(ch))
				}
				got = strings.Join(parts, "; ")
			}
			if got != c.phase2 {
				t.Errorf("second phase = %q, want %q", got, c.phase2)
			}
		})
	}
}

func observedFor(c planCase) Observed {
	link := c.link
	if link == nil {
		link = testLink()
	}
	out := Output{Endpoints: true}
	if c.output != nil {
		out = *c.output
	}
	o := Observed{Namespace: testNS, Name: "web", Link: link, Remote: c.remote, RemoteEndpoints: c.eps,
		Gateway: liveGW, NamespaceExists: !c.noNS, MayCreateNamespace: c.createNS, Output: out,
		Local: Local{Services: map[string]*corev1.Service{}, Endpoints: map[string]*corev1.Endpoints{}, Slices: map[string]*discoveryv1.EndpointSlice{}}}
	if c.gw != nil {
		o.Gateway = *c.gw
	}
	if c.remote != nil {
		o.Name = c.remote.Name
	} else if len(c.local) > 0 {
		ns, name, _ := RemoteOf(c.local[0].(*corev1.Service))
		o.Namespace, o.Name = ns, name
	}
	for _, obj := range c.local {
		switch obj := obj.(type) {
		case *corev1.Service:
			o.Local.Services[obj.Name] = obj
		case *corev1.Endpoints:
			o.Local.Endpoints[obj.Name] = obj
		case *discoveryv1.EndpointSlice:
			o.Local.Slices[obj.Name] = obj
		}
	}
	return o
}

// describeWithAddresses is describeOne with the addresses an Endpoints or
// EndpointSlice change writes.
func describeWithAddresses(c Change) string {
	switch obj := c.Object.(type) {
	case *corev1.Endpoints:
		return describeOne(c) + " " + addresses(obj)
	case *discoveryv1.EndpointSlice:
		return describeOne(c) + " " + sliceAddresses(obj)
	}
	return describeOne(c)
}

// sliceAddresses lists a slice's endpoints as "ip=hostname" with "!" for
// a not-ready one.
func sliceAddresses(s *discoveryv1.EndpointSlice) string {
	var parts []string
	for _, e := range s.Endpoints {
		p := strings.Join(e.Addresses, "+") + "=" + deref(e.Hostname)
		if e.Conditions.Ready != nil && !*e.Conditions.Ready {
			p += "!"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ",")
}

func describe(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, describeOne(c))
	}
	return out
}

func describeOne(c Change) string { return c.Action.String() + " " + string(c.Kind) + " " + c.Name() }

func addresses(ep *corev1.Endpoints) string {
	s := ""
	for _, sub := range ep.Subsets {
		for _, a := range sub.Addresses {
			if s != "" {
				s += ","
			}
			s += a.IP + "=" + a.Hostname
		}
	}
	return s
}

// TestMakeNeverModifiesWhatItObserved guards the cache: plans are built from
// objects the informers share, so a plan must copy before it changes.
func TestMakeNeverModifiesWhatItObserved(t *testing.T) {
	db := remoteService("db", headless())
	pods := []RemoteEndpoint{{Hostname: "db-0", Ready: true}}
	local := stored(t, db, pods, ModeGateway, map[string]string{"db-0-east": "10.96.0.10"})
	local[0].(*corev1.Service).Labels["edited"] = "by hand"
	c := planCase{remote: remoteService("db"), eps: pods, local: local}
	before := observedFor(c)
	copies := observedFor(planCase{remote: remoteService("db"), eps: pods, local: deepCopies(local)})
	Make(before)
	if diff := cmp.Diff(copies.Local, before.Local); diff != "" {
		t.Fatalf("Make modified the observed local objects (-before +after):\n%s", diff)
	}
}

func deepCopies(objs []any) []any {
	out := make([]any, len(objs))
	for i, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			out[i] = o.DeepCopy()
		case *corev1.Endpoints:
			out[i] = o.DeepCopy()
		case *discoveryv1.EndpointSlice:
			out[i] = o.DeepCopy()
		}
	}
	return out
}
