package testbed

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A cluster that fails to start returns its error; the clean-up of what
// it started must not trip over the nil *Cluster an error return yields.
func TestNewReportsAFailedStartInsteadOfPanicking(t *testing.T) {
	bins := t.TempDir()
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		if err := os.WriteFile(filepath.Join(bins, name), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(BinDirEnv, bins)
	c, err := New(context.Background(), Options{Name: "bad", Dir: t.TempDir(), Address: "not-an-ip"})
	if err == nil || !strings.Contains(err.Error(), `"not-an-ip" is not an IP`) {
		t.Fatalf("New with a bad address: err = %v, want the address named", err)
	}
	if c != nil {
		t.Errorf("New returned a cluster with its error: %+v", c)
	}
}

// Clusters start side by side, each checking ports free and closing them
// before its processes bind them; no two may be handed the same port.
func TestFreePortsNeverHandsOutAPortTwice(t *testing.T) {
	const calls, perCall = 250, 4 // far more ports than a birthday collision needs
	results := make([][]int, calls)
	errs := make([]error, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() { results[i], errs[i] = freePorts("127.0.0.1", perCall) })
	}
	wg.Wait()
	seen := map[int]bool{}
	for i, ports := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if len(ports) != perCall {
			t.Fatalf("got %d ports, want %d", len(ports), perCall)
		}
		for _, p := range ports {
			if seen[p] {
				t.Fatalf("port %d handed out twice", p)
			}
			if p < portRangeLow || p >= portRangeHigh {
				t.Errorf("port %d outside %d-%d, where outgoing connections may take it", p, portRangeLow, portRangeHigh-1)
			}
			seen[p] = true
		}
	}
}
