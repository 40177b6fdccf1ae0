package testbed

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// orphanChildEnv makes this test binary act as a "test process" that
// starts a long-running child and then waits to be killed.
const orphanChildEnv = "TESTBED_ORPHAN_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(orphanChildEnv) != "" {
		p, err := StartProcess("sleeper", "sleep", []string{"300"}, filepath.Join(os.Getenv(orphanChildEnv), "sleeper.log"))
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString(strconv.Itoa(p.Pid()) + "\n")
		select {} // wait to be killed
	}
	os.Exit(m.Run())
}

// A test process killed with SIGKILL (as `go test -timeout` or a CI abort
// would) must not leave its cluster processes running.
func TestChildDiesWithTestProcess(t *testing.T) {
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), orphanChildEnv+"="+t.TempDir())
	stdout, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read child pid: %v", err)
	}
	childPid, err := strconv.Atoi(line[:len(line)-1])
	if err != nil {
		t.Fatal(err)
	}
	if !alive(childPid) {
		t.Fatalf("child %d not running before the parent is killed", childPid)
	}

	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	Eventually(t, 10*time.Second, func() (bool, string) {
		return !alive(childPid), "child process " + strconv.Itoa(childPid) + " still alive after its parent was killed"
	})
}

func TestStopEndsProcess(t *testing.T) {
	p, err := StartProcess("sleeper", "sleep", []string{"300"}, filepath.Join(t.TempDir(), "sleeper.log"))
	if err != nil {
		t.Fatal(err)
	}
	pid := p.Pid()
	p.Stop(time.Second)
	if exited, _ := p.Exited(); !exited {
		t.Fatal("Stop returned before the process ended")
	}
	if alive(pid) {
		t.Fatalf("process %d still alive after Stop", pid)
	}
}

// alive reports whether pid names a running (not zombie) process.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// Field 3 of /proc/<pid>/stat is the state; Z is a zombie awaiting reaping.
	for i := 0; i < len(stat); i++ {
		if stat[i] == ')' && i+2 < len(stat) {
			return stat[i+2] != 'Z'
		}
	}
	return true
}
