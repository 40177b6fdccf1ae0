package testbed

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// privateNetEnv marks a test process that runs inside the private network
// and mount namespace InPrivateNetwork made for it.
const privateNetEnv = "SVCMIRROR_TESTBED_PRIVATE_NET"

// InPrivateNetwork makes the calling test run in a fresh network and mount
// namespace of its own, where NewFlatNet may add bridges, veth pairs and
// network namespaces: nothing it does there reaches the host's network,
// and the kernel frees all of it when the test process ends, however it
// ends. /run/netns (where `ip netns` keeps its namespaces) is a private
// tmpfs there, so tests side by side never see each other's namespaces.
//
// Outside, it re-runs the test binary for just this test under
// `unshare --net --mount`, fails t with the child's output if the child
// fails, and returns false; inside it returns true and the test goes on.
func InPrivateNetwork(t *testing.T) bool {
	t.Helper()
	if os.Getenv(privateNetEnv) == "1" {
		return true
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("this test needs unshare(1) from util-linux: %v", err)
	}
	const script = `set -e
ip link set lo up
mkdir -p /run/netns
mount -t tmpfs tmpfs /run/netns
exec "$@"`
	cmd := exec.Command("unshare", "--net", "--mount", "sh", "-c", script, "sh",
		os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=15m")
	cmd.Env = append(os.Environ(), privateNetEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		t.Fatalf("%s in a private network namespace: %v\n%s", t.Name(), err, out.String())
	}
	if !strings.Contains(out.String(), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not pass in the private network namespace:\n%s", t.Name(), out.String())
	}
	t.Logf("%s passed in a private network namespace:\n%s", t.Name(), out.String())
	return false
}

// checkPrivateNetwork refuses to touch a network namespace that is the
// host's: NewFlatNet adds interfaces and routes, which must never happen
// outside the namespace InPrivateNetwork made.
func checkPrivateNetwork() error {
	if os.Getenv(privateNetEnv) != "1" {
		return fmt.Errorf("the flat network runs only inside testbed.InPrivateNetwork")
	}
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return err
	}
	if init, err := os.Readlink("/proc/1/ns/net"); err == nil && init == self {
		return fmt.Errorf("this process is in the init network namespace (%s); refusing to change it", self)
	}
	return nil
}
