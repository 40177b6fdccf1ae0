package mirror

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/queue"
)

func TestMemoryGuardTurnsOnAtHighWaterAndOffBelowLowWater(t *testing.T) {
	const mib = 1 << 20
	used := uint64(0)
	var transitions []bool
	var sampled []uint64
	g := &memoryGuard{limit: 100 * mib, used: func() uint64 { return used },
		changed: func(_ context.Context, on bool, _, _ uint64) { transitions = append(transitions, on) },
		sampled: func(used, _ uint64) { sampled = append(sampled, used>>20) }}
	ctx := context.Background()

	steps := []struct {
		usedMiB uint64
		want    bool
	}{
		{50, false}, {84, false}, // below the high-water mark
		{85, true}, {90, true}, // at and above it
		{75, true},  // between the marks: still on (no flapping)
		{69, false}, // below the low-water mark
		{80, false}, // between the marks again: still off
	}
	for _, s := range steps {
		used = s.usedMiB * mib
		g.check(ctx)
		if got := g.underPressure(); got != s.want {
			t.Fatalf("at %d MiB of 100: underPressure = %v, want %v", s.usedMiB, got, s.want)
		}
	}
	if len(transitions) != 2 || !transitions[0] || transitions[1] {
		t.Fatalf("transitions reported = %v, want exactly [true false]", transitions)
	}
	if len(sampled) != len(steps) || sampled[2] != 85 {
		t.Fatalf("readings reported = %v MiB, want every one of the %d", sampled, len(steps))
	}
}

func TestMemoryGuardWithoutLimitNeverHoldsBack(t *testing.T) {
	g := &memoryGuard{used: func() uint64 { return 1 << 40 }}
	g.check(context.Background())
	if g.underPressure() {
		t.Fatal("a guard with no known limit reported pressure")
	}
	var none *memoryGuard
	if none.underPressure() || none.readyNote() != "" {
		t.Fatal("a nil guard reported pressure")
	}
}

