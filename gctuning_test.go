package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGCLowersTheTargetUnlessGOGCIsSet(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100)) // restore whatever the test binary had

	debug.SetGCPercent(100)
	if !tuneGC(func(string) string { return "" }) {
		t.Fatal("tuneGC did nothing with GOGC unset")
	}
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Fatalf("GC percent = %d after tuneGC, want %d", got, defaultGCPercent)
	}

	env := map[string]string{"GOGC": "200"}
	if tuneGC(func(k string) string { return env[k] }) {
		t.Fatal("tuneGC overrode GOGC from the environment")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GC percent = %d with GOGC set, want it untouched (100)", got)
	}
}
