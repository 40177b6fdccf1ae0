package mirror

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	runtimemetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/mirror/plan"
)

// Memory pressure: nearly all of the daemon's heap is informer caches that
// grow with the remote cluster, and a process that outgrows its container's
// limit is OOM-killed and takes every mirror's upkeep with it. So past a
// high-water fraction of the limit the engine stops creating new mirrors
// (existing ones are still updated and deleted, which frees memory), says so
// once, and resumes below a low-water fraction: the gap keeps it from
// flapping around a single threshold.
const (
	memoryHighWater = 0.85
	memoryLowWater  = 0.70
	// memoryCheckEvery is how often memory is sampled; reading
	// runtime/metrics costs microseconds and stops nothing.
	memoryCheckEvery = time.Second
	// memoryRetry is how often a Service held back by memory pressure is
	// tried again (the guard also re-queues every one when it lifts).
	memoryRetry = 30 * time.Second
	// memoryReclaimEvery is how long, under pressure, the guard lets the
	// runtime go without a collection before it runs one itself. The
	// reading changes only at collections (see memoryNeeded), and an idle
	// daemon allocates too little to start one (the runtime forces one
	// every two minutes), so the memory that deleted mirrors free would go
	// uncounted that long. A collection of the caches costs milliseconds of
	// CPU per ten MiB of heap, once per interval while pressured.
	memoryReclaimEvery = 10 * time.Second
)

// ReasonMemoryPressure is the Event reason and skip reason of a mirror not
// created because the daemon is near its memory limit.
const ReasonMemoryPressure = "MemoryPressure"

// memoryGuard decides whether new mirrors may be created.
type memoryGuard struct {
	// limit is the memory limit in bytes; 0 when none is known, in which
	// case the guard never reports pressure.
	limit uint64
	// used reads the memory the process needs, in bytes (memoryNeeded).
	used func() uint64
	// changed is called on every transition, with the reading behind it.
	changed func(ctx context.Context, pressured bool, used, limit uint64)
	// sampled hears every reading; nil: nothing does.
	sampled func(used, limit uint64)
	// pressured is read by every sync, so it is atomic.
	pressured atomic.Bool

	// cycles reads how many collections the runtime has completed and
	// collect runs one (runtime.GC); nil collect: never (see reclaim).
	cycles  func() uint64
	collect func()
	now     func() time.Time
	// lastCycles is the count last read and lastCycleAt when it was last
	// seen to change; only check (one goroutine) touches them.
	lastCycles  uint64
	lastCycleAt time.Time
}

// newMemoryGuard makes a guard for the process's own limit and memory.
func newMemoryGuard(changed func(ctx context.Context, pressured bool, used, limit uint64), sampled func(used, limit uint64)) *memoryGuard {
	return &memoryGuard{limit: memoryLimit(), used: memoryNeeded, changed: changed, sampled: sampled,
		cycles: gcCycles, collect: runtime.GC, now: time.Now}
}

