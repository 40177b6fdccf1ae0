package plan

import (
	"slices"
	"testing"
)

func TestClusterNamesRecordEveryNameOnce(t *testing.T) {
	ann := map[string]string{}
	ann[AnnotationClusterNames] = WithClusterName(ann, "east")
	ann[AnnotationClusterNames] = WithClusterName(ann, "east2")
	ann[AnnotationClusterNames] = WithClusterName(ann, "east")
	if got := ann[AnnotationClusterNames]; got != "east,east2" {
		t.Fatalf("annotation %q, want east,east2", got)
	}
	if got := EarlierClusterNames(ann, "east2"); !slices.Equal(got, []string{"east"}) {
		t.Errorf("earlier names %v, want [east]", got)
	}
	if got := WithoutClusterName(ann, "east"); got != "east2" {
		t.Errorf("after forgetting east: %q", got)
	}
	if got := ClusterNames(map[string]string{AnnotationClusterNames: " b, ,a,b "}); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("a hand-edited annotation reads as %v", got)
	}
}
