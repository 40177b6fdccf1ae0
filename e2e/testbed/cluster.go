// Package testbed runs real Kubernetes control planes (etcd,
// kube-apiserver, kube-controller-manager) on 127.0.0.1 for end-to-end
// tests and the demo. Several clusters run side by side; each has its own
// data folder, ports, certificates and admin credentials.
package testbed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// AdminToken is the static bearer token of each cluster's admin user (a
// member of system:masters).
const AdminToken = "svcmirror-testbed-admin-token"

// Options shape one cluster.
type Options struct {
	// Name names the cluster in logs and kubeconfig contexts.
	Name string
	// Dir is the cluster's own folder (data, certificates, logs); it must exist.
	Dir string
	// Address is the IP the API server listens on and advertises; default
	// 127.0.0.1. Tests inside a private network namespace use another one.
	Address string
	// AuditLog makes the API server log every write (create, update, patch,
	// delete) to <Dir>/audit.log; AuditWrites reads it.
	AuditLog bool
	// AuditReads makes the audit log record every list and watch too,
	// with its request URI (the resourceVersion and sendInitialEvents a
	// client asked for); AuditReads reads them. It implies AuditLog.
	AuditReads bool
	// APIServerFlags are extra kube-apiserver flags, passed after the test
	// bed's own (a flag given twice takes the later value).
	APIServerFlags []string
	// Logf, if set, receives progress lines.
	Logf func(format string, args ...any)
}

// Cluster is one running test cluster.
type Cluster struct {
	Name string
	Dir  string
	// Host is the API server's URL, e.g. https://127.0.0.1:40123.
	Host string
	// KubeconfigPath is an admin kubeconfig file for this cluster.
	KubeconfigPath string
	// Config is an admin client configuration; copy it before changing it.
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface

	opts    Options
	bins    string
	pki     *pki
	apiPort int
	etcdURL string

	etcd, apiserver, controllerManager *Process
}

