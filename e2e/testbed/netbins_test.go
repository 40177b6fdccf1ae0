package testbed

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// NetBins must look where e2e/clusterbins/net/build.sh builds: both hash
// each module folder's files, one in Go and one in the shell.
func TestNetModuleKeyMatchesBuildScript(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kube-proxy", "coredns"} {
		dir := filepath.Join(root, "e2e", "clusterbins", "net", name)
		got, err := netModuleKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", "-c", "cat go.mod go.sum *.go | sha256sum | cut -c1-16")
		cmd.Dir = dir
		cmd.Env = []string{"LC_ALL=C", "PATH=/usr/bin:/bin"}
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSpace(string(out)); got != want {
			t.Errorf("%s: netModuleKey = %s, build.sh's key = %s", name, got, want)
		}
	}
}

func TestSyncedOnceReadsKubeProxyMetrics(t *testing.T) {
	for _, tc := range []struct {
		name, metrics string
		want          bool
	}{
		{"no sync yet", "# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge\nkubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"} 0\n", false},
		{"one family synced", "kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"} 1.7964e+09\nkubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv6\"} 0\n", true},
		{"without labels", "kubeproxy_sync_proxy_rules_last_timestamp_seconds 1.7964e+09\n", true},
		{"metric missing", "process_cpu_seconds_total 1\n", false},
	} {
		if got := syncedOnce(tc.metrics); got != tc.want {
			t.Errorf("%s: syncedOnce = %v, want %v", tc.name, got, tc.want)
		}
	}
}
