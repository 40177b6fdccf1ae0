package mirror

import (
	"sync"
	"time"

	"github.com/svcmirror/svcmirror/queue"
)

// changeClock remembers when a remote change to each key was first seen,
// for the propagation-latency metric and to tell a write that follows a
// remote change from a repair.
type changeClock struct {
	now  func() time.Time
	mu   sync.Mutex
	seen map[queue.Key]time.Time
}

func newChangeClock() *changeClock {
	return &changeClock{now: time.Now, seen: map[queue.Key]time.Time{}}
}

// saw records a remote change to key; the first one since the last sync
// counts.
func (c *changeClock) saw(key queue.Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[key]; !ok {
		c.seen[key] = c.now()
	}
}

// take returns when a remote change to key was first seen since the last
// take, and forgets it.
func (c *changeClock) take(key queue.Key) (at time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok = c.seen[key]
	delete(c.seen, key)
	if ok && len(c.seen) == 0 {
		// A Go map keeps its largest size: at start-up this one holds
		// every Service of the link at once. Let that go.
		c.seen = map[queue.Key]time.Time{}
	}
	return at, ok
}
