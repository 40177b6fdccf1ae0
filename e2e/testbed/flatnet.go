package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The flat network's addresses: TEST-NET-2 (RFC 5737), which is never
// routed anywhere, and exists only inside the private network namespace of
// InPrivateNetwork anyway.
const (
	// FlatNetPrefix is the length of the flat network's prefix: every node,
	// pod and gateway is on one /24 behind one bridge, as pods of two
	// clusters are on a flat multicluster network.
	FlatNetPrefix = 24
	// HostIP is the test process's own address on the bridge. The test
	// clusters' API servers listen here (start them with
	// WithAddress(HostIP)), so kube-proxy and CoreDNS on a node reach them.
	HostIP = "198.51.100.1"
	// bridgeName is the bridge joining every namespace of the flat network.
	bridgeName = "tb0"
)

// FlatNet is a flat network of network namespaces on one bridge, inside
// the private network namespace of InPrivateNetwork (a test) or
// EnterPrivateNetwork (a program): a node namespace (kube-proxy, CoreDNS,
// the client), pod namespaces and gateway namespaces, each joined to the
// bridge by a veth pair and each on its own IP.
type FlatNet struct {
	// Dir holds the logs and configuration files of its processes.
	Dir string

	// atTestEnd, in a test, registers a function to run when the test
	// ends (t.Cleanup), so that each process stops before the clusters
	// it talks to; nil in a program, where Close stops everything.
	atTestEnd func(func())

	mu     sync.Mutex
	nss    []*Netns
	procs  []*Process
	veths  int
	closed bool
}

// NewFlatNet starts a flat network (see StartFlatNet) for the length of
// test t: every process in it is stopped, every namespace and the bridge
// deleted when the test ends, and the processes' logs printed if it failed.
// Outside the private network namespace of InPrivateNetwork it fails t.
func NewFlatNet(t testing.TB) *FlatNet {
	t.Helper()
	n, err := StartFlatNet(safeName(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	n.atTestEnd = t.Cleanup
	t.Cleanup(func() {
		n.stopProcesses()
		if t.Failed() {
			DumpLogs(t, n.Dir)
		}
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	})
	return n
}

// StartFlatNet makes the bridge, with HostIP on it, and a folder for the
// network's files named after label. It refuses to run outside a private
// network namespace (InPrivateNetwork, EnterPrivateNetwork), so that it
// never adds interfaces or routes to the host's network. There is one flat
// network per private namespace (its bridge has a fixed name). Close undoes
// it.
func StartFlatNet(label string) (*FlatNet, error) {
	if err := checkPrivateNetwork(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "svcmirror-"+label+"-flatnet-")
	if err != nil {
		return nil, err
	}
	n := &FlatNet{Dir: dir}
	if err := ipCmds(
		[]string{"link", "add", bridgeName, "type", "bridge"},
		[]string{"addr", "add", fmt.Sprintf("%s/%d", HostIP, FlatNetPrefix), "dev", bridgeName},
		[]string{"link", "set", bridgeName, "up"},
	); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return n, nil
}

// Netns is one network namespace on the flat network.
type Netns struct {
	// Name is the namespace's name for `ip netns`.
	Name string
	// IP is its address on the bridge.
	IP string

	net *FlatNet
}

// AddNetns makes a network namespace name with ip on its end of a veth pair
// whose other end is on the bridge, loopback up and a default route via
// HostIP (which is also how a node reaches a Service CIDR before kube-proxy
// rewrites the destination).
func (n *FlatNet) AddNetns(name, ip string) (*Netns, error) {
	n.mu.Lock()
	n.veths++
	hostEnd := fmt.Sprintf("tbveth%d", n.veths)
	n.mu.Unlock()
	if err := ipCmds([]string{"netns", "add", name}); err != nil {
		return nil, err
	}
	ns := &Netns{Name: name, IP: ip, net: n}
	n.mu.Lock()
	n.nss = append(n.nss, ns)
	n.mu.Unlock()
	err := ipCmds(
		[]string{"link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", name},
		[]string{"link", "set", hostEnd, "master", bridgeName, "up"},
		[]string{"-n", name, "link", "set", "lo", "up"},
		[]string{"-n", name, "addr", "add", fmt.Sprintf("%s/%d", ip, FlatNetPrefix), "dev", "eth0"},
		[]string{"-n", name, "link", "set", "eth0", "up"},
		[]string{"-n", name, "route", "add", "default", "via", HostIP},
	)
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", name, err)
	}
	return ns, nil
}

// Start runs bin with args inside the namespace as a test bed Process
// (killed with the test process, output in Dir/<name>.log). It is stopped
// when the test ends (in reverse order of starting, so before the clusters
// started earlier), or by Close.
func (ns *Netns) Start(name, bin string, args ...string) (*Process, error) {
	// `ip netns exec` execs bin in place: the Process is bin itself, so
	// signals and Pdeathsig reach it.
	p, err := StartProcess(name, "ip", append([]string{"netns", "exec", ns.Name, bin}, args...), filepath.Join(ns.net.Dir, name+".log"))
	if err != nil {
		return nil, err
	}
	ns.net.mu.Lock()
	ns.net.procs = append(ns.net.procs, p)
	ns.net.mu.Unlock()
	if ns.net.atTestEnd != nil {
		ns.net.atTestEnd(func() { p.Stop(5 * time.Second) })
	}
	return p, nil
}

// Run runs bin with args inside the namespace to completion and returns
// its standard output.
func (ns *Netns) Run(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, bin}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s in %s: %w: %s", filepath.Base(bin), ns.Name, err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Close stops every process still running, deletes the namespaces and the
// bridge (veth pairs go with their namespaces) and removes Dir. Calls
// after the first do nothing.
func (n *FlatNet) Close() error {
	n.stopProcesses()
	n.mu.Lock()
	nss, closed := n.nss, n.closed
	n.nss, n.closed = nil, true
	n.mu.Unlock()
	if closed {
		return nil
	}
	var errs []error
	for _, ns := range nss {
		if err := ipCmds([]string{"netns", "del", ns.Name}); err != nil {
			errs = append(errs, fmt.Errorf("delete network namespace: %w", err))
		}
	}
	if err := ipCmds([]string{"link", "del", bridgeName}); err != nil {
		errs = append(errs, fmt.Errorf("delete bridge: %w", err))
	}
	os.RemoveAll(n.Dir)
	return errors.Join(errs...)
}

// stopProcesses stops every process of the network, the last started first.
func (n *FlatNet) stopProcesses() {
	n.mu.Lock()
	procs := n.procs
	n.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop(5 * time.Second)
	}
}

// ipCmds runs `ip` once per argument list, stopping at the first failure.
func ipCmds(cmds ...[]string) error {
	for _, args := range cmds {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
