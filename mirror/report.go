package mirror

import (
	"sort"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/metrics"
	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/queue"
)

// failure is why one remote Service is not mirrored right now.
type failure struct {
	Reason, Message string
	MirrorName      string
	Since           metav1.Time
}

// reporter keeps, per remote Service, whether it is mirrored (and how) or
// why not. It feeds the Link status, the Events and the mode gauge, and
// says when something status-worthy changed so the status is rewritten
// only then.
type reporter struct {
	metrics *metrics.Metrics

	mu      sync.Mutex
	failing map[queue.Key]failure
	modes   map[queue.Key]plan.Mode
	counts  map[string]int
}

func newReporter(m *metrics.Metrics) *reporter {
	return &reporter{metrics: m, failing: map[queue.Key]failure{}, modes: map[queue.Key]plan.Mode{}, counts: map[string]int{}}
}

// mirrored records that key is mirrored in mode. It reports whether the
// status summary changed.
func (r *reporter) mirrored(key queue.Key, mode plan.Mode) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, wasFailing := r.failing[key]
	delete(r.failing, key)
	return r.setMode(key, mode) || wasFailing
}

// failed records why key is not mirrored. isNew is true when the reason or
// message differs from what was recorded, so an Event is sent once per
// change rather than once per retry.
func (r *reporter) failed(key queue.Key, f failure) (isNew bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, had := r.failing[key]
	if had && old.Reason == f.Reason && old.Message == f.Message {
		return false
	}
	if had && old.Reason == f.Reason {
		f.Since = old.Since
	}
	r.failing[key] = f
	r.setMode(key, plan.ModeNone)
	if r.metrics != nil {
		r.metrics.Skipped(f.Reason)
	}
	return true
}

// gone records that key is neither mirrored nor failing (unexported).
func (r *reporter) gone(key queue.Key) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, wasFailing := r.failing[key]
	delete(r.failing, key)
	return r.setMode(key, plan.ModeNone) || wasFailing
}

// failingWith lists the Services not mirrored for reason.
func (r *reporter) failingWith(reason string) []queue.Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []queue.Key
	for k, f := range r.failing {
		if f.Reason == reason {
			out = append(out, k)
		}
	}
	return out
}

// keys lists the Services mirrored in mode.
func (r *reporter) keys(mode plan.Mode) []queue.Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []queue.Key
	for k, m := range r.modes {
		if m == mode {
			out = append(out, k)
		}
	}
	return out
}

// setMode must be called with mu held.
func (r *reporter) setMode(key queue.Key, mode plan.Mode) bool {
	old := r.modes[key]
	if old == mode {
		return false
	}
	if old != plan.ModeNone {
		r.counts[string(old)]--
	}
	if mode == plan.ModeNone {
		delete(r.modes, key)
	} else {
		r.modes[key] = mode
		r.counts[string(mode)]++
	}
	if r.metrics != nil {
		r.metrics.MirrorsByMode(r.counts)
	}
	return true
}

// failingEntry is one failing Service, for the status.
type failingEntry struct {
	Key queue.Key
	failure
}

// snapshot returns how many Services are mirrored, how many fail, and the
// first max failing ones in a stable order.
func (r *reporter) snapshot(max int) (mirrored, failingCount int, failing []failingEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, f := range r.failing {
		failing = append(failing, failingEntry{Key: k, failure: f})
	}
	sort.Slice(failing, func(i, j int) bool { return failing[i].Key.String() < failing[j].Key.String() })
	failingCount = len(failing)
	if len(failing) > max {
		failing = failing[:max]
	}
	return len(r.modes), failingCount, failing
}
