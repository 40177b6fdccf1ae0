package testbed

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// privateNetEnv marks a process (a test or a program) that runs inside the
// private network and mount namespace InPrivateNetwork or
// EnterPrivateNetwork made for it.
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
	cmd := privateNetworkCommand(os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=15m")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runtime.LockOSThread() // for Pdeathsig: see privateNetworkCommand
	err := cmd.Run()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("%s in a private network namespace: %v\n%s", t.Name(), err, out.String())
	}
	if !strings.Contains(out.String(), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not pass in the private network namespace:\n%s", t.Name(), out.String())
	}
	t.Logf("%s passed in a private network namespace:\n%s", t.Name(), out.String())
	return false
}

// EnterPrivateNetwork is InPrivateNetwork for a program (the demo): outside
// the private namespace it runs the program again, with the same arguments,
// standard streams and environment, in a private network and mount
// namespace, and exits with the child's status; inside it returns nil. It
// returns an error only if the child could not be started.
func EnterPrivateNetwork() error {
	if os.Getenv(privateNetEnv) == "1" {
		return nil
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return fmt.Errorf("a private network namespace needs unshare(1) from util-linux: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := privateNetworkCommand(self, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The child gets Ctrl-C from the terminal itself, as part of the same
	// process group; this process only waits for it.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	runtime.LockOSThread() // for Pdeathsig: see privateNetworkCommand
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		os.Exit(exit.ExitCode())
	}
	if err != nil {
		return err
	}
	os.Exit(0)
	return nil
}

// privateNetworkCommand runs bin with args under `unshare --net --mount`,
// with loopback up and /run/netns a private tmpfs, marked by privateNetEnv.
// The kernel kills the child if the thread that starts it ends (Pdeathsig),
// so the caller runs it on a locked OS thread: a killed parent then takes
// the child, and with it everything the child started, along.
func privateNetworkCommand(bin string, args ...string) *exec.Cmd {
	const script = `set -e
ip link set lo up
mkdir -p /run/netns
mount -t tmpfs tmpfs /run/netns
exec "$@"`
	cmd := exec.Command("unshare", append([]string{"--net", "--mount", "sh", "-c", script, "sh", bin}, args...)...)
	cmd.Env = append(os.Environ(), privateNetEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
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
