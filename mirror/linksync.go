package mirror

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/remote"
)

// Finalizer keeps a deleted Link until its mirrors are removed; Linkerd
// leaves them behind.
const Finalizer = "svcmirror.io/cleanup-mirrors"

// waitForValidLink blocks until the Link exists and parses, reporting
// each problem once, or ctx ends.
func (e *Engine) waitForValidLink(ctx context.Context) (*unstructured.Unstructured, *plan.Link, error) {
	logger := klog.FromContext(ctx)
	lastProblem := ""
	for {
		obj, link, err := e.links.read()
		problem := ""
		switch {
		case obj == nil:
			problem = "Link not found; waiting for it"
		case err != nil:
			problem = err.Error()
		default:
			return obj, link, nil
		}
		if obj != nil {
			e.linkProblem.Store(&problem)
		}
		if problem != lastProblem {
			lastProblem = problem
			if obj == nil {
				logger.Info("Waiting for the Link to exist")
			} else {
				e.status.invalidLink(ctx, obj, err)
			}
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-e.links.wake:
		}
	}
}

// syncLink applies the Link and its Secret: it (re)connects to the remote
// cluster when the credentials or selectors change, re-syncs every mirror
// when a field they depend on changes, and handles deletion.
func (e *Engine) syncLink(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	obj, link, err := e.links.read()
	if obj == nil {
		// Gone without our finalizer having run (removed by hand): its
		// mirrors must go all the same.
		if old := e.conn.snapshot().Link; old != nil && !old.DeletionRequested {
			logger.Info("Link deleted; removing its mirrors")
			e.beginDeletion(old)
		}
		e.linkLoaded.Store(false)
		return nil
	}
	if err == nil && link.TargetClusterName != e.cluster {
		err = fmt.Errorf("spec.targetClusterName changed from %q to %q: restart svcmirror to apply it (mirrors of %q are kept)", e.cluster, link.TargetClusterName, e.cluster)
	}
	if err != nil {
		e.setLinkValid(false)
		msg := err.Error()
		e.linkProblem.Store(&msg)
		if msg != e.lastLinkProblem {
			e.lastLinkProblem = msg
			e.status.invalidLink(ctx, obj, err)
		}
		return nil
	}
	e.lastLinkProblem = ""
	e.linkProblem.Store(nil)

	if link.DeletionRequested {
		return e.finishDeletion(ctx, obj, link)
	}
	if !slices.Contains(obj.GetFinalizers(), Finalizer) {
		updated := obj.DeepCopy()
		updated.SetFinalizers(append(updated.GetFinalizers(), Finalizer))
		if _, err := e.cfg.Dynamic.Resource(plan.LinkGVR).Namespace(obj.GetNamespace()).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("add finalizer to Link: %w", err)
		}
		return nil // the update's event queues the Link again
	}

	e.applyCredentials(ctx, obj, link)
	// The gateway watcher re-syncs the gateway-mode mirrors itself when the
	// set changes; configure resolves at once, so the syncs below use it.
	// Its loops outlive this sync (and a lost lease: a standby probes too);
	// Run stops them.
	e.gw.configure(context.WithoutCancel(ctx), link)
	old := e.conn.setLink(link, obj)
	e.linkLoaded.Store(true)
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.LinkValid(e.conn.snapshot().Remote != nil)
	}
	switch {
	case old == nil:
		logger.Info("Link loaded", "gatewayAddresses", link.GatewayAddresses, "selector", link.Selector.String(), "remoteDiscoverySelector", link.RemoteDiscoverySelector.String())
		e.enqueueAll()
	case mirrorInputsDiffer(old, link):
		logger.Info("Link changed; re-syncing mirrors", "generation", link.Generation)
		e.enqueueAll()
	}
	e.queue.Add(e.probeKey())
	e.status.changed()
	return nil
}

