package mirror

import (
	"context"
	"fmt"
	"math"
	"os"
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
	// memoryCheckEvery is how often the heap is sampled; reading
	// runtime/metrics costs microseconds and stops nothing.
	memoryCheckEvery = time.Second
	// memoryRetry is how often a Service held back by memory pressure is
	// tried again (the guard also re-queues every one when it lifts).
	memoryRetry = 30 * time.Second
)

// ReasonMemoryPressure is the Event reason and skip reason of a mirror not
// created because the daemon is near its memory limit.
const ReasonMemoryPressure = "MemoryPressure"

// memoryGuard decides whether new mirrors may be created.
type memoryGuard struct {
	// limit is the memory limit in bytes; 0 when none is known, in which
	// case the guard never reports pressure.
	limit uint64
	// used reads the memory the process holds, in bytes.
	used func() uint64
	// changed is called on every transition, with the reading behind it.
	changed func(ctx context.Context, pressured bool, used, limit uint64)
	// pressured is read by every sync, so it is atomic.
	pressured atomic.Bool
}

// newMemoryGuard makes a guard for the process's own limit and heap.
func newMemoryGuard(changed func(ctx context.Context, pressured bool, used, limit uint64)) *memoryGuard {
	return &memoryGuard{limit: memoryLimit(), used: heapInUse, changed: changed}
}

// run samples the heap until ctx ends.
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
	was := g.pressured.Load()
	now := was
	switch {
	case !was && float64(used) >= memoryHighWater*float64(g.limit):
		now = true
	case was && float64(used) < memoryLowWater*float64(g.limit):
		now = false
	}
	if now == was {
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

// heapInUse is the memory the Go runtime holds from the system less what it
// has returned: what GOMEMLIMIT counts, and close to the resident set.
func heapInUse() uint64 {
	samples := []runtimemetrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	runtimemetrics.Read(samples)
	total, released := samples[0].Value.Uint64(), samples[1].Value.Uint64()
	if released > total {
		return 0
	}
	return total - released
}

// memoryChanged reports a transition: the metric, and a Warning Event on
// the Link when pressure starts (the log line is the guard's).
func (e *Engine) memoryChanged(_ context.Context, pressured bool, used, limit uint64) {
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.MemoryPressure(pressured)
	}
	if pressured {
		e.status.warn(e.conn.snapshot().LinkObj, ReasonMemoryPressure, fmt.Sprintf(
			"Memory use %d MiB is past %.0f%% of the %d MiB limit: new mirrors are not created until it falls below %.0f%%; existing mirrors are kept up to date",
			used>>20, memoryHighWater*100, limit>>20, memoryLowWater*100))
	}
}
