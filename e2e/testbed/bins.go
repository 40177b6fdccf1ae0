package testbed

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// BinDirEnv, when set, names the folder holding etcd, kube-apiserver and
// kube-controller-manager, instead of the one `make testbed` builds.
const BinDirEnv = "SVCMIRROR_TESTBED_BIN"

// RepoRoot finds the svcmirror checkout by walking up from the working
// directory to the folder holding e2e/clusterbins/go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "e2e", "clusterbins", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no svcmirror checkout above the working directory")
		}
		dir = parent
	}
}

// BinDir is where the cluster binaries for the current pins live: the same
// key e2e/clusterbins/build.sh computes (a hash of that module's go.mod and
// go.sum), so a change of pins never runs stale binaries.
func BinDir() (string, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		return dir, checkBins(dir)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(root, "e2e", "clusterbins", f))
		if err != nil {
			return "", err
		}
		h.Write(data)
	}
	dir := filepath.Join(root, ".cache", "testbed", hex.EncodeToString(h.Sum(nil))[:16], "bin")
	return dir, checkBins(dir)
}

func checkBins(dir string) error {
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("test bed binary %s missing in %s: run `make testbed` first", name, dir)
		}
	}
	return nil
}
