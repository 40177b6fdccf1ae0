package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDemoRuns runs `make demo`'s program to the end (-exit instead of
// waiting for Ctrl-C) and checks it showed both modes of the mirror.
func TestDemoRuns(t *testing.T) {
	out, err := exec.Command("go", "run", "./demo", "-exit", "-svcmirror", svcmirrorBin(t)).CombinedOutput()
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"--- Service mc-demo/bb-target in source ---",
		"ip: 192.0.2.10",
		"port: 4143",
		"multicluster.linkerd.io/remote-discovery: target",
		"source kubeconfig:",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
