package mirror

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
)

// maxStatusFailures caps the failing Services listed in the Link status:
// one object cannot grow without bound (etcd refuses objects over about
// 1.5 MiB), and the counts say how many there are in all.
const maxStatusFailures = 50

// controllerName fills the status entries' controllerName.
const controllerName = "svcmirror"

// desiredStatus builds the Link's status from the reporter: Linkerd's
// mirrorServices list, holding only the failing Services (capped), plus
// our summary counts. Nothing in it changes while nothing happens, so it is
// written only on change.
func (e *Engine) desiredStatus(link *Link, remoteReachable bool) map[string]any {
	mirrored, failingCount, failing := e.report.snapshot(maxStatusFailures)
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
		},
	}
}

// writeStatus writes the Link's status if it differs from what is there.
func (e *Engine) writeStatus(ctx context.Context, obj *unstructured.Unstructured, link *Link) error {
	rc := e.currentRemote()
	want := e.desiredStatus(link, rc != nil && rc.Reachable())
	have, _, _ := unstructured.NestedMap(obj.Object, "status")
	// Where Linkerd's own CRD is installed the API server prunes our summary,
	// so what we wrote never reads back equal: comparing with our last
	// write as well keeps that from becoming a write loop.
	if statusEqual(have, want) || statusEqual(e.lastStatus, want) {
		return nil
	}
	updated := obj.DeepCopy()
	if err := unstructured.SetNestedMap(updated.Object, want, "status"); err != nil {
		return err
	}
	_, err := e.cfg.Dynamic.Resource(LinkGVR).Namespace(obj.GetNamespace()).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("update Link status: %w", err)
	}
	e.lastStatus = want
	klog.FromContext(ctx).V(2).Info("Wrote Link status", "mirrored", want["summary"].(map[string]any)["mirrored"], "failing", want["summary"].(map[string]any)["failing"])
	return nil
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
		APIVersion: LinkGroup + "/" + LinkVersion, Kind: LinkKind,
		Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID(),
		ResourceVersion: obj.GetResourceVersion(),
	}
}

// reportInvalidLink says, once per distinct problem, that the Link cannot
// be used: a log line, an Event on the Link and a metric.
func (e *Engine) reportInvalidLink(ctx context.Context, obj *unstructured.Unstructured, err error) {
	klog.FromContext(ctx).Error(err, "Link is invalid; keeping the last valid configuration, if any, until it is fixed")
	e.events.Event(linkRef(obj), corev1.EventTypeWarning, "InvalidLink", err.Error())
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.ConfigError("link")
	}
}
