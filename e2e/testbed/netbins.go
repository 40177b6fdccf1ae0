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
	goFiles, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range append([]string{filepath.Join(dir, "go.mod"), filepath.Join(dir, "go.sum")}, goFiles...) {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		h.Write(data)
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
// node's client) and returns its path, .cache/testbed/net/standin. It is
// part of this module and imports only the standard library, so after the
// first time `go build` takes it from the build cache; each process builds
// once, to a name of its own that is then renamed into place, so that test
// processes side by side never see a half-written file.
func StandInBin() (string, error) {
	standIn.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			standIn.err = err
			return
		}
		dir := filepath.Join(root, ".cache", "testbed", "net")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			standIn.err = err
			return
		}
		path := filepath.Join(dir, "standin")
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