// applyCredentials (re)connects to the remote cluster when the Secret's
// kubeconfig or the export selectors changed. A Secret that is missing or
// unusable is reported and the current connection, if any, is kept.
func (e *Engine) applyCredentials(ctx context.Context, obj *unstructured.Unstructured, link *plan.Link) {
	e.credMu.Lock()
	defer e.credMu.Unlock()
	logger := klog.FromContext(ctx)
	var kubeconfig []byte
	problem := ""
	secret, found := e.links.secret(link.Namespace, link.ClusterCredentialsSecret)
	if !found {
		problem = fmt.Sprintf("credentials Secret %s/%s not found", link.Namespace, link.ClusterCredentialsSecret)
	} else if kubeconfig = secret.Data[remote.KubeconfigKey]; len(kubeconfig) == 0 {
		problem = fmt.Sprintf("credentials Secret %s/%s has no %q key", link.Namespace, link.ClusterCredentialsSecret, remote.KubeconfigKey)
	}
	selectors := link.Selector.String() + "|" + link.RemoteDiscoverySelector.String()
	if problem == "" && e.conn.sameRemote(kubeconfig, selectors) {
		return
	}
	var cfgErr error
	if problem == "" {
		cfg, err := remote.ConfigFromKubeconfig(kubeconfig, e.cfg.RemoteQPS, e.cfg.RemoteBurst)
		if err == nil {
			e.startRemote(ctx, cfg, link, kubeconfig, selectors)
			return
		}
		cfgErr = err
		problem = fmt.Sprintf("credentials Secret %s/%s: %v", link.Namespace, link.ClusterCredentialsSecret, err)
	}
	if problem != e.lastCredentialsProblem {
		e.lastCredentialsProblem = problem
		logger.Error(cfgErr, "Remote credentials unusable; keeping the current connection, if any", "problem", problem)
		e.status.warn(obj, "InvalidCredentials", problem)
		if e.cfg.Metrics != nil {
			e.cfg.Metrics.ConfigError("secret")
		}
	}
}

// startRemote replaces the remote connection. Until the new caches sync,
// syncs change nothing; once they do, every key is queued.
func (e *Engine) startRemote(ctx context.Context, cfg *rest.Config, link *plan.Link, kubeconfig []byte, selectors string) {
	logger := klog.FromContext(ctx)
	client, err := remote.NewClient(cfg)
	if err != nil {
		logger.Error(err, "Making the remote client")
		return
	}
	// The connection lives until replaced or the engine stops, not as long
	// as this sync: it is a child of Run's context through ctx's values
	// only.
	remoteCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	rc := remote.Start(remoteCtx, client, remote.Options{
		Selectors: []labels.Selector{link.Selector, link.RemoteDiscoverySelector},
		Handlers: remote.Handlers{
			ServiceChanged: e.remoteChanged,
			Synced: func() {
				logger.Info("Remote caches synced", "exportedServices", len(e.conn.snapshot().Remote.Services("")))
				e.enqueueAll()
				e.status.changed()
			},
			Reachability: func(ok bool, _ error) {
				if e.cfg.Metrics != nil {
					e.cfg.Metrics.RemoteReachable(ok)
				}
				e.status.changed()
			},
		},
	})
	first := e.conn.replaceRemote(rc, cancel, kubeconfig, selectors)
	e.lastCredentialsProblem = ""
	if first {
		logger.Info("Connecting to the remote cluster", "host", cfg.Host)
	} else {
		logger.Info("Remote credentials or selectors changed; reconnecting", "host", cfg.Host)
	}
}

// setLinkValid records whether the Link in the cluster is valid. An invalid
// one does not unload the last valid configuration, which keeps running.
func (e *Engine) setLinkValid(ok bool) {
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.LinkValid(ok)
	}
}

// mirrorInputsDiffer reports whether two Links differ in a field the
// mirrors' desired state depends on (the gateway set is the gateway
// watcher's concern).
func mirrorInputsDiffer(a, b *plan.Link) bool {
	return a.TargetClusterDomain != b.TargetClusterDomain ||
		a.GatewayPort != b.GatewayPort ||
		a.GatewayIdentity != b.GatewayIdentity ||
		a.Selector.String() != b.Selector.String() ||
		a.RemoteDiscoverySelector.String() != b.RemoteDiscoverySelector.String() ||
		!slices.Equal(a.ExcludedLabels, b.ExcludedLabels) ||
		!slices.Equal(a.ExcludedAnnotations, b.ExcludedAnnotations)
}
