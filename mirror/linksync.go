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
		err = fmt.Errorf("spec.targetClusterName changed from %q to %q: restart svcmirror to apply it (the mirrors of %q are kept until then, and removed after)", e.cluster, link.TargetClusterName, e.cluster)
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
	names := plan.WithClusterName(obj.GetAnnotations(), link.TargetClusterName)
	if !slices.Contains(obj.GetFinalizers(), Finalizer) || obj.GetAnnotations()[plan.AnnotationClusterNames] != names {
		// Before the first mirror is written: the finalizer, so that
		// deleting the Link removes them, and the cluster name they are
		// written under, so that they are found again if it changes.
		updated := obj.DeepCopy()
		if !slices.Contains(updated.GetFinalizers(), Finalizer) {
			updated.SetFinalizers(append(updated.GetFinalizers(), Finalizer))
		}
		annotations := updated.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[plan.AnnotationClusterNames] = names
		updated.SetAnnotations(annotations)
		if _, err := e.cfg.Dynamic.Resource(plan.LinkGVR).Namespace(obj.GetNamespace()).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("add finalizer and cluster name to Link: %w", err)
		}
		return nil // the update's event queues the Link again
	}
	if err := e.removeEarlierMirrors(ctx, obj, link); err != nil {
		return err
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
		e.conn.dropCandidate() // the Secret went back to the credentials in use
		return
	}
	if problem == "" && e.conn.testing(kubeconfig, selectors) {
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

// startRemote connects with new credentials or selectors. While the
// current connection works, the new one is a candidate that replaces it
// only once its caches have synced (remotecreds.go); otherwise it replaces
// it at once. Until the new caches sync, syncs change nothing; once they
// do, and after every re-list, every key is queued.
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
	cand := &remoteCandidate{stop: cancel, kubeconfig: kubeconfig, selectors: selectors}
	handlers := remote.Handlers{
		ServiceChanged: func(namespace, name string) {
			// A candidate's events would only sync against the working
			// connection's caches; its promotion queues every key.
			if !e.conn.isCandidate(cand) {
				e.remoteChanged(namespace, name)
			}
		},
		Synced: func() {
			e.promoteCandidate(ctx, cand)
			if rv := e.conn.snapshot().Remote; rv != remoteView(cand.cluster) {
				return // still a candidate, or replaced meanwhile
			}
			logger.Info("Remote caches synced", "exportedServices", len(cand.cluster.Services("")))
			e.enqueueAll()
			e.status.changed()
		},
		Reachability: func(ok bool, err error) {
			if e.conn.isCandidate(cand) {
				if !ok {
					e.candidateProblem(ctx, cand, err)
				}
				return
			}
			if e.cfg.Metrics != nil {
				e.cfg.Metrics.RemoteReachable(ok)
			}
			e.status.changed()
		},
		Credentials: func(err error) {
			if e.conn.isCandidate(cand) {
				if err != nil {
					e.candidateProblem(ctx, cand, err)
				}
				return
			}
			e.remoteCredentials(err)
		},
	}
	first, asCandidate := e.conn.connect(cand, func(asCandidate bool) *remote.Cluster {
		return remote.Start(remoteCtx, client, remote.Options{
			Selectors: []labels.Selector{link.Selector, link.RemoteDiscoverySelector},
			Handlers:  handlers,
			Candidate: asCandidate,
		})
	})
	e.lastCredentialsProblem = ""
	switch {
	case first:
		logger.Info("Connecting to the remote cluster", "host", cfg.Host)
	case asCandidate:
		logger.Info("Remote credentials or selectors changed; testing them while the working connection serves", "host", cfg.Host)
	default:
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
