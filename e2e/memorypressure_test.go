package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/svcmirror/svcmirror/e2e/benchmark"
	"github.com/svcmirror/svcmirror/e2e/testbed"
)

// The memory-pressure test's sizes. With an 8 KiB annotation on every
// remote Service, the daemon's guard read (svcmirror_memory_used_bytes)
// 25-28 MiB at 300 mirrors, 29-33 at 500, 35-41 at 700 and 39-41 at 900,
// moving by steps as its collections land, and fell to 29-33 MiB as all but
// 120 were deleted again (26-31 once they were gone). So a 48 MiB limit
// (high-water mark 40.8 MiB, low 33.6) engages the guard at 900 to 1,100
// Services, and the deletion takes it below the low mark within seconds,
// on a 2-core machine at a load of 15. The test relies on none of these
// figures: it adds Services a batch at a time until the guard engages, up to
// memPressureMax (a daemon that needs less per mirror engages later), and
// requires only that the first batch, at under 60% of the limit, is
// mirrored without pressure.
const (
	memPressureLimitMiB = 48
	memPressureNS       = "memory"
	// memPressureFirst are mirrored before any pressure.
	memPressureFirst = 300
	memPressureBatch = 200
	// memPressureMax bounds the Services made waiting for the guard.
	memPressureMax = 5000
	// memPressureLate Services are exported once the guard has engaged.
	memPressureLate = 100
	// memPressureKept of the first Services stay exported when the rest go.
	memPressureKept = 20
	// memPayloadBytes of a unique annotation on every remote Service, which
	// its mirror copies (the caches hold one copy for both), make each
	// Service cost more, so that fewer are needed: a kubectl
	// last-applied-configuration annotation is often as large.
	memPayloadAnnotation = "memory-test.svcmirror.io/payload"
	memPayloadBytes      = 8 << 10
)

const (
	pressureOnLine  = "Memory pressure: new mirrors are not created"
	pressureOffLine = "Memory pressure over: creating new mirrors again"
)

