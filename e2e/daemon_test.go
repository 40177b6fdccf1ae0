package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svcmirror/svcmirror/e2e/benchmark"
	"github.com/svcmirror/svcmirror/e2e/testbed"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// svcmirrorBin is the daemon under test: $SVCMIRROR_BIN (make e2e sets it
// to the static build), else a binary built once for this test run.
func svcmirrorBin(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("SVCMIRROR_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "svcmirror-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "svcmirror")
		out, err := exec.Command("go", "build", "-o", builtBin, "..").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// daemon is one running `svcmirror run`.
type daemon struct {
	t     testing.TB
	proc  *testbed.Process
	addr  string
	args  []string
	pair  *testbed.Pair
	dir   string
	env   []string
	runNo int
}

// startDaemon runs svcmirror for the pair's Link, as its Deployment would,
// with the daemon's own ServiceAccount credentials.
func startDaemon(t testing.TB, p *testbed.Pair, extra ...string) *daemon {
	t.Helper()
	return startDaemonWithEnv(t, p, nil, extra...)
}

// startDaemonWithEnv is startDaemon with env added to the daemon's
// environment; later flags in extra win over the defaults.
func startDaemonWithEnv(t testing.TB, p *testbed.Pair, env []string, extra ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, pair: p, dir: t.TempDir(), env: env}
	d.args = append([]string{"run",
		"--kubeconfig=" + p.DaemonKubeconfig,
		"--namespace=" + testbed.LinkNamespace,
		"--link=" + p.ClusterName,
		"--conflict-retry=500ms",
		"-v=2",
	}, extra...)
	d.start()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(d.dir, "*.log"))
			for _, l := range logs {
				data, _ := os.ReadFile(l)
				lines := strings.Split(string(data), "\n")
				if len(lines) > 150 {
					lines = lines[len(lines)-150:]
				}
				t.Logf("--- last lines of %s ---\n%s", l, strings.Join(lines, "\n"))
			}
		}
	})
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	d.runNo++
	d.addr = freeAddr(d.t)
	args := append(append([]string(nil), d.args...), "--metrics-addr="+d.addr)
	var err error
	d.proc, err = testbed.StartProcessWithEnv("svcmirror", svcmirrorBin(d.t), args, d.env, filepath.Join(d.dir, fmt.Sprintf("svcmirror-%d.log", d.runNo)))
	if err != nil {
		d.t.Fatal(err)
	}
	testbed.Eventually(d.t, 10*time.Second, func() (bool, string) {
		if exited, err := d.proc.Exited(); exited {
			d.t.Fatalf("svcmirror exited at start-up: %v", err)
		}
		_, err := d.get("/ping")
		return err == nil, fmt.Sprintf("admin endpoint: %v", err)
	})
}

// stop ends the daemon with SIGTERM, as Kubernetes would.
func (d *daemon) stop() { d.proc.Stop(10 * time.Second) }

// restart stops and starts the daemon with the same arguments.
func (d *daemon) restart() {
	d.stop()
	d.start()
}

// alive fails the test if the daemon has exited.
func (d *daemon) alive() {
	d.t.Helper()
	if exited, err := d.proc.Exited(); exited {
		d.t.Fatalf("svcmirror exited: %v (see its log)", err)
	}
}

func (d *daemon) get(path string) (string, error) {
	resp, err := http.Get("http://" + d.addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("%s: status %d: %s", path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return string(body), err
}

// waitReady waits for /ready to answer 200.
func (d *daemon) waitReady() {
	d.t.Helper()
	testbed.Eventually(d.t, 60*time.Second, func() (bool, string) {
		d.alive()
		_, err := d.get("/ready")
		return err == nil, fmt.Sprint(err)
	})
}

// metric returns the sum of the daemon's series named name whose labels
// contain every one of match (e.g. `mode="gateway"`).
func (d *daemon) metric(name string, match ...string) float64 {
	d.t.Helper()
	body, err := d.get("/metrics")
	if err != nil {
		d.t.Fatal(err)
	}
	return benchmark.SumSeries(body, name, match...)
}

// localWrites counts the successful mutating requests (POST, PUT, PATCH,
// DELETE, APPLY) the source API server has served for Services,
// Endpoints and EndpointSlices, from its own apiserver_request_total (see
// benchmark.RequestCounts).
func localWrites(t testing.TB, c *testbed.Cluster) float64 {
	t.Helper()
	counts, err := benchmark.ScrapeRequests(context.Background(), c)
	if err != nil {
		t.Fatalf("scrape API server metrics: %v", err)
	}
	return benchmark.MirrorWrites(counts)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := testbed.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
