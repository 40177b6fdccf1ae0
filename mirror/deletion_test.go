package mirror

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/mirror/plan"
)

func TestLinkDeletionRemovesObjectsWithoutRemoteIdentity(t *testing.T) {
	// Ours by its labels, but with no remote-svc-fq-name: no Service key
	// ever names it, so only the Link's deletion can remove it.
	stray := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "stray-east", Labels: plan.OwnershipLabels("east")}}
	attributed := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web-east", Labels: plan.OwnershipLabels("east"),
		Annotations: map[string]string{plan.AnnotationRemoteSvcFQName: "web.apps.svc.cluster.local"}}}
	h := newSyncHarness(t, stray, attributed)
	h.cache(t, stray, attributed)
	e := &Engine{local: h.s.local}
	if err := e.deleteUnattributed(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"delete services stray-east"}, h.writes()); diff != "" {
		t.Fatalf("writes (-want +got):\n%s", diff)
	}
}
