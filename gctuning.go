package main

import "runtime/debug"

// defaultGCPercent is the garbage collector's target (GOGC) when the
// environment sets none. The daemon's heap is nearly all informer caches,
// which live as long as the process: at Go's default of 100 the heap grows
// to twice that working set between collections, so the pod needs twice the
// memory it uses. At 50 `make bench` measured peak RSS at 5,000 Services
// down by about a fifth (117-122 MiB against 138-144); at 25 the heap may
// grow by a quarter of the caches, which at 10,000 Services took the peak
// from 144.8 to 115.9 MiB together with two cache changes (BENCHMARKS.md,
// "Memory targets"). The price is more collections, most of them run by
// the runtime on otherwise idle CPU: CPU at convergence went from 30.1 to
// 31.6 s. GOGC in the environment wins.
const defaultGCPercent = 25

// tuneGC applies defaultGCPercent unless GOGC is set, and reports whether
// it did.
func tuneGC(getenv func(string) string) bool {
	if getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(defaultGCPercent)
	return true
}
