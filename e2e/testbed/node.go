package testbed

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// Ports of the node's daemons, on the node's IP.
const (
	// DNSPort is where the node's CoreDNS answers cluster.local.
	DNSPort = 53
	// coreDNSReadyPort serves CoreDNS's /ready: 200 once its kubernetes
	// plugin has listed Services and EndpointSlices.
	coreDNSReadyPort = 8181
	// kubeProxyHealthPort and kubeProxyMetricsPort are kube-proxy's
	// defaults, on the node IP instead of all addresses and loopback.
	kubeProxyHealthPort  = 10256
	kubeProxyMetricsPort = 10249
)

// Node is a source-cluster node on the flat network: a network namespace
// where kube-proxy (nftables mode) programs the cluster's Services and
// CoreDNS answers cluster.local from the cluster's API server, and where
// Get runs a client, as a pod on that node would.
type Node struct {
	// Name is the Node object's name, which kube-proxy runs as.
	Name string
	// IP is the node's address on the flat network (the Node's InternalIP).
	IP string
	// DNSAddr is CoreDNS's address, IP:DNSPort.
	DNSAddr string

	Netns              *Netns
	KubeProxy, CoreDNS *Process
}

// StartNode makes a Node object name in c with ip as its InternalIP, a
// network namespace on ip, and starts CoreDNS and kube-proxy there, both
// reading c with its admin credentials. It returns once CoreDNS has
// synced and kube-proxy has programmed its rules once. c's API server must
// listen on HostIP (WithAddress(HostIP)).
func (n *FlatNet) StartNode(ctx context.Context, c *Cluster, name, ip string) (*Node, error) {
	bins, err := NetBins()
	if err != nil {
		return nil, err
	}
	if !strings.Contains(c.Host, "//"+HostIP+":") {
		return nil, fmt.Errorf("cluster %s serves at %s; the node reaches only %s (start it WithAddress(testbed.HostIP))", c.Name, c.Host, HostIP)
	}
	if err := createNode(ctx, c, name, ip); err != nil {
		return nil, err
	}
	ns, err := n.AddNetns("node-"+name, ip)
	if err != nil {
		return nil, err
	}
	nd := &Node{Name: name, IP: ip, DNSAddr: net.JoinHostPort(ip, strconv.Itoa(DNSPort)), Netns: ns}
	if err := nd.startCoreDNS(ctx, n.Dir, bins.CoreDNS, c); err != nil {
		return nil, err
	}
	if err := nd.startKubeProxy(ctx, bins.KubeProxy, c); err != nil {
		return nil, err
	}
	return nd, nil
}

// createNode makes the Node kube-proxy runs as. kube-proxy waits for its
// Node's status.addresses before it programs anything.
func createNode(ctx context.Context, c *Cluster, name, ip string) error {
	nodes := c.Client.CoreV1().Nodes()
	if _, err := nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create node %s: %w", name, err)
	}
	// kube-controller-manager's node controllers edit a new Node at once:
	// read it again on a conflict rather than fail.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := nodes.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		node.Status.Addresses = []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: ip},
			{Type: corev1.NodeHostName, Address: name},
		}
		_, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("set addresses of node %s: %w", name, err)
	}
	return nil
}

func (nd *Node) startCoreDNS(ctx context.Context, dir, bin string, c *Cluster) error {
	// ttl 0: an answer is never reused after the EndpointSlices change,
	// so a test sees each change as soon as CoreDNS's informer does.
	corefile := fmt.Sprintf(`cluster.local:%d {
    bind %s
    errors
    log
    ready %s:%d
    kubernetes cluster.local {
        kubeconfig %s
        ttl 0
    }
}
`, DNSPort, nd.IP, nd.IP, coreDNSReadyPort, c.KubeconfigPath)
	path := filepath.Join(dir, "Corefile-"+nd.Name)
	if err := os.WriteFile(path, []byte(corefile), 0o644); err != nil {
		return err
	}
	var err error
	if nd.CoreDNS, err = nd.Netns.Start("coredns-"+nd.Name, bin, "-conf", path); err != nil {
		return err
	}
	ready := "http://" + net.JoinHostPort(nd.IP, strconv.Itoa(coreDNSReadyPort)) + "/ready"
	return waitProcess(ctx, nd.CoreDNS, "CoreDNS ready", func() bool {
		_, err := httpGet(ready)
		return err == nil
	})
}

func (nd *Node) startKubeProxy(ctx context.Context, bin string, c *Cluster) error {
	args := []string{
		"--kubeconfig=" + c.KubeconfigPath,
		"--proxy-mode=nftables",
		"--hostname-override=" + nd.Name,
		"--healthz-bind-address=" + net.JoinHostPort(nd.IP, strconv.Itoa(kubeProxyHealthPort)),
		"--metrics-bind-address=" + net.JoinHostPort(nd.IP, strconv.Itoa(kubeProxyMetricsPort)),
		// Zero leaves each conntrack sysctl as the kernel has it: the limits
		// are the host's business, not a test's.
		"--conntrack-max-per-core=0",
		"--conntrack-tcp-timeout-established=0",
		"--conntrack-tcp-timeout-close-wait=0",
		"--v=2",
	}
	var err error
	if nd.KubeProxy, err = nd.Netns.Start("kube-proxy-"+nd.Name, bin, args...); err != nil {
		return err
	}
	// kube-proxy reports healthy from the start; its sync timestamp says
	// that it has written its nftables rules at least once.
	metrics := "http://" + net.JoinHostPort(nd.IP, strconv.Itoa(kubeProxyMetricsPort)) + "/metrics"
	return waitProcess(ctx, nd.KubeProxy, "kube-proxy's first sync", func() bool {
		body, err := httpGet(metrics)
		return err == nil && syncedOnce(body)
	})
}

// syncedOnce reads kube-proxy's metrics: its last-sync timestamp (one
// series per IP family) is 0 until the first full sync of its rules.
func syncedOnce(metrics string) bool {
	for _, line := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(line, "kubeproxy_sync_proxy_rules_last_timestamp_seconds") {
			continue
		}
		fields := strings.Fields(line)
		if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil && v > 0 {
			return true
		}
	}
	return false
}

// Answer is the result of one request from the node: the pod name that
// answered, or the error.
type Answer struct {
	Body string
	Err  string
}

// Get sends n requests to url from inside the node's namespace, each on a
// new connection and with names resolved by the node's CoreDNS only, and
// returns one Answer per request. An error means the client could not run;
// failed requests are Answers with Err set.
func (nd *Node) Get(ctx context.Context, url string, n int) ([]Answer, error) {
	bin, err := StandInBin()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(n)*3*time.Second+5*time.Second)
	defer cancel()
	out, err := nd.Netns.Run(ctx, bin, "get", "-dns", nd.DNSAddr, "-n", strconv.Itoa(n), "-timeout", "2s", url)
	if err != nil {
		return nil, err
	}
	var answers []Answer
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if body, ok := strings.CutPrefix(line, "ok "); ok {
			answers = append(answers, Answer{Body: body})
		} else if reason, ok := strings.CutPrefix(line, "error "); ok {
			answers = append(answers, Answer{Err: reason})
		}
	}
	if len(answers) != n {
		return nil, fmt.Errorf("the client on node %s printed %d answers for %d requests: %q", nd.Name, len(answers), n, out)
	}
	return answers, nil
}

// LookupHost asks the node's CoreDNS, and nothing else, for the addresses
// of host.
func (nd *Node) LookupHost(ctx context.Context, host string) ([]string, error) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, nd.DNSAddr)
	}}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return r.LookupHost(ctx, host)
}
