package main

import "runtime/debug"

// defaultGCPercent is the garbage collector's target (GOGC) when the
// environment sets none. The daemon's heap is nearly all informer caches,
// which live as long as the process: at Go's default of 100 the heap grows
// to twice that working set between collections, so the pod needs twice the
// memory it uses. At 50 `make bench` measured peak RSS at 5,000 Services
// down by about a fifth (117-122 MiB against 138-144), for CPU within the
// run-to-run noise (see BENCHMARKS.md). GOGC in the environment wins.
const defaultGCPercent = 50

// tuneGC applies defaultGCPercent unless GOGC is set, and reports whether
// it did.
func tuneGC(getenv func(string) string) bool {
	if getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(defaultGCPercent)
	return true
}
