package mirror

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/queue"
	"github.com/svcmirror/svcmirror/remote"
)

// syncService brings everything mirrored from one remote Service up to
// date: read current state from caches, compute the desired state with pure
// functions, diff, then write only what differs.
func (e *Engine) syncService(ctx context.Context, key queue.Key) error {
	link := e.currentLink()
	if link == nil {
		return nil
	}
	rc := e.currentRemote()
	mode, remoteSvc := ModeNone, (*corev1.Service)(nil)
	if !link.DeletionRequested {
		if rc == nil || !rc.HasSynced() {
			// Nothing can be concluded from an incomplete cache; every key
			// is queued again when it syncs.
			return nil
		}
		if svc, ok := rc.Service(key.Namespace, key.Name); ok {
			remoteSvc, mode = svc, link.ModeFor(svc.Labels)
		}
	}

	cause := causeRepair
	e.seenMu.Lock()
	seenAt, fromRemote := e.seen[key]
	delete(e.seen, key)
	e.seenMu.Unlock()
	if fromRemote {
		cause = causeRemoteChange
	}

	s := &serviceSync{e: e, key: key, link: link, cause: cause, name: MirrorName(key.Name, e.cluster),
		fq: FQName(key.Name, key.Namespace, link.TargetClusterDomain)}
	if mode == ModeNone && !link.DeletionRequested && s.hasMirror() {
		// Confirm with the API server before deleting: see LiveService.
		live, found, err := rc.LiveService(ctx, key.Namespace, key.Name)
		if err != nil {
			return fmt.Errorf("confirm remote Service %s/%s is gone before deleting its mirror: %w", key.Namespace, key.Name, err)
		}
		if found {
			remoteSvc, mode = live, link.ModeFor(live.Labels)
		}
	}
	var err error
	if mode == ModeNone {
		err = s.removeAll(ctx)
		if err == nil && e.report.gone(key) {
			e.statusChanged()
		}
	} else {
		err = s.mirror(ctx, remoteSvc, mode, rc.Endpoints(key.Namespace, key.Name))
	}

	klog.FromContext(ctx).V(4).Info("Synced remote Service", "service", klog.KRef(key.Namespace, key.Name), "mode", string(mode), "mirror", s.name, "writes", s.writes, "cause", cause, "err", err)
	if s.writes == 0 && err == nil && e.cfg.Metrics != nil {
		e.cfg.Metrics.NoopSync()
	}
	if s.writes > 0 && fromRemote && err == nil && e.cfg.Metrics != nil {
		e.cfg.Metrics.Propagated(time.Since(seenAt))
	}
	return e.classify(ctx, s, err)
}

// classify reports failures and turns them into the queue's verdicts.
func (e *Engine) classify(ctx context.Context, s *serviceSync, err error) error {
	if err == nil {
		return nil
	}
	if c, ok := isConflict(err); ok {
		e.fail(ctx, s.key, s.name, ReasonConflict, c.Error())
		return queue.RetryAfter(err, e.cfg.ConflictRetry)
	}
	if inv, ok := err.(*InvalidServiceError); ok {
		e.fail(ctx, s.key, s.name, inv.Reason, inv.Message)
		return queue.Permanent(err)
	}
	return err
}

// fail records why a Service is not mirrored; a new reason is logged and
// sent as an Event on the Link once.
func (e *Engine) fail(ctx context.Context, key queue.Key, mirrorName, reason, msg string) {
	if !e.report.failed(key, failure{Reason: reason, Message: msg, MirrorName: mirrorName, Since: metav1.Now()}) {
		return
	}
	klog.FromContext(ctx).Info("Service not mirrored", "service", klog.KRef(key.Namespace, key.Name), "reason", reason, "detail", msg)
	e.mu.RLock()
	obj := e.linkObj
	e.mu.RUnlock()
	if obj != nil {
		e.events.Eventf(linkRef(obj), corev1.EventTypeWarning, reason, "Service %s/%s not mirrored: %s", key.Namespace, key.Name, msg)
	}
	e.statusChanged()
}

// statusChanged asks for a Link status write, at most one per statusDelay.
func (e *Engine) statusChanged() { e.queue.AddAfter(e.linkKey(), statusDelay) }

