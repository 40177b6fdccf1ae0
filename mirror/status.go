package mirror

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/metrics"
	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/queue"
)

// maxStatusFailures caps the failing Services listed in the Link status:
// one object cannot grow without bound (etcd refuses objects over about
// 1.5 MiB), and the counts say how many there are in all.
const maxStatusFailures = 50

// controllerName fills the status entries' controllerName.
const controllerName = "svcmirror"

// statusDelay batches status writes: many services changing at once cost
// one Link status write a second at most.
const statusDelay = time.Second

// statusReporter tells the operator what the engine is doing: the Link's
// status, written on a key of its own at most once per statusDelay, and
// Events on the Link.
type statusReporter struct {
	queue   *queue.Queue
	key     queue.Key
	dynamic dynamic.Interface
	events  record.EventRecorder
	report  *reporter
	conn    *connection
	metrics *metrics.Metrics
	// leading says whether this replica writes; a standby sends no Events.
	leading func() bool
	// readLink reads the Link as the cache holds it now.
	readLink func() (*unstructured.Unstructured, *plan.Link, error)
	// lastStatus is the status last written; only the status key's sync,
	// which the queue never runs twice at once, touches it.
	lastStatus map[string]any
}

// changed asks for a status write within statusDelay.
func (r *statusReporter) changed() { r.queue.AddAfter(r.key, statusDelay) }

// failed records why a Service is not mirrored; a new reason is logged and
// sent as an Event on the Link once.
func (r *statusReporter) failed(ctx context.Context, key queue.Key, mirrorName, reason, msg string) {
	if !r.report.failed(key, failure{Reason: reason, Message: msg, MirrorName: mirrorName, Since: metav1.Now()}) {
		return
	}
	klog.FromContext(ctx).Info("Service not mirrored", "service", klog.KRef(key.Namespace, key.Name), "reason", reason, "detail", msg)
	if obj := r.conn.snapshot().LinkObj; obj != nil && r.leading() {
		r.events.Eventf(linkRef(obj), corev1.EventTypeWarning, reason, "Service %s/%s not mirrored: %s", key.Namespace, key.Name, msg)
	}
	r.changed()
}

// heldBack records a Service held back by memory pressure as failing, for
// the Link status and the skip metric, with no log line or Event of its
// own: the guard reports the pressure once for the whole link, and a
// thousand held-back Services must not cost a thousand Events.
func (r *statusReporter) heldBack(key queue.Key, mirrorName, reason, msg string) {
	if r.report.failed(key, failure{Reason: reason, Message: msg, MirrorName: mirrorName, Since: metav1.Now()}) {
		r.changed()
	}
}

// warn sends a Warning Event on the Link.
func (r *statusReporter) warn(obj *unstructured.Unstructured, reason, msg string) {
	if obj != nil && r.leading() {
		r.events.Event(linkRef(obj), corev1.EventTypeWarning, reason, msg)
	}
}

// invalidLink says, once per distinct problem, that the Link cannot be
// used: a log line, an Event on the Link and a metric.
func (r *statusReporter) invalidLink(ctx context.Context, obj *unstructured.Unstructured, err error) {
	klog.FromContext(ctx).Error(err, "Link is invalid; keeping the last valid configuration, if any, until it is fixed")
	r.warn(obj, "InvalidLink", err.Error())
	if r.metrics != nil {
		r.metrics.ConfigError("link")
	}
}

// sync writes the Link's status if it differs from what is there.
func (r *statusReporter) sync(ctx context.Context) error {
	obj, link, err := r.readLink()
	if obj == nil || err != nil || link.DeletionRequested {
		return nil
	}
	rc := r.conn.snapshot().Remote
	want := r.desired(link, rc != nil && rc.Reachable(), rc != nil && rc.CredentialsProblem() == nil)
	have, _, _ := unstructured.NestedMap(obj.Object, "status")
	// Where Linkerd's own CRD is installed the API server prunes our summary,
	// so what we wrote never reads back equal: comparing with our last
	// write as well keeps that from becoming a write loop.
	if statusEqual(have, want) || statusEqual(r.lastStatus, want) {
		return nil
	}
	updated := obj.DeepCopy()
	if err := unstructured.SetNestedMap(updated.Object, want, "status"); err != nil {
		return err
	}
	if _, err := r.dynamic.Resource(plan.LinkGVR).Namespace(obj.GetNamespace()).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update Link status: %w", err)
	}
	r.lastStatus = want
	summary := want["summary"].(map[string]any)
	klog.FromContext(ctx).V(2).Info("Wrote Link status", "mirrored", summary["mirrored"], "failing", summary["failing"])
	return nil
}

// desired builds the Link's status from the reporter: Linkerd's
// mirrorServices list, holding only the failing Services (capped), plus
// our summary counts. Nothing in it changes while nothing happens, so it is
// written only on change.
func (r *statusReporter) desired(link *plan.Link, remoteReachable, remoteCredentialsValid bool) map[string]any {
	mirrored, failingCount, failing := r.report.snapshot(maxStatusFailures)
	entries := make([]any, 0, len(failing))
	for _, f := range failing {
		entries = append(entries, map[string]any{
			"controllerName": controllerName,
			"remoteRef": map[string]any{
				"group": "", "kind": "Service", "name": f.Key.Name, "namespace": f.Key.Namespace,
			},
			"conditions": []any{map[string]any{
				"type":               "Mirrored",
				"status":             string(metav1.ConditionFalse),
				"reason":             f.Reason,
				"message":            f.Message,
				"lastTransitionTime": f.Since.UTC().Format("2006-01-02T15:04:05Z"),
				"localRef": map[string]any{
					"group": "", "kind": "Service", "name": f.MirrorName, "namespace": f.Key.Namespace,
				},
			}},
		})
	}
	return map[string]any{
		"mirrorServices":    entries,
		"federatedServices": []any{},
		"summary": map[string]any{
			"mirrored":           int64(mirrored),
			"failing":            int64(failingCount),
			"observedGeneration": link.Generation,
			"remoteReachable":    remoteReachable,
			// false while the remote API server answers 401 or 403.
			"remoteCredentialsValid": remoteCredentialsValid,
		},
	}
}

// statusEqual compares statuses after a JSON-shaped normalisation (the API
// server returns numbers as int64 and drops empty lists).
func statusEqual(have, want map[string]any) bool {
	norm := func(m map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			if l, ok := v.([]any); ok && len(l) == 0 {
				continue
			}
			out[k] = v
		}
		return out
	}
	return equality.Semantic.DeepEqual(norm(runtime.DeepCopyJSON(have)), norm(runtime.DeepCopyJSON(want)))
}

// linkRef is the object Events about the Link are recorded on.
func linkRef(obj *unstructured.Unstructured) *corev1.ObjectReference {
	return &corev1.ObjectReference{
		APIVersion: plan.LinkGroup + "/" + plan.LinkVersion, Kind: plan.LinkKind,
		Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID(),
		ResourceVersion: obj.GetResourceVersion(),
	}
}
