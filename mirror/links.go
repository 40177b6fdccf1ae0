package mirror

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"context"

	"github.com/svcmirror/svcmirror/mirror/plan"
)

// linkInformers watch the Link (by name) and the Secrets of its
// namespace, and call changed on any change that matters to the Link's
// sync.
type linkInformers struct {
	namespace, name string
	links, secrets  cache.SharedIndexInformer
	// wake signals start-up while it waits for a valid Link.
	wake chan struct{}
}

func newLinkInformers(local kubernetes.Interface, dyn dynamic.Interface, namespace, name string, changed func(), conn *connection) *linkInformers {
	l := &linkInformers{namespace: namespace, name: name, wake: make(chan struct{}, 1)}
	if local == nil || dyn == nil {
		return l // unit tests that drive parts of the engine directly
	}
	byName := fields.OneTermEqualSelector("metadata.name", name).String()
	linkFactory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, namespace,
		func(o *metav1.ListOptions) { o.FieldSelector = byName })
	l.links = linkFactory.ForResource(plan.LinkGVR).Informer()
	onLink := func(any) {
		changed()
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	_, _ = l.links.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onLink,
		UpdateFunc: func(oldObj, newObj any) {
			// The echo of our own status write (or anyone's) changes nothing
			// the Link sync reads.
			if !linkStatusOnlyChange(oldObj, newObj) {
				onLink(newObj)
			}
		},
		DeleteFunc: onLink,
	})

	// The Link's namespace holds few Secrets; watching them all lets the
	// Link name a different Secret at any time.
	secretFactory := informers.NewSharedInformerFactoryWithOptions(local, 0, informers.WithNamespace(namespace))
	l.secrets = secretFactory.Core().V1().Secrets().Informer()
	onSecret := func(obj any) {
		s, ok := tombstoned(obj).(*corev1.Secret)
		if !ok {
			return
		}
		if link := conn.snapshot().Link; link == nil || link.ClusterCredentialsSecret == s.Name {
			onLink(nil)
		}
	}
	_, _ = l.secrets.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onSecret, UpdateFunc: func(_, o any) { onSecret(o) }, DeleteFunc: onSecret,
	})
	return l
}

func (l *linkInformers) run(ctx context.Context) {
	go l.links.RunWithContext(ctx)
	go l.secrets.RunWithContext(ctx)
}

func (l *linkInformers) synced() []cache.DoneChecker {
	return []cache.DoneChecker{l.links.HasSyncedChecker(), l.secrets.HasSyncedChecker()}
}

// read reads the Link from the cache; obj is nil when there is none.
func (l *linkInformers) read() (*unstructured.Unstructured, *plan.Link, error) {
	if l.links == nil {
		return nil, nil, nil
	}
	item, found, err := l.links.GetStore().GetByKey(l.namespace + "/" + l.name)
	if err != nil || !found {
		return nil, nil, err
	}
	obj := item.(*unstructured.Unstructured)
	link, err := plan.ParseLink(obj)
	return obj, link, err
}

// secret returns the Secret namespace/name from the cache.
func (l *linkInformers) secret(namespace, name string) (*corev1.Secret, bool) {
	item, found, _ := l.secrets.GetStore().GetByKey(namespace + "/" + name)
	if !found {
		return nil, false
	}
	return item.(*corev1.Secret), true
}

// linkStatusOnlyChange reports whether an update of the Link changed
// nothing but its status and bookkeeping metadata: the spec, finalizers,
// deletion timestamp, labels and annotations are all as before.
func linkStatusOnlyChange(oldObj, newObj any) bool {
	o, ok1 := oldObj.(*unstructured.Unstructured)
	n, ok2 := newObj.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return false
	}
	return equality.Semantic.DeepEqual(o.Object["spec"], n.Object["spec"]) &&
		slices.Equal(o.GetFinalizers(), n.GetFinalizers()) &&
		equality.Semantic.DeepEqual(o.GetDeletionTimestamp(), n.GetDeletionTimestamp()) &&
		maps.Equal(o.GetLabels(), n.GetLabels()) &&
		maps.Equal(o.GetAnnotations(), n.GetAnnotations())
}
