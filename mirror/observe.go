package mirror

import (
	"context"
	"fmt"

	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/queue"
)

// observe gathers everything one sync of key decides from into one value.
// ready is false while the remote caches are incomplete.
//
// It reads caches only, with one exception: before a plan may delete a
// mirror because its remote Service looks gone or unexported, the remote
// API server is asked directly. A relabel between modes shows up in one
// selector's informer as a delete before the other's sees the add, and
// deleting then recreating the mirror would change its ClusterIP.
func (s *serviceSyncer) observe(ctx context.Context, key queue.Key, snap snapshot) (obs plan.Observed, ready bool, err error) {
	link := snap.Link
	obs = plan.Observed{
		Namespace: key.Namespace, Name: key.Name, Link: link,
		Gateway: s.gateway(), MayCreateNamespace: s.createNamespaces, Output: s.output,
		NamespaceExists: s.local.namespaceExists(key.Namespace),
	}
	mirrorName := plan.MirrorName(key.Name, link.TargetClusterName)
	if link.DeletionRequested {
		obs.Local = s.local.observe(key.Namespace, mirrorName, nil)
		return obs, true, nil
	}
	rc := snap.Remote
	if rc == nil || !rc.HasSynced() {
		return obs, false, nil
	}
	if svc, ok := rc.Service(key.Namespace, key.Name); ok {
		obs.Remote, obs.RemoteEndpoints = svc, rc.Endpoints(key.Namespace, key.Name)
	}
	obs.Local = s.local.observe(key.Namespace, mirrorName, plan.LocalNames(link, obs.Remote, obs.RemoteEndpoints))
	if exported(link, obs) || !mirrorsKey(obs.Local, key) {
		return obs, true, nil
	}
	live, found, err := rc.LiveService(ctx, key.Namespace, key.Name)
	if err != nil {
		return obs, false, fmt.Errorf("confirm remote Service %s/%s is gone before deleting its mirror: %w", key.Namespace, key.Name, err)
	}
	if found {
		obs.Remote, obs.RemoteEndpoints = live, rc.Endpoints(key.Namespace, key.Name)
		obs.Local = s.local.observe(key.Namespace, mirrorName, plan.LocalNames(link, obs.Remote, obs.RemoteEndpoints))
	}
	return obs, true, nil
}

func exported(link *plan.Link, obs plan.Observed) bool {
	return obs.Remote != nil && link.ModeFor(obs.Remote.Labels) != plan.ModeNone
}

// mirrorsKey reports whether any observed local object mirrors key.
func mirrorsKey(local plan.Local, key queue.Key) bool {
	is := func(ns, name string, ok bool) bool { return ok && ns == key.Namespace && name == key.Name }
	for _, svc := range local.Services {
		if is(plan.RemoteOf(svc)) {
			return true
		}
	}
	for _, ep := range local.Endpoints {
		if is(plan.RemoteOf(ep)) {
			return true
		}
	}
	for _, s := range local.Slices {
		if is(plan.RemoteOf(s)) {
			return true
		}
	}
	return false
}
