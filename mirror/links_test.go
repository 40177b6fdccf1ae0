package mirror

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestLinkStatusOnlyChange(t *testing.T) {
	base := func() *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "multicluster.linkerd.io/v1alpha3", "kind": "Link",
			"metadata": map[string]any{"namespace": "linkerd-multicluster", "name": "east", "resourceVersion": "1"},
			"spec":     map[string]any{"targetClusterName": "east", "gatewayAddress": "192.0.2.10"},
		}}
		u.SetFinalizers([]string{Finalizer})
		return u
	}
	cases := []struct {
		name   string
		change func(u *unstructured.Unstructured)
		want   bool
	}{
		{"a status write is status only", func(u *unstructured.Unstructured) {
			u.Object["status"] = map[string]any{"summary": map[string]any{"mirrored": int64(3)}}
			u.SetResourceVersion("2")
		}, true},
		{"a spec change is not", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "192.0.2.11", "spec", "gatewayAddress")
		}, false},
		{"a finalizer change is not", func(u *unstructured.Unstructured) { u.SetFinalizers(nil) }, false},
		{"a deletion is not", func(u *unstructured.Unstructured) {
			now := metav1.Now()
			u.SetDeletionTimestamp(&now)
		}, false},
		{"a label change is not", func(u *unstructured.Unstructured) { u.SetLabels(map[string]string{"a": "b"}) }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			old, updated := base(), base()
			c.change(updated)
			if got := linkStatusOnlyChange(old, updated); got != c.want {
				t.Errorf("linkStatusOnlyChange = %v, want %v", got, c.want)
			}
		})
	}
	if linkStatusOnlyChange("not a Link", base()) {
		t.Error("an object of another type must not be taken for a status-only change")
	}
}