// serviceSync is one sync of one remote Service.
type serviceSync struct {
	e      *Engine
	key    queue.Key
	link   *Link
	cause  string
	name   string // the mirror Service's name
	fq     string // the remote-svc-fq-name every object of ours for this key carries
	writes int
}

// ours returns obj if it is this key's mirror object, else nil: an
// object at the mirror's name mirroring another remote Service is not ours
// to touch.
func ours[T interface {
	metav1.Object
	comparable
}](obj T, fq string) T {
	var zero T
	if obj == zero || obj.GetAnnotations()[AnnotationRemoteSvcFQName] != fq {
		return zero
	}
	return obj
}

// hasMirror reports whether any object of this key's mirror exists.
func (s *serviceSync) hasMirror() bool {
	ns := s.key.Namespace
	if ours(s.e.svcW.get(ns, s.name), s.fq) != nil || ours(s.e.epW.get(ns, s.name), s.fq) != nil {
		return true
	}
	objs, _ := s.e.services.GetIndexer().ByIndex(headlessParentIndex, ns+"/"+s.name)
	return len(objs) > 0
}

// removeAll deletes the mirror, its Endpoints and its endpoint mirrors.
func (s *serviceSync) removeAll(ctx context.Context) error {
	if err := s.removeEndpointMirrors(ctx, nil); err != nil {
		return err
	}
	ns := s.key.Namespace
	if ep := ours(s.e.epW.get(ns, s.name), s.fq); ep != nil {
		if err := s.do(s.e.epW.apply(ctx, ActionDelete, nil, ep, s.cause)); err != nil {
			return err
		}
	}
	if svc := ours(s.e.svcW.get(ns, s.name), s.fq); svc != nil {
		return s.do(s.e.svcW.apply(ctx, ActionDelete, nil, svc, s.cause))
	}
	return nil
}

// mirror makes the local objects match the remote Service.
func (s *serviceSync) mirror(ctx context.Context, remoteSvc *corev1.Service, mode Mode, endpoints []remoteEndpoint) error {
	e, ns := s.e, s.key.Namespace
	if ok, err := s.ensureNamespace(ctx); !ok || err != nil {
		return err
	}
	state := RemoteState{Service: remoteSvc, Endpoints: toRemoteEndpoints(endpoints)}
	gw := e.currentGateway()
	ips := e.endpointMirrorIPs(ns, s.name)
	desired, err := DesiredFor(s.link, state, mode, gw, ips)
	if err != nil {
		return err
	}

	// Endpoint mirrors first: the headless mirror's Endpoints point at
	// their ClusterIPs, which the API server assigns on create.
	keep := map[string]bool{}
	ipsChanged := false
	for _, em := range desired.EndpointMirrors {
		keep[em.Service.Name] = true
		existing := e.svcW.get(ns, em.Service.Name)
		if existing != nil && existing.Annotations[AnnotationRemoteSvcFQName] != em.Service.Annotations[AnnotationRemoteSvcFQName] {
			return &conflictError{"Service", ns, em.Service.Name, "mirrors " + existing.Annotations[AnnotationRemoteSvcFQName]}
		}
		action, obj := PlanService(em.Service, existing)
		cur, wrote, err := e.svcW.apply(ctx, action, obj, existing, s.cause)
		if err := s.count(wrote, err); err != nil {
			return err
		}
		if cur != nil && cur.Spec.ClusterIP != ips[em.Service.Name] {
			ips[em.Service.Name] = cur.Spec.ClusterIP
			ipsChanged = true
		}
		existingEp := ours(e.epW.get(ns, em.Endpoints.Name), em.Endpoints.Annotations[AnnotationRemoteSvcFQName])
		action, epObj := PlanEndpoints(em.Endpoints, existingEp)
		if err := s.do(e.epW.apply(ctx, action, epObj, existingEp, s.cause)); err != nil {
			return err
		}
	}
	if err := s.removeEndpointMirrors(ctx, keep); err != nil {
		return err
	}
	if ipsChanged {
		if desired, err = DesiredFor(s.link, state, mode, gw, ips); err != nil {
			return err
		}
	}

	existing := e.svcW.get(ns, s.name)
	if existing != nil && existing.Annotations[AnnotationRemoteSvcFQName] != s.fq {
		return &conflictError{"Service", ns, s.name, "mirrors " + existing.Annotations[AnnotationRemoteSvcFQName]}
	}
	action, obj := PlanService(desired.Service, existing)
	if err := s.do(e.svcW.apply(ctx, action, obj, existing, s.cause)); err != nil {
		return err
	}
	existingEp := ours(e.epW.get(ns, s.name), s.fq)
	epAction, epObj := PlanEndpoints(desired.Endpoints, existingEp)
	if err := s.do(e.epW.apply(ctx, epAction, epObj, existingEp, s.cause)); err != nil {
		return err
	}
	if e.report.mirrored(s.key, mode) {
		e.statusChanged()
	}
	return nil
}

