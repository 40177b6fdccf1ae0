package mirror

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/queue"
	"github.com/svcmirror/svcmirror/remote"
)

// Finalizer keeps a deleted Link until its mirrors are removed; Linkerd
// leaves them behind.
const Finalizer = "svcmirror.io/cleanup-mirrors"

// statusDelay batches status writes: many services changing at once cost
// one Link status write a second at most.
const statusDelay = time.Second

// sync dispatches one key.
func (e *Engine) sync(ctx context.Context, key queue.Key) error {
	switch key.Kind {
	case queue.KindLink:
		return e.syncLink(ctx)
	case queue.KindService:
		return e.syncService(ctx, key)
	}
	return queue.Permanent(fmt.Errorf("unknown key kind %v", key.Kind))
}

// result feeds every sync's outcome to the metrics.
func (e *Engine) result(key queue.Key, outcome queue.Outcome, err error, _ time.Duration) {
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.Synced(string(outcome))
	}
	if err != nil && outcome == queue.OutcomeRetry {
		klog.FromContext(e.runCtx).V(2).Info("Sync failed; will retry", "key", key.String(), "err", err)
	}
}

// syncLink applies the Link and its Secret: it (re)connects to the remote
// cluster when the credentials or selectors change, re-syncs every mirror
// when a field they depend on changes, handles deletion, and writes the
// status when it changed.
func (e *Engine) syncLink(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	obj, link, err := e.readLink()
	if obj == nil {
		// Gone without our finalizer having run (removed by hand): its
		// mirrors must go all the same.
		if old := e.currentLink(); old != nil && !old.DeletionRequested {
			logger.Info("Link deleted; removing its mirrors")
			e.beginDeletion(old)
		}
		e.linkLoaded.Store(false)
		return nil
	}
	if err != nil {
		e.setLinkValid(false)
		if msg := err.Error(); msg != e.lastLinkProblem {
			e.lastLinkProblem = msg
			e.reportInvalidLink(ctx, obj, err)
		}
		return nil
	}
	if link.TargetClusterName != e.cluster {
		err := fmt.Errorf("spec.targetClusterName changed from %q to %q: restart svcmirror to apply it (mirrors of %q are kept)", e.cluster, link.TargetClusterName, e.cluster)
		if msg := err.Error(); msg != e.lastLinkProblem {
			e.lastLinkProblem = msg
			e.reportInvalidLink(ctx, obj, err)
		}
		return nil
	}
	e.lastLinkProblem = ""

	if link.DeletionRequested {
		return e.finishDeletion(ctx, obj, link)
	}
	if !slices.Contains(obj.GetFinalizers(), Finalizer) {
		updated := obj.DeepCopy()
		updated.SetFinalizers(append(updated.GetFinalizers(), Finalizer))
		if _, err := e.cfg.Dynamic.Resource(LinkGVR).Namespace(obj.GetNamespace()).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("add finalizer to Link: %w", err)
		}
		return nil // the update's event queues the Link again
	}

	e.applyCredentials(ctx, obj, link)
	gw := e.gw.configure(e.runCtx, link)

	e.mu.Lock()
	old := e.link
	mirrorsChange := old == nil || mirrorInputsDiffer(old, link) || !gatewaysEqual(e.gateway, gw)
	e.link, e.linkObj, e.gateway = link, obj, gw
	e.mu.Unlock()
	e.linkLoaded.Store(true)
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.LinkValid(e.currentRemote() != nil)
	}
	switch {
	case old == nil:
		logger.Info("Link loaded", "gatewayAddresses", link.GatewayAddresses, "selector", link.Selector.String(), "remoteDiscoverySelector", link.RemoteDiscoverySelector.String())
	case mirrorsChange:
		logger.Info("Link changed; re-syncing mirrors", "generation", link.Generation)
	}
	if mirrorsChange {
		e.enqueueAll()
	}
	return e.writeStatus(ctx, obj, link)
}

