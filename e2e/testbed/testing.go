package testbed

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Start runs a cluster for the length of test t: it is stopped and its
// folder removed when the test ends, and every component's log tail is
// printed if the test failed.
func Start(t testing.TB, name string, opts ...func(*Options)) *Cluster {
	t.Helper()
	return StartAll(t, []string{name}, opts...)[0]
}

func mkdirFor(t testing.TB, name string) (string, error) {
	return os.MkdirTemp("", "svcmirror-"+safeName(t.Name())+"-"+name+"-")
}

// cleanupCluster stops c (nil when it failed to start) and removes its
// folder when the test ends, printing its logs first if the test failed.
func cleanupCluster(t testing.TB, c *Cluster, dir string) {
	t.Cleanup(func() {
		if c != nil {
			c.Stop()
		}
		if t.Failed() {
			DumpLogs(t, dir)
		}
		os.RemoveAll(dir)
	})
}

// WithAuditLog makes the API server log every write (see AuditWrites).
func WithAuditLog() func(*Options) { return func(o *Options) { o.AuditLog = true } }

// WithAuditReads makes the API server log every list and watch as well as
// every write (see AuditReads).
func WithAuditReads() func(*Options) {
	return func(o *Options) { o.AuditLog, o.AuditReads = true, true }
}

// WithAPIServerFlags passes extra flags to the API server (see
// Options.APIServerFlags).
func WithAPIServerFlags(flags ...string) func(*Options) {
	return func(o *Options) { o.APIServerFlags = append(o.APIServerFlags, flags...) }
}

// OnCluster applies opts only to the cluster named name, for StartAll's
// clusters that should differ (e.g. only the target's API server
// configured for a fault).
func OnCluster(name string, opts ...func(*Options)) func(*Options) {
	return func(o *Options) {
		if o.Name != name {
			return
		}
		for _, opt := range opts {
			opt(o)
		}
	}
}

// WithAddress makes the cluster's API server listen on and advertise ip.
func WithAddress(ip string) func(*Options) {
	return func(o *Options) { o.Address = ip }
}

// DumpLogs prints the last lines of every *.log file in dir, so that a
// failed test shows what the components said.
func DumpLogs(t testing.TB, dir string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, path := range logs {
		t.Logf("--- last lines of %s ---\n%s", path, tail(path, 40))
	}
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9-]+`)

func safeName(s string) string {
	s = unsafeChars.ReplaceAllString(s, "-")
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}
