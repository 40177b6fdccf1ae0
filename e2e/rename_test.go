package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/svcmirror/svcmirror/e2e/testbed"
	"github.com/svcmirror/svcmirror/mirror/plan"
)

// TestChangingTheClusterNameLeavesNoOrphans: after targetClusterName
// changes and the daemon restarts, the mirrors under the old name go (not
// an object without a remote identity, which is not provably ours), and
// deleting the Link afterwards removes every mirror. Linkerd leaves the old
// ones behind for good (compat.md).
func TestChangingTheClusterNameLeavesNoOrphans(t *testing.T) {
	p := linkedPair(t, nil)
	ctx := context.Background()
	const ns = "apps"
	if err := p.Source.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	const n = 3
	for i := range n {
		makeRemoteService(t, p.Target, ns, fmt.Sprintf("svc-%d", i), fmt.Sprintf("10.8.0.%d", i+1), exported("true"))
	}
	// Labelled for the old name but with no remote identity: not ours to
	// judge, so it must survive.
	stray := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stray", Labels: plan.OwnershipLabels(clusterName)},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{httpPort(80)}}}
	if _, err := p.Source.Client.CoreV1().Services(ns).Create(ctx, stray, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, p)
	for i := range n {
		waitService(t, p.Source, ns, fmt.Sprintf("svc-%d-%s", i, clusterName), func(*corev1.Service) (bool, string) { return true, "" })
	}
	waitLinkAnnotation(t, p, clusterName)

	const renamed = clusterName + "2"
	link, err := p.GetLink(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(link.Object, renamed, "spec", "targetClusterName"); err != nil {
		t.Fatal(err)
	}
	if err := p.ApplyLink(ctx, link); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p.Source, "InvalidLink", "restart svcmirror")
	d.restart()
	for i := range n {
		waitService(t, p.Source, ns, fmt.Sprintf("svc-%d-%s", i, renamed), func(*corev1.Service) (bool, string) { return true, "" })
		waitGone(t, p.Source, ns, fmt.Sprintf("svc-%d-%s", i, clusterName))
	}
	waitLinkAnnotation(t, p, renamed)
	if _, err := p.Source.Client.CoreV1().Services(ns).Get(ctx, "stray", metav1.GetOptions{}); err != nil {
		t.Fatalf("the Service without a remote identity was touched: %v", err)
	}

	if err := p.Source.Dynamic().Resource(testbed.LinkGVR).Namespace(testbed.LinkNamespace).Delete(ctx, clusterName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		_, err := p.GetLink(ctx)
		return apierrors.IsNotFound(err), fmt.Sprintf("Link still there: %v", err)
	})
	list, err := p.Source.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{LabelSelector: plan.LabelMirroredService + "=true"})
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range list.Items {
		if svc.Name != "stray" {
			t.Errorf("mirror %s left after the Link was deleted", svc.Name)
		}
	}
}

// waitLinkAnnotation waits until the Link records exactly names as the
// cluster names its mirrors are under.
func waitLinkAnnotation(t *testing.T, p *testbed.Pair, names string) {
	t.Helper()
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		link, err := p.GetLink(context.Background())
		if err != nil {
			return false, err.Error()
		}
		got := link.GetAnnotations()[plan.AnnotationClusterNames]
		return got == names, fmt.Sprintf("cluster-names annotation %q, want %q", got, names)
	})
}
