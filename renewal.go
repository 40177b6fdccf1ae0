package main

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/remote"
)

// runTokenRenewal keeps the remote token in the Link's credentials Secret
// fresh until ctx ends: it follows the Link's clusterCredentialsSecret and
// runs a remote.Renewer for the Secret it names, replacing it when the
// Link names another. It sits beside the engine, not in it, while the
// engine is being reworked; the engine already reconnects when the Secret
// changes, which is how a renewed token takes effect.
func runTokenRenewal(ctx context.Context, local kubernetes.Interface, dyn dynamic.Interface, namespace, linkName string, fraction float64, onState func(remote.TokenState)) {
	logger := klog.FromContext(ctx).WithValues("link", klog.KRef(namespace, linkName))
	ctx = klog.NewContext(ctx, logger)
	secretNames := make(chan string, 1)
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, namespace, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", linkName).String()
	})
	inf := factory.ForResource(plan.LinkGVR).Informer()
	onLink := func(obj any) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok || u.GetName() != linkName {
			return
		}
		link, err := plan.ParseLink(u)
		if err != nil {
			return // the engine reports an invalid Link
		}
		select {
		case <-secretNames: // only the latest name matters
		default:
		}
		secretNames <- link.ClusterCredentialsSecret
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onLink, UpdateFunc: func(_, o any) { onLink(o) },
	})
	go inf.RunWithContext(ctx)

	current, stop := "", context.CancelFunc(func() {})
	defer func() { stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case name := <-secretNames:
			if name == current {
				continue
			}
			stop()
			current = name
			r, err := remote.NewRenewer(remote.RenewerConfig{
				Local: local, Namespace: namespace, SecretName: name, Fraction: fraction, OnState: onState,
			})
			if err != nil {
				logger.Error(err, "Cannot renew the remote token")
				stop = func() {}
				continue
			}
			rctx, cancel := context.WithCancel(ctx)
			stop = cancel
			go func() { _ = r.Run(rctx) }()
		}
	}
}