// TestMemoryPressureHoldsBackNewMirrorsAndRecovers runs the daemon with a
// small GOMEMLIMIT and exports remote Services until its memory guard
// engages: it stays up and says so once (log line, Event, metric, /ready),
// creates no new mirror while existing ones keep following their remote
// Services, counts the held-back Services, and once most remote Services are
// deleted and memory falls, says so once and mirrors the held-back ones.
func TestMemoryPressureHoldsBackNewMirrorsAndRecovers(t *testing.T) {
	p := linkedPair(t, nil)
	ctx := context.Background()
	for _, c := range []*testbed.Cluster{p.Source, p.Target} {
		if err := c.EnsureNamespace(ctx, memPressureNS); err != nil {
			t.Fatal(err)
		}
	}
	// GOGC unset: the daemon's own default, whatever the test's environment.
	d := startDaemonWithEnv(t, p, []string{fmt.Sprintf("GOMEMLIMIT=%dMiB", memPressureLimitMiB), "GOGC="})
	d.waitReady()
	start := time.Now()
	since := func() string { return time.Since(start).Round(100 * time.Millisecond).String() }

	created := 0
	exportUpTo := func(n int) {
		t.Helper()
		from := created
		err := benchmark.Parallel(ctx, n-from, 16, func(ctx context.Context, i int) error {
			name := memServiceName(from + i)
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: memPressureNS, Name: name, Labels: map[string]string{"app": name, exportLabel: "true"},
					Annotations: map[string]string{memPayloadAnnotation: name + strings.Repeat(".", memPayloadBytes-len(name))}},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{httpPort(8080)}},
			}
			_, err := p.Target.Client.CoreV1().Services(memPressureNS).Create(ctx, svc, metav1.CreateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		created = n
	}
	// One scrape per poll: each costs the daemon a compressor's buffers,
	// which would otherwise weigh on the very readings under test.
	var scraped string
	scrape := func() {
		t.Helper()
		d.alive()
		body, err := d.get("/metrics")
		if err != nil {
			t.Fatal(err)
		}
		scraped = body
	}
	pressured := func() bool { return benchmark.SumSeries(scraped, "svcmirror_memory_pressure") == 1 }
	mirrors := func() int { return int(benchmark.SumSeries(scraped, "svcmirror_mirrors")) }
	heldBack := func() int {
		return int(benchmark.SumSeries(scraped, "svcmirror_skips_total", `reason="MemoryPressure"`))
	}
	reading := func() string { return memoryReading(scraped) }

	// Far below the mark, every Service is mirrored.
	exportUpTo(memPressureFirst)
	testbed.Eventually(t, 60*time.Second, func() (bool, string) {
		scrape()
		return mirrors() >= memPressureFirst || pressured(), fmt.Sprintf("%d of %d mirrored; %s", mirrors(), memPressureFirst, reading())
	})
	if pressured() {
		t.Fatalf("memory pressure with only %d Services exported (%s): the limit leaves no room for this daemon's base memory", memPressureFirst, reading())
	}

	// More Services, a batch at a time, until the guard engages.
	for !pressured() {
		if created >= memPressureMax {
			t.Fatalf("no memory pressure with %d Services exported and %d mirrored (%s)", created, mirrors(), reading())
		}
		t.Logf("%s: %d Services exported, %d mirrored, no pressure (%s)", since(), created, mirrors(), reading())
		exportUpTo(created + memPressureBatch)
		testbed.Eventually(t, 60*time.Second, func() (bool, string) {
			scrape()
			return pressured() || mirrors() >= created, fmt.Sprintf("%d of %d mirrored, no pressure; %s", mirrors(), created, reading())
		})
	}
	t.Logf("%s: memory pressure with %d Services exported (%s)", since(), created, reading())

	// Every Service is either mirrored or held back, and counted so.
	testbed.Eventually(t, 60*time.Second, func() (bool, string) {
		scrape()
		return mirrors()+heldBack() >= created, fmt.Sprintf("%d mirrored + %d held back of %d", mirrors(), heldBack(), created)
	})
	mirroredUnderPressure, heldBefore := mirrors(), heldBack()
	t.Logf("%s: %d mirrored, %d held back", since(), mirroredUnderPressure, heldBefore)

	// Said once, everywhere an operator looks.
	body, err := d.get("/ready")
	if err != nil || !strings.Contains(body, "memory pressure") || strings.TrimSpace(body) == "ok" {
		t.Errorf("/ready under memory pressure = %q (%v), want 200 naming the memory pressure", body, err)
	}
	waitEvent(t, p.Source, "MemoryPressure", fmt.Sprintf("of the %d MiB limit", memPressureLimitMiB))

	// New Services exported now are held back, and counted, not mirrored.
	lateFrom := created
	exportUpTo(created + memPressureLate)
	testbed.Eventually(t, 60*time.Second, func() (bool, string) {
		scrape()
		return heldBack() >= heldBefore+memPressureLate, fmt.Sprintf("%d held back, want %d", heldBack(), heldBefore+memPressureLate)
	})
	if got := mirrors(); got != mirroredUnderPressure {
		t.Errorf("%d mirrors after %d more Services were exported under pressure, want %d: a new mirror was created", got, memPressureLate, mirroredUnderPressure)
	}
	for i := lateFrom; i < created; i++ {
		if exists(t, p.Source, memPressureNS, memServiceName(i)+"-"+clusterName) {
			t.Fatalf("%s was exported under memory pressure and got a mirror", memServiceName(i))
		}
	}
	waitHeldBackStatus(t, p, heldBack())

	// Existing mirrors keep following their remote Services.
	updateRemote(t, p.Target, memPressureNS, memServiceName(0), func(s *corev1.Service) { s.Labels["tier"] = "under-pressure" })
	waitService(t, p.Source, memPressureNS, memServiceName(0)+"-"+clusterName, func(s *corev1.Service) (bool, string) {
		return s.Labels["tier"] == "under-pressure", fmt.Sprintf("labels %v", s.Labels)
	})

	// The pressure is the caches', not garbage's: it outlasts collections
	// (the guard runs one itself if the runtime has not for 10 s), and it
	// is reported once.
	gcs := func() float64 { return benchmark.SumSeries(scraped, "go_gc_duration_seconds_count") }
	scrape()
	gcsBefore := gcs()
	testbed.Eventually(t, 60*time.Second, func() (bool, string) {
		scrape()
		if !pressured() {
			t.Fatalf("memory pressure ended with nothing removed (%s)", reading())
		}
		return gcs() >= gcsBefore+2, fmt.Sprintf("%.0f collections since, want 2", gcs()-gcsBefore)
	})
	if n := strings.Count(d.log(), pressureOnLine); n != 1 {
		t.Errorf("%d %q lines under pressure, want 1", n, pressureOnLine)
	}

	// Most remote Services go: memory falls, the guard lets go and the
	// held-back late Services are mirrored.
	err = benchmark.Parallel(ctx, lateFrom-memPressureKept, 16, func(ctx context.Context, i int) error {
		return p.Target.Client.CoreV1().Services(memPressureNS).Delete(ctx, memServiceName(memPressureKept+i), metav1.DeleteOptions{})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d remote Services deleted", since(), lateFrom-memPressureKept)
	testbed.Eventually(t, 90*time.Second, func() (bool, string) {
		scrape()
		return !pressured(), fmt.Sprintf("still under memory pressure with %d mirrors (%s)", mirrors(), reading())
	})
	t.Logf("%s: memory pressure over with %d mirrors (%s)", since(), mirrors(), reading())
	want := memPressureKept + memPressureLate
	missing := map[string]bool{}
	for i := lateFrom; i < created; i++ {
		missing[memServiceName(i)+"-"+clusterName] = true
	}
	testbed.Eventually(t, 60*time.Second, func() (bool, string) {
		scrape()
		for name := range missing {
			if exists(t, p.Source, memPressureNS, name) {
				delete(missing, name)
			}
		}
		return len(missing) == 0 && mirrors() == want,
			fmt.Sprintf("%d Services held back under memory pressure still without a mirror; %d mirrors, want %d", len(missing), mirrors(), want)
	})
	waitHeldBackStatus(t, p, 0)
	if body, err := d.get("/ready"); err != nil || !strings.HasPrefix(body, "ok") || strings.Contains(body, "memory") {
		t.Errorf("/ready after the memory pressure = %q (%v), want ok with no note", body, err)
	}

	scrape()
	t.Logf("%s: %d mirrors (%s)", since(), mirrors(), reading())
	log := d.log()
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "Memory pressure") {
			t.Log(line)
		}
	}
	if n := strings.Count(log, pressureOnLine); n != 1 {
		t.Errorf("%d %q lines, want 1", n, pressureOnLine)
	}
	if n := strings.Count(log, pressureOffLine); n != 1 {
		t.Errorf("%d %q lines, want 1", n, pressureOffLine)
	}
}