// run samples memory until ctx ends.
func (g *memoryGuard) run(ctx context.Context) {
	if g.limit == 0 {
		klog.FromContext(ctx).V(2).Info("No memory limit known; new mirrors are never held back for memory")
		return
	}
	t := time.NewTicker(memoryCheckEvery)
	defer t.Stop()
	for {
		g.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check takes one reading and reports a transition across the marks.
func (g *memoryGuard) check(ctx context.Context) {
	if g.limit == 0 {
		return
	}
	used := g.used()
	if g.sampled != nil {
		g.sampled(used, g.limit)
	}
	was := g.pressured.Load()
	now := was
	switch {
	case !was && float64(used) >= memoryHighWater*float64(g.limit):
		now = true
	case was && float64(used) < memoryLowWater*float64(g.limit):
		now = false
	}
	if now == was {
		if now {
			g.reclaim()
		}
		return
	}
	g.pressured.Store(now)
	logger := klog.FromContext(ctx)
	if now {
		logger.Info("Memory pressure: new mirrors are not created until memory use falls; existing mirrors are kept up to date",
			"usedBytes", used, "limitBytes", g.limit, "resumeBelowBytes", uint64(memoryLowWater*float64(g.limit)))
	} else {
		logger.Info("Memory pressure over: creating new mirrors again", "usedBytes", used, "limitBytes", g.limit)
	}
	if g.changed != nil {
		g.changed(ctx, now, used, g.limit)
	}
}

// reclaim runs a collection while pressure lasts if the runtime has run
// none for memoryReclaimEvery, so that memory freed since (mirrors deleted,
// remote Services unexported) shows in the next readings: without it an
// idle daemon's reading stays where it peaked for minutes.
// A daemon busy enough to collect by itself pays nothing.
func (g *memoryGuard) reclaim() {
	if g.collect == nil {
		return
	}
	now := g.now()
	if c := g.cycles(); c != g.lastCycles || g.lastCycleAt.IsZero() {
		g.lastCycles, g.lastCycleAt = c, now
		return
	}
	if now.Sub(g.lastCycleAt) < memoryReclaimEvery {
		return
	}
	g.collect()
	g.lastCycles, g.lastCycleAt = g.cycles(), g.now()
}

// underPressure reports whether new mirrors are held back now.
func (g *memoryGuard) underPressure() bool { return g != nil && g.pressured.Load() }

// readyNote is what /ready appends while new mirrors are held back.
func (g *memoryGuard) readyNote() string {
	if !g.underPressure() {
		return ""
	}
	return fmt.Sprintf("; memory pressure (limit %d MiB): new mirrors are not created", g.limit>>20)
}

// holdBack turns a plan that creates a new mirror into a skip while under
// pressure; any other plan (updates, deletes, endpoint changes of existing
// mirrors) goes ahead. It reports whether it held p back.
func (g *memoryGuard) holdBack(p *plan.Plan) bool {
	if !g.underPressure() || p.Skip != nil {
		return false
	}
	for _, c := range p.Changes {
		if c.Action == plan.ActionCreate && c.Kind == plan.KindService && c.Object.GetName() == p.MirrorName {
			p.Skip = &plan.Skip{Reason: ReasonMemoryPressure,
				Message: "the daemon is near its memory limit; new mirrors are created once memory use falls"}
			p.Changes, p.Headless, p.CreateNamespace = nil, nil, false
			return true
		}
	}
	return false
}

// memoryLimit is the smaller of Go's soft memory limit (GOMEMLIMIT) and the
// cgroup's hard one, in bytes; 0 when neither is set.
func memoryLimit() uint64 {
	limit := uint64(0)
	if l := debug.SetMemoryLimit(-1); l > 0 && l < math.MaxInt64 {
		limit = uint64(l)
	}
	if c := cgroupMemoryMax(); c > 0 && (limit == 0 || c < limit) {
		limit = c
	}
	return limit
}

// cgroupMemoryMax reads cgroup v2's memory.max, or v1's limit_in_bytes;
// 0 when unlimited or unreadable.
func cgroupMemoryMax() uint64 {
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v >= 1<<60 { // "max", or v1's "unlimited" near 2^63
			return 0
		}
		return v
	}
	return 0
}

// memoryNeeded is the memory the process needs for what it holds live: the
// heap the collector lets it grow to before collecting again, the live heap
// at the last collection times 1 + GOGC/100 (the live heap alone with
// GOGC=off), plus everything the runtime holds outside the heap (stacks,
// its own metadata). It is the process's peak between collections, which
// is what GOMEMLIMIT and a container limit must hold, but unlike the memory
// the runtime holds from the system it falls with the first collection
// after the caches shrink: the pages freed then go back to the system over
// minutes, and half-empty spans not at all until new objects fill them, as
// they do before the process grows again.
func memoryNeeded() uint64 {
	samples := []runtimemetrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/gogc:percent"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	runtimemetrics.Read(samples)
	live, gogc := samples[0].Value.Uint64(), int64(samples[1].Value.Uint64()) // -1: off
	heap := live
	if gogc > 0 {
		heap += live / 100 * uint64(gogc)
	}
	outside := samples[2].Value.Uint64()
	for _, s := range samples[3:] {
		outside -= min(outside, s.Value.Uint64())
	}
	return heap + outside
}

// gcCycles is how many collections the runtime has completed.
func gcCycles() uint64 {
	samples := []runtimemetrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	runtimemetrics.Read(samples)
	return samples[0].Value.Uint64()
}

// memoryChanged reports a transition: the metric, and a Warning Event on
// the Link when pressure starts (the log line is the guard's). When it
// ends, the held-back Services are queued at once rather than at their
// next retry.
func (e *Engine) memoryChanged(_ context.Context, pressured bool, used, limit uint64) {
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.MemoryPressure(pressured)
	}
	if !pressured {
		for _, key := range e.report.failingWith(ReasonMemoryPressure) {
			e.queue.Add(key)
		}
		return
	}
	e.status.warn(e.conn.snapshot().LinkObj, ReasonMemoryPressure, fmt.Sprintf(
		"Memory use %d MiB is past %.0f%% of the %d MiB limit: new mirrors are not created until it falls below %.0f%%; existing mirrors are kept up to date",
		used>>20, memoryHighWater*100, limit>>20, memoryLowWater*100))
}
