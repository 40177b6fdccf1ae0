package testbed

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// NetBinDirEnv, when set, names one folder holding kube-proxy and coredns,
// instead of the ones `make testbed` builds.
const NetBinDirEnv = "SVCMIRROR_TESTBED_NET_BIN"

// NetBinaries are the paths of the flat-network test bed's programs.
type NetBinaries struct {
	KubeProxy, CoreDNS string
}

// NetBins finds kube-proxy and coredns for the current pins: each is built
// by e2e/clusterbins/net/build.sh from its own module there, into
// .cache/testbed/net/<name>-<key>, where key is a hash of the module's
// go.mod, go.sum and *.go files (in name order), so that a change of pins
// never runs a stale binary and never rebuilds the control plane.
func NetBins() (NetBinaries, error) {
	if dir := os.Getenv(NetBinDirEnv); dir != "" {
		b := NetBinaries{KubeProxy: filepath.Join(dir, "kube-proxy"), CoreDNS: filepath.Join(dir, "coredns")}
		return b, checkNetBins(b)
	}
	root, err := RepoRoot()
	if err != nil {
		return NetBinaries{}, err
	}
	var b NetBinaries
	for name, path := range map[string]*string{"kube-proxy": &b.KubeProxy, "coredns": &b.CoreDNS} {
		key, err := netModuleKey(filepath.Join(root, "e2e", "clusterbins", "net", name))
		if err != nil {
			return NetBinaries{}, err
		}
		*path = filepath.Join(root, ".cache", "testbed", "net", name+"-"+key, name)
	}
	return b, checkNetBins(b)
}

// netModuleKey hashes what build.sh hashes: `cat go.mod go.sum *.go`.
func netModuleKey(dir string) (string, error) {
	return hashFiles(filepath.Join(dir, "go.mod"), filepath.Join(dir, "go.sum"), filepath.Join(dir, "*.go"))
}

// sourceKey hashes the *.go files of one package folder.
func sourceKey(dir string) (string, error) {
	return hashFiles(filepath.Join(dir, "*.go"))
}

// hashFiles returns the first 16 hex digits of the sha256 of the files
// that patterns name, concatenated in pattern order and, within a
// pattern, in name order (as a shell glob with LC_ALL=C lists them).
func hashFiles(patterns ...string) (string, error) {
	h := sha256.New()
	for _, pattern := range patterns {
		files, err := filepath.Glob(pattern)
		if err != nil {
			return "", err
		}
		if len(files) == 0 {
			return "", fmt.Errorf("no file matches %s", pattern)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return "", err
			}
			h.Write(data)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func checkNetBins(b NetBinaries) error {
	for _, path := range []string{b.KubeProxy, b.CoreDNS} {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("test bed binary %s missing: run `make testbed` first", path)
		}
	}
	return nil
}

// standIn caches the one build of e2e/testbed/standin per test process.
var standIn struct {
	once sync.Once
	path string
	err  error
}

// StandInBin builds the standin command (pods, the stand-in gateway and the
// node's client) into .cache/testbed/net/standin-<key>, where key is a hash
// of its sources, unless it is there already, and returns its path. It
// imports only the standard library, so the build takes a second or two.
// The build writes a name of its own and renames it into place, so that
// test processes side by side never run a half-written file.
func StandInBin() (string, error) {
	standIn.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			standIn.err = err
			return
		}
		src := filepath.Join(root, "e2e", "testbed", "standin")
		key, err := sourceKey(src)
		if err != nil {
			standIn.err = err
			return
		}
		dir := filepath.Join(root, ".cache", "testbed", "net")
		path := filepath.Join(dir, "standin-"+key)
		if _, err := os.Stat(path); err == nil {
			standIn.path = path
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			standIn.err = err
			return
		}
		tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
		cmd := exec.Command("go", "build", "-o", tmp, "./e2e/testbed/standin")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			standIn.err = fmt.Errorf("build standin: %v\n%s", err, out)
			return
		}
		if err := os.Rename(tmp, path); err != nil {
			standIn.err = err
			return
		}
		standIn.path = path
	})
	return standIn.path, standIn.err
}
