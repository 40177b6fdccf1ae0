package testbed

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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
