package mirror

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/mirror/intern"
)

func svcAt(rv string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-east", ResourceVersion: rv}}
}

func TestRecentWritesResolve(t *testing.T) {
	cases := []struct {
		name      string
		record    func(w *recentWrites[*corev1.Service])
		cached    *corev1.Service // nil: not in the cache
		wantRV    string          // "" means absent
		wantFound bool
	}{
		{"nothing recorded: the cache answers", func(*recentWrites[*corev1.Service]) {}, svcAt("5"), "5", true},
		{"a create the cache has not seen yet is found", func(w *recentWrites[*corev1.Service]) { w.wrote(svcAt("7")) }, nil, "7", true},
		{"an update newer than the cache wins", func(w *recentWrites[*corev1.Service]) { w.wrote(svcAt("7")) }, svcAt("5"), "7", true},
		{"a cache that caught up wins", func(w *recentWrites[*corev1.Service]) { w.wrote(svcAt("7")) }, svcAt("7"), "7", true},
		{"someone's later write wins", func(w *recentWrites[*corev1.Service]) { w.wrote(svcAt("7")) }, svcAt("9"), "9", true},
		{"a delete the cache has not seen hides the object", func(w *recentWrites[*corev1.Service]) { w.deletedObject(svcAt("7")) }, svcAt("7"), "", false},
		{"an object recreated after our delete is seen", func(w *recentWrites[*corev1.Service]) { w.deletedObject(svcAt("7")) }, svcAt("12"), "12", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newRecentWrites[*corev1.Service]()
			tc.record(w)
			got, found := w.resolve("ns/web-east", tc.cached, tc.cached != nil)
			if found != tc.wantFound {
				t.Fatalf("found %v, want %v", found, tc.wantFound)
			}
			if found && got.GetResourceVersion() != tc.wantRV {
				t.Fatalf("resolved rv %s, want %s", got.GetResourceVersion(), tc.wantRV)
			}
		})
	}
}

func TestRecentWritesEchoes(t *testing.T) {
	w := newRecentWrites[*corev1.Service]()
	w.wrote(svcAt("7"))
	if w.observed(svcAt("6"), false) {
		t.Fatal("an older event is not our echo")
	}
	if !w.observed(svcAt("7"), false) {
		t.Fatal("the event carrying our write's rv is our echo")
	}
	if w.observed(svcAt("7"), false) {
		t.Fatal("an echo is reported once; the entry is then forgotten")
	}
	w.deletedObject(svcAt("8"))
	if !w.observed(svcAt("9"), true) { // stamped with the delete's revision
		t.Fatal("the delete event of the object we deleted is our echo")
	}
	w.wrote(svcAt("10"))
	if w.observed(svcAt("11"), false) {
		t.Fatal("a newer write by someone else is not our echo")
	}
	if _, found := w.resolve("ns/web-east", nil, false); found {
		t.Fatal("after a newer foreign write the cache must answer")
	}
}

func TestGroupedRecentWritesFindAGroupsWritesAndForgetThemOnTheirEvent(t *testing.T) {
	w := newGroupedRecentWrites(sliceService)
	slice := func(name, service, rv string) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, ResourceVersion: rv,
			Labels: map[string]string{discoveryv1.LabelServiceName: service}}}
	}
	web := intern.Group{Namespace: "apps", Name: "web-east"}
	w.wrote(slice("web-east.0", "web-east", "5"))
	w.wrote(slice("web-east.1", "web-east", "6"))
	w.wrote(slice("db-east.0", "db-east", "7"))
	got := slices.Clone(w.namesIn(web))
	slices.Sort(got)
	if !slices.Equal(got, []string{"web-east.0", "web-east.1"}) {
		t.Fatalf("namesIn(apps/web-east) = %v", got)
	}
	// A lookup finds the cache caught up with one: it stays listed, since
	// the group index beside the cache learns of it only from its event.
	if _, ok := w.resolve("apps/web-east.0", slice("web-east.0", "web-east", "5"), true); !ok {
		t.Fatal("resolve lost the object")
	}
	if got := w.namesIn(web); len(got) != 2 {
		t.Fatalf("a lookup dropped a grouped write before its event: namesIn = %v", got)
	}
	// Its event is handled: now it goes.
	if !w.observed(slice("web-east.0", "web-east", "5"), false) {
		t.Fatal("the echo of our write was not recognised")
	}
	if got := w.namesIn(web); !slices.Equal(got, []string{"web-east.1"}) {
		t.Fatalf("after its event, namesIn = %v", got)
	}
	if w.observed(slice("db-east.0", "db-east", "7"), false); len(w.namesIn(intern.Group{Namespace: "apps", Name: "db-east"})) != 0 {
		t.Fatalf("the echo of our write left %v in its group", w.namesIn(intern.Group{Namespace: "apps", Name: "db-east"}))
	}
}

// The echo of a write may arrive before the write's answer: it is held,
// and judged against the answer once that is recorded.
func TestRecentWritesHoldEventsOfWritesInFlight(t *testing.T) {
	w := newRecentWrites[*corev1.Service]()
	var queued []string
	w.enqueue = func(o metav1.Object) { queued = append(queued, o.GetResourceVersion()) }

	w.sending("ns/web-east")
	if !w.observed(svcAt("7"), false) {
		t.Fatal("an event for a write in flight was not held")
	}
	w.wrote(svcAt("7"))
	w.settle("ns/web-east")
	if len(queued) != 0 {
		t.Fatalf("the early echo of our write queued a sync: %v", queued)
	}
	if _, found := w.resolve("ns/web-east", nil, false); found {
		t.Fatal("the echo, judged at settle, left the write recorded")
	}

	w.sending("ns/web-east")
	w.observed(svcAt("9"), false) // someone else's write, newer than ours
	w.wrote(svcAt("8"))
	w.settle("ns/web-east")
	if len(queued) != 1 || queued[0] != "9" {
		t.Fatalf("a foreign event held during our write queued %v, want [9]", queued)
	}

	w.sending("ns/web-east")
	w.settle("ns/web-east") // a failed write: nothing held, nothing recorded
	if w.observed(svcAt("10"), false) {
		t.Fatal("an event after the write settled was held or taken for an echo")
	}
}
