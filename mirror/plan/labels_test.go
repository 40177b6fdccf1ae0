package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func TestOwnershipLabels(t *testing.T) {
	want := map[string]string{
		"mirror.linkerd.io/mirrored-service": "true",
		"mirror.linkerd.io/cluster-name":     "east",
	}
	if diff := cmp.Diff(want, OwnershipLabels("east")); diff != "" {
		t.Errorf("OwnershipLabels() mismatch (-want +got):\n%s", diff)
	}
}

func TestIsOwnedBy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		obj     metav1.Object
		cluster string
		want    bool
	}{
		{"A Service with both ownership labels is ours", localService("web-east", withLabels(owned())), testCluster, true},
		{"Endpoints with both ownership labels are ours", localEndpoints("web-east", epLabels(owned())), testCluster, true},
		{"Extra labels do not matter", localService("web-east", withLabels(merge(owned(), map[string]string{"app": "web"}))), testCluster, true},
		{"A mirror of another cluster is not ours", localService("web-east", withLabels(OwnershipLabels("west"))), testCluster, false},
		{"A Service without the mirrored-service label is not ours", localService("web-east", withLabels(map[string]string{LabelClusterName: testCluster})), testCluster, false},
		{"A Service with mirrored-service other than true is not ours", localService("web-east", withLabels(merge(owned(), map[string]string{LabelMirroredService: "yes"}))), testCluster, false},
		{"A Service without the cluster-name label is not ours", localService("web-east", withLabels(map[string]string{LabelMirroredService: "true"})), testCluster, false},
		{"A Service without labels is not ours", localService("web-east"), testCluster, false},
		{"Nothing is owned by an empty cluster name", localService("web-east", withLabels(OwnershipLabels(""))), "", false},
		{"A nil object is not ours", nil, testCluster, false},
		{"A typed nil Service is not ours", (*corev1.Service)(nil), testCluster, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsOwnedBy(tc.obj, tc.cluster); got != tc.want {
				t.Errorf("IsOwnedBy() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLocalSelector(t *testing.T) {
	sel := LocalSelector(testCluster)
	if got, want := sel.String(), "mirror.linkerd.io/cluster-name=east,mirror.linkerd.io/mirrored-service=true"; got != want {
		t.Errorf("LocalSelector().String() = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{"It selects our mirrors", merge(owned(), map[string]string{"app": "web"}), true},
		{"It does not select another cluster's mirrors", OwnershipLabels("west"), false},
		{"It does not select unmarked objects", map[string]string{"app": "web"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sel.Matches(labels.Set(tc.labels)); got != tc.want {
				t.Errorf("Matches(%v) = %v, want %v", tc.labels, got, tc.want)
			}
		})
	}
}

func TestCopyLabels(t *testing.T) {
	for _, tc := range []struct {
		name     string
		remote   map[string]string
		excluded []string
		want     map[string]string
	}{
		{"Ordinary labels are copied", map[string]string{"app": "web", "tier": "front"}, nil, map[string]string{"app": "web", "tier": "front"}},
		{
			"Labels under mirror.linkerd.io/ are not copied",
			map[string]string{"app": "web", "mirror.linkerd.io/exported": "true", LabelClusterName: "west", LabelMirroredService: "true"}, nil,
			map[string]string{"app": "web"},
		},
		{
			"The remote-discovery labels are never copied, so only the mode can set them",
			map[string]string{"app": "web", LabelRemoteDiscovery: "west", LabelRemoteService: "web"}, nil,
			map[string]string{"app": "web"},
		},
		{"Other multicluster.linkerd.io/ labels are copied", map[string]string{"multicluster.linkerd.io/other": "x"}, nil, map[string]string{"multicluster.linkerd.io/other": "x"}},
		{"An exact exclusion drops that key only", map[string]string{"team": "a", "team-lead": "b"}, []string{"team"}, map[string]string{"team-lead": "b"}},
		{
			"A /* exclusion drops every key with that prefix",
			map[string]string{"example.com/a": "1", "example.com/b/c": "2", "example.com": "3", "other.com/a": "4"}, []string{"example.com/*"},
			map[string]string{"example.com": "3", "other.com/a": "4"},
		},
		{"A * without a slash before it is an exact key", map[string]string{"abc": "1", "ab*": "2"}, []string{"ab*"}, map[string]string{"abc": "1"}},
		{"A bare * excludes every key (it used to match a key named *, silently)", map[string]string{"a": "1", "*": "2"}, []string{"*"}, map[string]string{}},
		{"No remote labels give an empty, non-nil map", nil, nil, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := copyLabels(tc.remote, tc.excluded)
			if got == nil {
				t.Fatal("copyLabels() = nil, want a map")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("copyLabels() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCopyAnnotations(t *testing.T) {
	for _, tc := range []struct {
		name     string
		remote   map[string]string
		excluded []string
		want     map[string]string
	}{
		{"Ordinary annotations are copied", map[string]string{"config.linkerd.io/opaque-ports": "4222"}, nil, map[string]string{"config.linkerd.io/opaque-ports": "4222"}},
		{
			"Topology annotations are not copied",
			map[string]string{AnnotationTopologyAwareHints: "auto", AnnotationTopologyMode: "Auto", "a": "b"}, nil,
			map[string]string{"a": "b"},
		},
		{"Annotations under mirror.linkerd.io/ are copied", map[string]string{"mirror.linkerd.io/x": "y"}, nil, map[string]string{"mirror.linkerd.io/x": "y"}},
		{
			"Exact and prefix exclusions apply",
			map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}", "argocd.argoproj.io/sync": "x", "keep": "me"},
			[]string{"kubectl.kubernetes.io/last-applied-configuration", "argocd.argoproj.io/*"},
			map[string]string{"keep": "me"},
		},
		{"No remote annotations give an empty, non-nil map", nil, nil, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := copyAnnotations(tc.remote, tc.excluded)
			if got == nil {
				t.Fatal("copyAnnotations() = nil, want a map")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("copyAnnotations() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCopiesDoNotAliasTheRemoteMaps(t *testing.T) {
	remote := map[string]string{"app": "web"}
	copyLabels(remote, nil)["app"] = "changed"
	copyAnnotations(remote, nil)["app"] = "changed"
	if remote["app"] != "web" {
		t.Errorf("remote map was modified through a copy: %v", remote)
	}
}