// applyCredentials (re)connects to the remote cluster when the Secret's
// kubeconfig or the export selectors changed. A Secret that is missing or
// unusable is reported and the current connection, if any, is kept.
func (e *Engine) applyCredentials(ctx context.Context, obj *unstructured.Unstructured, link *Link) {
	logger := klog.FromContext(ctx)
	item, found, _ := e.secrets.GetStore().GetByKey(link.Namespace + "/" + link.ClusterCredentialsSecret)
	var kubeconfig []byte
	problem := ""
	if !found {
		problem = fmt.Sprintf("credentials Secret %s/%s not found", link.Namespace, link.ClusterCredentialsSecret)
	} else if kubeconfig = item.(*corev1.Secret).Data[remote.KubeconfigKey]; len(kubeconfig) == 0 {
		problem = fmt.Sprintf("credentials Secret %s/%s has no %q key", link.Namespace, link.ClusterCredentialsSecret, remote.KubeconfigKey)
	}
	selectors := link.Selector.String() + "|" + link.RemoteDiscoverySelector.String()

	e.mu.RLock()
	unchanged := e.remote != nil && bytes.Equal(e.kubeconfig, kubeconfig) && e.selectors == selectors
	e.mu.RUnlock()
	if problem == "" && unchanged {
		return
	}
	var cfgErr error
	if problem == "" {
		cfg, err := remote.ConfigFromKubeconfig(kubeconfig, e.cfg.RemoteQPS, e.cfg.RemoteBurst)
		if err == nil {
			e.startRemote(cfg, link, kubeconfig, selectors)
			return
		}
		cfgErr = err
		problem = fmt.Sprintf("credentials Secret %s/%s: %v", link.Namespace, link.ClusterCredentialsSecret, err)
	}
	if problem != e.lastCredentialsProblem {
		e.lastCredentialsProblem = problem
		logger.Error(cfgErr, "Remote credentials unusable; keeping the current connection, if any", "problem", problem)
		e.events.Event(linkRef(obj), corev1.EventTypeWarning, "InvalidCredentials", problem)
		if e.cfg.Metrics != nil {
			e.cfg.Metrics.ConfigError("secret")
		}
	}
}

// startRemote replaces the remote connection. Until the new caches sync,
// syncs change nothing; once they do, every key is queued.
func (e *Engine) startRemote(cfg *rest.Config, link *Link, kubeconfig []byte, selectors string) {
	logger := klog.FromContext(e.runCtx)
	client, err := remote.NewClient(cfg)
	if err != nil {
		logger.Error(err, "Making the remote client")
		return
	}
	ctx, cancel := context.WithCancel(e.runCtx)
	rc := remote.Start(ctx, client, remote.Options{
		Selectors: []labels.Selector{link.Selector, link.RemoteDiscoverySelector},
		Handlers: remote.Handlers{
			ServiceChanged: e.remoteChanged,
			Synced: func() {
				logger.Info("Remote caches synced", "exportedServices", len(e.currentRemoteServices()))
				e.enqueueAll()
				e.queue.AddAfter(e.linkKey(), statusDelay)
			},
			Reachability: func(ok bool, _ error) {
				if e.cfg.Metrics != nil {
					e.cfg.Metrics.RemoteReachable(ok)
				}
				e.queue.AddAfter(e.linkKey(), statusDelay)
			},
		},
	})
	e.mu.Lock()
	first := e.remote == nil
	if e.stopRemote != nil {
		e.stopRemote()
	}
	e.remote, e.stopRemote, e.kubeconfig, e.selectors = rc, cancel, kubeconfig, selectors
	e.lastCredentialsProblem = ""
	e.mu.Unlock()
	if first {
		logger.Info("Connecting to the remote cluster", "host", cfg.Host)
	} else {
		logger.Info("Remote credentials or selectors changed; reconnecting", "host", cfg.Host)
	}
}

func (e *Engine) currentRemoteServices() []any {
	rc := e.currentRemote()
	if rc == nil {
		return nil
	}
	var out []any
	for _, n := range rc.Services("") {
		out = append(out, n)
	}
	return out
}

