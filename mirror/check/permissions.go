package check

import (
	"slices"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
)

// permission is one verb on one resource of one API group, optionally
// limited to one object name.
type permission struct {
	group, resource, verb, name string
}

// String reads like kubectl's resource names: "watch
// endpointslices.discovery.k8s.io", "create serviceaccounts/token
// (svcmirror-remote-reader)".
func (p permission) String() string {
	s := p.verb + " " + p.resource
	if p.group != "" {
		s += "." + p.group
	}
	if p.name != "" {
		s += " (" + p.name + ")"
	}
	return s
}

// requiredRemote is what the daemon does on the target cluster: Service
// informers (list, watch), a live LIST of a Service by name before deleting
// its mirror (remote.Cluster.LiveService), and an EndpointSlice informer.
// Nothing else.
var requiredRemote = []permission{
	{group: "", resource: "services", verb: "list"},
	{group: "", resource: "services", verb: "watch"},
	{group: "discovery.k8s.io", resource: "endpointslices", verb: "list"},
	{group: "discovery.k8s.io", resource: "endpointslices", verb: "watch"},
}

// tokenRenewal is the permission to renew the daemon's own token, needed
// only for expiring tokens; its name is the token's ServiceAccount.
func tokenRenewal(serviceAccount string) permission {
	return permission{group: "", resource: "serviceaccounts/token", verb: "create", name: serviceAccount}
}

// everyoneMay are rules every authenticated user holds through the default
// system:basic-user ClusterRole: they are no excess of the Link's.
var everyoneMay = []permission{
	{group: "authorization.k8s.io", resource: "selfsubjectaccessreviews", verb: "create"},
	{group: "authorization.k8s.io", resource: "selfsubjectrulesreviews", verb: "create"},
	{group: "authentication.k8s.io", resource: "selfsubjectreviews", verb: "create"},
}

// allows reports whether rules grant p, with RBAC's own matching: "*"
// matches any group, resource or verb, "*/<sub>" any resource's
// subresource, and an empty resourceNames any name. A rule limited to names
// grants a permission limited to one of them.
func allows(rules []authorizationv1.ResourceRule, p permission) bool {
	for _, r := range rules {
		if matches(r.APIGroups, p.group) && matches(r.Verbs, p.verb) && resourceMatches(r.Resources, p.resource) &&
			(len(r.ResourceNames) == 0 || (p.name != "" && slices.Contains(r.ResourceNames, p.name))) {
			return true
		}
	}
	return false
}

func matches(list []string, want string) bool {
	return slices.Contains(list, "*") || slices.Contains(list, want)
}

func resourceMatches(list []string, want string) bool {
	if matches(list, want) {
		return true
	}
	if _, sub, ok := strings.Cut(want, "/"); ok {
		return slices.Contains(list, "*/"+sub)
	}
	return false
}

// missing returns the permissions of want that rules do not grant.
func missing(rules []authorizationv1.ResourceRule, want []permission) []permission {
	var out []permission
	for _, p := range want {
		if !allows(rules, p) {
			out = append(out, p)
		}
	}
	return out
}

// extra describes every grant in rules beyond allowed, one entry per verb
// and resource of a rule, e.g. "delete services" or "* *.*" for a
// cluster-admin token. A grant is extra unless it is exactly one of
// allowed's: a wildcard is extra even when it also covers what is needed.
func extra(rules []authorizationv1.ResourceRule, allowed []permission) []string {
	var out []string
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					if grantAllowed(g, res, v, r.ResourceNames, allowed) {
						continue
					}
					s := permission{group: g, resource: res, verb: v, name: strings.Join(r.ResourceNames, ",")}.String()
					if !slices.Contains(out, s) {
						out = append(out, s)
					}
				}
			}
		}
	}
	return out
}

// grantAllowed reports whether one grant (verb on group/resource, names)
// is within allowed. A grant limited to names is within an allowed
// permission for one of those names, or for any name.
func grantAllowed(group, resource, verb string, names []string, allowed []permission) bool {
	for _, a := range allowed {
		if a.group != group || a.resource != resource || a.verb != verb {
			continue
		}
		if a.name == "" || (len(names) > 0 && !slices.ContainsFunc(names, func(n string) bool { return n != a.name })) {
			return true
		}
	}
	return false
}

// joinPermissions lists permissions for a detail line.
func joinPermissions(ps []permission) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
