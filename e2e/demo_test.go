package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDemoRuns runs `make demo`'s program to the end (-exit instead of
// waiting for Ctrl-C) and checks it showed both modes of the mirror, each
// with a real request answered by the remote pod.
func TestDemoRuns(t *testing.T) {
	out, err := exec.Command("go", "run", "./demo", "-exit", "-svcmirror", svcmirrorBin(t)).CombinedOutput()
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"--- Service mc-demo/bb-target in source ---",
		"ip: 198.51.100.20",
		"port: 4143",
		"(through the stand-in gateway)",
		"multicluster.linkerd.io/remote-discovery: target",
		"- 198.51.100.11",
		"(straight to the remote pod)",
		"source kubeconfig:",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(string(out), "answered by the remote pod: bb-0"); n != 2 {
		t.Errorf("the remote pod answered %d requests through the mirror, want 2 (gateway mode, then flat):\n%s", n, out)
	}
}
