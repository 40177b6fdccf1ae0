package e2e

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// netnsEnv marks a test process already running inside its private
// network namespace.
const netnsEnv = "SVCMIRROR_E2E_NETNS"

// hostsEnv names the file bind-mounted over /etc/hosts inside the
// namespace, which a test may rewrite to move a DNS name.
const hostsEnv = "SVCMIRROR_E2E_HOSTS"

// inPrivateNetwork makes the calling test run inside a fresh network and
// mount namespace in which each of addrs is a local address on lo and
// /etc/hosts is a private copy. Kubernetes rejects loopback IPs in
// Endpoints, so a gateway stand-in needs a documentation address such as
// 192.0.2.10, which is local there and reaches nothing outside.
//
// Outside the namespace it re-runs the test binary for just this test under
// `unshare --net --mount`, fails t with the child's output if the child
// fails, and returns false; inside it returns true and the test goes on.
func inPrivateNetwork(t *testing.T, hosts string, addrs ...string) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == "1" {
		return true
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("this test needs unshare(1) from util-linux: %v", err)
	}
	hostsFile := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hostsFile, []byte("127.0.0.1 localhost\n"+hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `set -e
ip link set lo up
for a in ` + strings.Join(addrs, " ") + `; do ip addr add "$a/32" dev lo; done
mount --bind "$` + hostsEnv + `" /etc/hosts
exec "$@"`
	cmd := exec.Command("unshare", "--net", "--mount", "sh", "-c", script, "sh",
		os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=15m")
	cmd.Env = append(os.Environ(), netnsEnv+"=1", hostsEnv+"="+hostsFile, "SVCMIRROR_BIN="+svcmirrorBin(t))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		t.Fatalf("%s in a private network namespace: %v\n%s", t.Name(), err, out.String())
	}
	if !strings.Contains(out.String(), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not pass in the private network namespace:\n%s", t.Name(), out.String())
	}
	return false
}

// gatewayStandIn serves the gateway's health endpoint (/ready) on ip:port
// and can be stopped and started again on the same address.
type gatewayStandIn struct {
	t    testing.TB
	addr string
	srv  *http.Server
	hits atomic.Int64
}

func startGateway(t testing.TB, ip, port string) *gatewayStandIn {
	g := &gatewayStandIn{t: t, addr: net.JoinHostPort(ip, port)}
	g.start()
	t.Cleanup(g.stop)
	return g
}

func (g *gatewayStandIn) start() {
	g.t.Helper()
	l, err := net.Listen("tcp", g.addr)
	if err != nil {
		g.t.Fatal(err)
	}
	g.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.hits.Add(1)
		if r.URL.Path == "/ready" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	})}
	go g.srv.Serve(l)
}

func (g *gatewayStandIn) stop() {
	if g.srv != nil {
		g.srv.Close()
		g.srv = nil
	}
}