// removeEndpointMirrors deletes this Service's endpoint mirrors whose
// names are not in keep (all of them when keep is nil).
func (s *serviceSync) removeEndpointMirrors(ctx context.Context, keep map[string]bool) error {
	objs, _ := s.e.services.GetIndexer().ByIndex(headlessParentIndex, s.key.Namespace+"/"+s.name)
	for _, obj := range objs {
		cached := obj.(*corev1.Service)
		if keep[cached.Name] {
			continue
		}
		if _, name, ok := remoteOf(cached); !ok || name != s.key.Name {
			continue // another remote Service's endpoint mirror
		}
		if ep := s.e.epW.get(cached.Namespace, cached.Name); ep != nil {
			if err := s.do(s.e.epW.apply(ctx, ActionDelete, nil, ep, s.cause)); err != nil {
				return err
			}
		}
		if svc := s.e.svcW.get(cached.Namespace, cached.Name); svc != nil {
			if err := s.do(s.e.svcW.apply(ctx, ActionDelete, nil, svc, s.cause)); err != nil {
				return err
			}
		}
	}
	return nil
}

// ensureNamespace reports whether the mirror's namespace exists locally,
// creating it when allowed; a missing one is reported as a skip. The
// namespace informer queues the Service again when it appears.
func (s *serviceSync) ensureNamespace(ctx context.Context) (bool, error) {
	ns := s.key.Namespace
	if _, found, _ := s.e.namespaces.GetStore().GetByKey(ns); found {
		return true, nil
	}
	if !s.e.cfg.EnableNamespaceCreation {
		s.e.fail(ctx, s.key, s.name, ReasonMissingNamespace, fmt.Sprintf("namespace %q does not exist in the local cluster", ns))
		return false, nil
	}
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: OwnershipLabels(s.e.cluster)}}
	_, err := s.e.cfg.Local.CoreV1().Namespaces().Create(ctx, obj, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return false, fmt.Errorf("create namespace %s: %w", ns, err)
	}
	if err == nil {
		s.writes++
		klog.FromContext(ctx).Info("Created namespace for mirrors", "namespace", ns)
	}
	return true, nil
}

// do counts a write and passes its error on.
func (s *serviceSync) do(_ any, wrote bool, err error) error { return s.count(wrote, err) }

func (s *serviceSync) count(wrote bool, err error) error {
	if wrote {
		s.writes++
	}
	return err
}

// endpointMirrorIPs maps this mirror's endpoint-mirror Service names to
// their ClusterIPs, from the cache.
func (e *Engine) endpointMirrorIPs(namespace, mirrorName string) map[string]string {
	ips := map[string]string{}
	objs, _ := e.services.GetIndexer().ByIndex(headlessParentIndex, namespace+"/"+mirrorName)
	for _, obj := range objs {
		svc := obj.(*corev1.Service)
		if cur := e.svcW.get(svc.Namespace, svc.Name); cur != nil {
			ips[svc.Name] = cur.Spec.ClusterIP
		}
	}
	return ips
}

type remoteEndpoint = remote.Endpoint

func toRemoteEndpoints(in []remote.Endpoint) []RemoteEndpoint {
	out := make([]RemoteEndpoint, len(in))
	for i, ep := range in {
		out[i] = RemoteEndpoint{Hostname: ep.Hostname, Ready: ep.Ready}
	}
	return out
}