// remoteChanged is the remote informers' handler: it notes when the change
// was seen, for the propagation-latency metric, and queues the Service.
func (e *Engine) remoteChanged(namespace, name string) {
	key := queue.ServiceKey(namespace, name)
	e.seenMu.Lock()
	if _, ok := e.seen[key]; !ok {
		e.seen[key] = time.Now()
	}
	e.seenMu.Unlock()
	e.queue.Add(key)
}

// beginDeletion switches the engine to removing every mirror of the link.
func (e *Engine) beginDeletion(link *Link) {
	deleting := *link
	deleting.DeletionRequested = true
	e.mu.Lock()
	e.link = &deleting
	if e.stopRemote != nil {
		e.stopRemote()
	}
	e.remote, e.stopRemote, e.kubeconfig = nil, nil, nil
	e.mu.Unlock()
	e.enqueueAll()
}

// finishDeletion removes the Link's finalizer once no mirror is left;
// until then it checks again every second.
func (e *Engine) finishDeletion(ctx context.Context, obj *unstructured.Unstructured, link *Link) error {
	if old := e.currentLink(); old == nil || !old.DeletionRequested {
		klog.FromContext(ctx).Info("Link is being deleted; removing its mirrors")
		e.beginDeletion(link)
	}
	if err := e.deleteUnattributed(ctx); err != nil {
		return err
	}
	if left := len(e.services.GetStore().ListKeys()) + len(e.endpoints.GetStore().ListKeys()); left > 0 {
		return queue.RetryAfter(fmt.Errorf("%d mirror objects left to delete", left), time.Second)
	}
	if !slices.Contains(obj.GetFinalizers(), Finalizer) {
		return nil
	}
	updated := obj.DeepCopy()
	updated.SetFinalizers(slices.DeleteFunc(updated.GetFinalizers(), func(f string) bool { return f == Finalizer }))
	if _, err := e.cfg.Dynamic.Resource(LinkGVR).Namespace(obj.GetNamespace()).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("remove finalizer from Link: %w", err)
	}
	klog.FromContext(ctx).Info("All mirrors removed; released the Link")
	return nil
}

// deleteUnattributed deletes this link's objects whose remote Service
// cannot be read from their annotations: no Service key would ever reach
// them, and the Link's deletion must not wait for them forever.
func (e *Engine) deleteUnattributed(ctx context.Context) error {
	for _, obj := range e.services.GetStore().List() {
		if svc := obj.(*corev1.Service); !attributed(svc) {
			if _, _, err := e.svcW.apply(ctx, ActionDelete, nil, svc, "link deleted"); err != nil {
				return err
			}
		}
	}
	for _, obj := range e.endpoints.GetStore().List() {
		if ep := obj.(*corev1.Endpoints); !attributed(ep) {
			if _, _, err := e.epW.apply(ctx, ActionDelete, nil, ep, "link deleted"); err != nil {
				return err
			}
		}
	}
	return nil
}

func attributed(obj metav1.Object) bool {
	_, _, ok := remoteOf(obj)
	return ok
}

func (e *Engine) setLinkValid(ok bool) {
	e.linkLoaded.Store(ok)
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.LinkValid(ok)
	}
}

// mirrorInputsDiffer reports whether two Links differ in a field the
// mirrors' desired state depends on (the gateway set is compared apart).
func mirrorInputsDiffer(a, b *Link) bool {
	return a.TargetClusterDomain != b.TargetClusterDomain ||
		a.GatewayPort != b.GatewayPort ||
		a.GatewayIdentity != b.GatewayIdentity ||
		a.Selector.String() != b.Selector.String() ||
		a.RemoteDiscoverySelector.String() != b.RemoteDiscoverySelector.String() ||
		!slices.Equal(a.ExcludedLabels, b.ExcludedLabels) ||
		!slices.Equal(a.ExcludedAnnotations, b.ExcludedAnnotations)
}