func memServiceName(i int) string { return fmt.Sprintf("m-%05d", i) }

// waitHeldBackStatus waits until the Link's status counts held failing
// Services, each listed one (up to the status's cap) held back by memory
// pressure.
func waitHeldBackStatus(t testing.TB, p *testbed.Pair, held int) {
	t.Helper()
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		link, err := p.GetLink(context.Background())
		if err != nil {
			return false, err.Error()
		}
		failing, _, _ := unstructured.NestedInt64(link.Object, "status", "summary", "failing")
		entries, _, _ := unstructured.NestedSlice(link.Object, "status", "mirrorServices")
		for _, e := range entries {
			conds, _, _ := unstructured.NestedSlice(e.(map[string]any), "conditions")
			reason := ""
			if len(conds) > 0 {
				reason, _, _ = unstructured.NestedString(conds[0].(map[string]any), "reason")
			}
			if reason != "MemoryPressure" {
				return false, fmt.Sprintf("status lists a Service failing for %q", reason)
			}
		}
		return failing == int64(held) && (held == 0) == (len(entries) == 0),
			fmt.Sprintf("status.summary.failing = %d with %d entries, want %d", failing, len(entries), held)
	})
}

// memoryReading is the daemon's memory as its guard reads it, against the
// limit, from a scrape of its metrics, for logs and failure messages.
func memoryReading(body string) string {
	used, limit := benchmark.SumSeries(body, "svcmirror_memory_used_bytes"), benchmark.SumSeries(body, "svcmirror_memory_limit_bytes")
	return fmt.Sprintf("using %.1f MiB of %.0f MiB (%.0f%%)", used/(1<<20), limit/(1<<20), 100*used/limit)
}