func TestMemoryGuardHoldsBackOnlyNewMirrors(t *testing.T) {
	svc := func(name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	}
	newMirror := func() *plan.Plan {
		return &plan.Plan{Outcome: plan.OutcomeMirrored, MirrorName: "web-east", CreateNamespace: true, Changes: []plan.Change{
			{Action: plan.ActionCreate, Kind: plan.KindService, Object: svc("web-east")},
			{Action: plan.ActionCreate, Kind: plan.KindEndpoints, Object: &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web-east"}}},
		}}
	}
	update := &plan.Plan{Outcome: plan.OutcomeMirrored, MirrorName: "web-east", Changes: []plan.Change{
		{Action: plan.ActionUpdate, Kind: plan.KindService, Object: svc("web-east"), Existing: svc("web-east")},
		// A new endpoint mirror of an existing headless mirror is upkeep.
		{Action: plan.ActionCreate, Kind: plan.KindService, Object: svc("web-0-east")},
	}}

	g := &memoryGuard{limit: 100, used: func() uint64 { return 0 }}
	if p := newMirror(); g.holdBack(p) || len(p.Changes) != 2 {
		t.Fatalf("without pressure a new mirror was held back: %+v", p)
	}

	g.pressured.Store(true)
	p := newMirror()
	if !g.holdBack(p) {
		t.Fatal("under pressure a new mirror was not held back")
	}
	if p.Skip == nil || p.Skip.Reason != ReasonMemoryPressure || len(p.Changes) != 0 || p.CreateNamespace {
		t.Fatalf("held-back plan = %+v (skip %+v), want a MemoryPressure skip with no changes", p, p.Skip)
	}
	if g.holdBack(update) || len(update.Changes) != 2 || update.Skip != nil {
		t.Fatalf("under pressure an existing mirror's update was held back: %+v", update)
	}
	if note := g.readyNote(); !strings.Contains(note, "memory pressure") {
		t.Fatalf("readyNote = %q, want it to mention memory pressure", note)
	}
}

func TestCgroupMemoryMaxAndLimitAreSane(t *testing.T) {
	// Whatever this machine's cgroup says, the reading is either unknown
	// (0) or a positive number of bytes below 2^60.
	if c := cgroupMemoryMax(); c >= 1<<60 {
		t.Fatalf("cgroupMemoryMax = %d, want 0 or a real limit", c)
	}
	if memoryNeeded() == 0 {
		t.Fatal("memoryNeeded read 0 bytes in a running process")
	}
}

func TestSyncUnderMemoryPressureCreatesNoNewMirrorButKeepsExistingOnesCurrent(t *testing.T) {
	h := newSyncHarness(t)
	ctx := context.Background()
	// An existing mirror, mirrored before the pressure began.
	existing := exportedService("web", "true")
	h.export(existing, readyEndpoint)
	if err := h.s.sync(ctx, queue.ServiceKey("apps", "web")); err != nil {
		t.Fatal(err)
	}
	h.writes()

	guard := &memoryGuard{limit: 100, used: func() uint64 { return 90 }}
	guard.check(ctx)
	h.s.memory = guard

	h.export(exportedService("api", "true"), readyEndpoint)
	err := h.s.sync(ctx, queue.ServiceKey("apps", "api"))
	if err == nil || !strings.Contains(err.Error(), "memory limit") {
		t.Fatalf("sync of a new Service under pressure returned %v, want a retry naming the memory limit", err)
	}
	if got := h.writes(); len(got) != 0 {
		t.Fatalf("under pressure a new mirror was written: %v", got)
	}
	// Counted per Service (Link status, skip metric), reported once per
	// link: a second try of the same Service counts nothing more.
	if err := h.s.sync(ctx, queue.ServiceKey("apps", "api")); err == nil {
		t.Fatal("the second sync under pressure created the mirror")
	}
	if held := h.s.report.failingWith(ReasonMemoryPressure); len(held) != 1 || held[0] != queue.ServiceKey("apps", "api") {
		t.Fatalf("held-back Services recorded = %v, want [apps/api]", held)
	}
	if got := h.counter(t, "svcmirror_skips_total", map[string]string{"reason": ReasonMemoryPressure}); got != 1 {
		t.Fatalf("svcmirror_skips_total{reason=MemoryPressure} = %v, want 1", got)
	}
	if len(h.events.Events) != 0 {
		t.Fatalf("a held-back Service sent an Event of its own: %q", <-h.events.Events)
	}

	changed := exportedService("web", "true")
	changed.ResourceVersion, changed.Labels["tier"] = "11", "front"
	h.export(changed, readyEndpoint)
	if err := h.s.sync(ctx, queue.ServiceKey("apps", "web")); err != nil {
		t.Fatal(err)
	}
	if got := h.writes(); len(got) < 2 || got[1] != "update services web-east" {
		t.Fatalf("under pressure the existing mirror's update wrote %v, want it to read and update services web-east first", got)
	}

	guard.used = func() uint64 { return 50 }
	guard.check(ctx)
	if err := h.s.sync(ctx, queue.ServiceKey("apps", "api")); err != nil {
		t.Fatal(err)
	}
	if got := h.writes(); len(got) == 0 || got[0] != "create services api-east" {
		t.Fatalf("after the pressure ended the new mirror wrote %v, want create services api-east first", got)
	}
	if held := h.s.report.failingWith(ReasonMemoryPressure); len(held) != 0 {
		t.Fatalf("after the mirror was created, still recorded as held back: %v", held)
	}
}

func TestMemoryPressureEndingQueuesTheHeldBackServices(t *testing.T) {
	q := queue.New("test-memory-pressure-ending")
	t.Cleanup(q.ShutDown)
	e := &Engine{queue: q, report: newReporter(nil)}
	held, failing := queue.ServiceKey("apps", "api"), queue.ServiceKey("apps", "db")
	e.report.failed(held, failure{Reason: ReasonMemoryPressure, Message: "near the limit"})
	e.report.failed(failing, failure{Reason: plan.ReasonConflict, Message: "foreign Service"})

	e.memoryChanged(context.Background(), false, 50, 100)
	if q.Len() != 1 {
		t.Fatalf("queued %d keys when the pressure ended, want 1 (the held-back Service only)", q.Len())
	}
}

func TestMemoryGuardCollectsWhilePressuredOnlyWhenTheRuntimeDoesNot(t *testing.T) {
	const mib = 1 << 20
	clock := time.Unix(0, 0)
	cycles, collections := uint64(7), 0
	used := uint64(90 * mib)
	g := &memoryGuard{limit: 100 * mib, used: func() uint64 { return used },
		cycles: func() uint64 { return cycles }, now: func() time.Time { return clock },
		collect: func() { collections++; cycles++ }}
	ctx := context.Background()
	tick := func(d time.Duration) { clock = clock.Add(d); g.check(ctx) }

	for i := 0; i < 30; i++ { // not pressured: never
		used = 50 * mib
		tick(time.Second)
	}
	if collections != 0 {
		t.Fatalf("%d collections without pressure, want 0", collections)
	}
	used = 90 * mib
	tick(time.Second) // pressure starts
	for i := 0; i < 25; i++ {
		tick(time.Second)
	}
	if collections != 2 {
		t.Fatalf("%d collections in 25 s of pressure with an idle runtime, want 2 (one per %s)", collections, memoryReclaimEvery)
	}
	for i := 0; i < 25; i++ { // the runtime collects every 5 s by itself
		if i%5 == 0 {
			cycles++
		}
		tick(time.Second)
	}
	if collections != 2 {
		t.Fatalf("%d collections, want still 2: the runtime collected often enough by itself", collections)
	}
	used = 60 * mib
	tick(time.Second)
	if g.underPressure() {
		t.Fatal("still pressured below the low-water mark")
	}
}

var memoryTestHold [][]byte

func TestMemoryNeededFallsWithTheFirstCollectionAfterTheHeapShrinks(t *testing.T) {
	const mib = 1 << 20
	for i := 0; i < 64*1024; i++ { // 64 MiB in 1 KiB objects, as caches hold them
		memoryTestHold = append(memoryTestHold, make([]byte, 1024))
	}
	runtime.GC()
	full := memoryNeeded()
	// Keep one object in 64: most spans stay partly used, and the freed
	// pages are not returned to the system yet, so the memory the runtime
	// holds barely moves; what the process needs does.
	var kept [][]byte
	for i := 0; i < len(memoryTestHold); i += 64 {
		kept = append(kept, memoryTestHold[i])
	}
	memoryTestHold = kept
	runtime.GC()
	shrunk := memoryNeeded()
	if full < 64*mib || shrunk > full-48*mib {
		t.Fatalf("memory needed with 64 MiB live %d MiB, after freeing 63 MiB of it %d MiB: want it above 64 MiB, then at least 48 MiB less", full>>20, shrunk>>20)
	}
	memoryTestHold = nil
}