// New starts a cluster and returns once its API server is ready and
// kube-controller-manager runs its controllers. On error everything
// started so far is stopped again.
func New(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.Address == "" {
		opts.Address = "127.0.0.1"
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	bins, err := BinDir()
	if err != nil {
		return nil, err
	}
	// c is not the named result: the error returns set that to nil, and
	// the deferred clean-up must still reach what was started.
	c := &Cluster{Name: opts.Name, Dir: opts.Dir, opts: opts, bins: bins}
	defer func() {
		if err != nil {
			c.Stop()
			err = fmt.Errorf("cluster %s: %w (logs in %s)", opts.Name, err, opts.Dir)
		}
	}()

	ip := net.ParseIP(opts.Address)
	if ip == nil {
		return nil, fmt.Errorf("address %q is not an IP", opts.Address)
	}
	if c.pki, err = newPKI(opts.Dir, []net.IP{ip, net.ParseIP("127.0.0.1")}); err != nil {
		return nil, err
	}
	ports, err := freePorts(opts.Address, 3)
	if err != nil {
		return nil, err
	}
	c.apiPort = ports[2]
	c.Host = "https://" + net.JoinHostPort(opts.Address, strconv.Itoa(c.apiPort))
	if err := c.writeKubeconfig(); err != nil {
		return nil, err
	}

	start := time.Now()
	if err := c.startEtcd(ctx, ports[0], ports[1]); err != nil {
		return nil, err
	}
	if err := c.StartAPIServer(ctx); err != nil {
		return nil, err
	}
	if err := c.startControllerManager(ctx); err != nil {
		return nil, err
	}
	opts.Logf("testbed: cluster %s up at %s in %s", opts.Name, c.Host, time.Since(start).Round(time.Millisecond))
	return c, nil
}

func (c *Cluster) startEtcd(ctx context.Context, clientPort, peerPort int) error {
	c.etcdURL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(clientPort))
	peerURL := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(peerPort))
	args := []string{
		"--name=" + c.Name,
		"--data-dir=" + filepath.Join(c.Dir, "etcd-data"),
		"--listen-client-urls=" + c.etcdURL,
		"--advertise-client-urls=" + c.etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=" + c.Name + "=" + peerURL,
		// Test data is thrown away: skipping fsync makes writes as fast as
		// the API server can send them, as on a production SSD.
		"--unsafe-no-fsync",
		"--log-level=warn",
	}
	var err error
	if c.etcd, err = StartProcess("etcd", filepath.Join(c.bins, "etcd"), args, filepath.Join(c.Dir, "etcd.log")); err != nil {
		return err
	}
	client := &http.Client{Timeout: time.Second}
	return waitProcess(ctx, c.etcd, "etcd healthy", func() bool {
		resp, err := client.Get(c.etcdURL + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// StartAPIServer starts kube-apiserver on the cluster's port and waits for
// /readyz. New calls it; tests call it again after StopAPIServer to bring
// a cluster back, as after an outage.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	if c.apiserver != nil {
		if exited, _ := c.apiserver.Exited(); !exited {
			return errors.New("kube-apiserver is already running")
		}
	}
	tokens := filepath.Join(c.Dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(AdminToken+",admin,admin-uid,\"system:masters\"\n"), 0o600); err != nil {
		return err
	}
	args := []string{
		"--etcd-servers=" + c.etcdURL,
		"--bind-address=" + c.opts.Address,
		"--advertise-address=" + c.opts.Address,
		"--secure-port=" + strconv.Itoa(c.apiPort),
		"--tls-cert-file=" + c.pki.certPath,
		"--tls-private-key-file=" + c.pki.keyPath,
		"--client-ca-file=" + c.pki.caPath,
		"--token-auth-file=" + tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + ServiceAccountIssuer,
		"--service-account-key-file=" + c.pki.saPubKeyPath,
		"--service-account-signing-key-file=" + c.pki.saKeyPath,
		// Room for the benchmark's thousands of ClusterIP Services.
		"--service-cluster-ip-range=10.96.0.0/16",
		// Pods here are stand-ins that never run: without a kubelet nothing
		// would mount a service-account token, and the admission plugin
		// would refuse pods made before the namespace's default account.
		"--disable-admission-plugins=ServiceAccount",
		"--profiling=false",
		// The API server's own default/kubernetes Endpoints would hold the
		// advertise address, and the API rejects a loopback IP there: the
		// reconciler would fail a POST every 10s, noise in the write counts
		// that the tests and the benchmark read. Nothing here needs them.
		"--endpoint-reconciler-type=none",
	}
	if c.opts.AuditLog || c.opts.AuditReads {
		policy := filepath.Join(c.Dir, "audit-policy.yaml")
		if err := os.WriteFile(policy, []byte(auditPolicyFor(c.opts.AuditReads)), 0o600); err != nil {
			return err
		}
		args = append(args, "--audit-policy-file="+policy, "--audit-log-path="+c.auditLogPath(), "--audit-log-format=json")
	}
	args = append(args, c.opts.APIServerFlags...)
	var err error
	if c.apiserver, err = StartProcess("kube-apiserver", filepath.Join(c.bins, "kube-apiserver"), args, filepath.Join(c.Dir, "kube-apiserver.log")); err != nil {
		return err
	}
	client, err := c.httpClient(AdminToken)
	if err != nil {
		return err
	}
	return waitProcess(ctx, c.apiserver, "kube-apiserver ready", func() bool {
		resp, err := client.Get(c.Host + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// StopAPIServer kills kube-apiserver, as a crash or network cut would;
// etcd keeps the data for StartAPIServer.
func (c *Cluster) StopAPIServer() {
	if c.apiserver != nil {
		c.apiserver.Kill()
	}
}

func (c *Cluster) startControllerManager(ctx context.Context) error {
	args := []string{
		"--kubeconfig=" + c.KubeconfigPath,
		// The node lifecycle controller would evict the pods of the fake
		// node, whose kubelet never reports in.
		"--controllers=*,-node-lifecycle-controller",
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file=" + c.pki.saKeyPath,
		"--root-ca-file=" + c.pki.caPath,
	}
	var err error
	if c.controllerManager, err = StartProcess("kube-controller-manager", filepath.Join(c.bins, "kube-controller-manager"), args, filepath.Join(c.Dir, "kube-controller-manager.log")); err != nil {
		return err
	}
	// The service-account controller making the default namespace's
	// account shows that the controllers are running.
	return waitProcess(ctx, c.controllerManager, "kube-controller-manager running", func() bool {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
}

// Stop ends every process of the cluster. It is safe to call more than once.
func (c *Cluster) Stop() {
	for _, p := range []*Process{c.controllerManager, c.apiserver, c.etcd} {
		if p != nil {
			p.Stop(5 * time.Second)
		}
	}
}

// Processes lists the cluster's processes, for logs and leak checks.
func (c *Cluster) Processes() []*Process {
	var ps []*Process
	for _, p := range []*Process{c.etcd, c.apiserver, c.controllerManager} {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// Kubeconfig returns a kubeconfig for this cluster that authenticates with
// token: the admin's, or a ServiceAccount's.
func (c *Cluster) Kubeconfig(token string) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[c.Name] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.pki.caPEM}
	cfg.AuthInfos[c.Name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: c.Name}
	cfg.CurrentContext = c.Name
	return clientcmd.Write(*cfg)
}

func (c *Cluster) writeKubeconfig() error {
	data, err := c.Kubeconfig(AdminToken)
	if err != nil {
		return err
	}
	c.KubeconfigPath = filepath.Join(c.Dir, "kubeconfig")
	if err := os.WriteFile(c.KubeconfigPath, data, 0o600); err != nil {
		return err
	}
	if c.Config, err = clientcmd.RESTConfigFromKubeConfig(data); err != nil {
		return err
	}
	// Tests create thousands of objects; client-go's default 5 QPS would
	// measure the client, not the cluster.
	c.Config.QPS, c.Config.Burst = 1000, 2000
	// Tests read and write core/v1 Endpoints on purpose; the API server's
	// deprecation warning on each request is noise in test output.
	c.Config.WarningHandler = rest.NoWarnings{}
	c.Client, err = kubernetes.NewForConfig(c.Config)
	return err
}

// httpClient is a plain HTTPS client trusting the cluster's CA and
// sending token, for health checks and raw requests.
func (c *Cluster) httpClient(token string) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.pki.caPEM) {
		return nil, errors.New("bad CA PEM")
	}
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &bearerTransport{token: token, base: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool},
		}},
	}, nil
}

// Get sends a GET for path to the API server with token and returns the
// status code and body.
func (c *Cluster) Get(ctx context.Context, token, path string) (int, string, error) {
	client, err := c.httpClient(token)
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Host+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, err = io.Copy(&b, resp.Body)
	return resp.StatusCode, b.String(), err
}

type bearerTransport struct {
	token string
	base  http.RoundTripper
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+t.token)
	return t.base.RoundTrip(req)
}

// FreeAddr returns a free loopback address ("127.0.0.1:port") for a
// process of a test's (the daemon's admin server) to listen on.
func FreeAddr() (string, error) {
	ports, err := freePorts("127.0.0.1", 1)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), nil
}

// Ports are drawn at random from below Linux's default ephemeral range
// (32768-60999), so that the source port of some outgoing connection
// cannot take one between the check here and the bind by the process it
// is for.
const portRangeLow, portRangeHigh = 20000, 32768

// portsHandedOut are the ports freePorts has given out in this process.
// Clusters start side by side: a port one caller checked and closed must
// not reach another before the first one's process binds it.
var (
	portsMu        sync.Mutex
	portsHandedOut = map[int]bool{}
)

// freePorts returns n TCP ports on address that are free now and that no
// earlier call in this process returned.
func freePorts(address string, n int) ([]int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries == 1000 {
			return nil, fmt.Errorf("no free TCP port on %s in %d-%d after %d tries", address, portRangeLow, portRangeHigh-1, tries)
		}
		port := portRangeLow + rand.IntN(portRangeHigh-portRangeLow)
		if portsHandedOut[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(address, strconv.Itoa(port)))
		if err != nil {
			continue // in use
		}
		l.Close()
		portsHandedOut[port] = true
		ports = append(ports, port)
	}
	return ports, nil
}
