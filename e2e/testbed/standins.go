package testbed

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Ports of the stand-ins on the flat network.
const (
	// PodPort is where every stand-in pod answers HTTP.
	PodPort = 8080
	// GatewayPort and GatewayProbePort are the stand-in gateway's data and
	// probe ports, Linkerd's gateway's defaults (a Link's gatewayPort and
	// probeSpec.port).
	GatewayPort      = 4143
	GatewayProbePort = 4191
)

// Pod is a real process in a network namespace of its own, answering every
// HTTP request on IP:PodPort with its name. Register it in a cluster with
// Cluster.ReadyPod and PodSpec.IP = IP, and the cluster's EndpointSlices
// name this process.
type Pod struct {
	Name, IP string
	Netns    *Netns
	Process  *Process
}

// Addr is the pod's HTTP address, IP:PodPort.
func (p *Pod) Addr() string { return net.JoinHostPort(p.IP, strconv.Itoa(PodPort)) }

// StartPod starts a pod named name on ip and returns once it answers.
func (n *FlatNet) StartPod(ctx context.Context, name, ip string) (*Pod, error) {
	bin, err := StandInBin()
	if err != nil {
		return nil, err
	}
	ns, err := n.AddNetns("pod-"+name, ip)
	if err != nil {
		return nil, err
	}
	p := &Pod{Name: name, IP: ip, Netns: ns}
	if p.Process, err = ns.Start("pod-"+name, bin, "pod", "-name", name, "-listen", p.Addr()); err != nil {
		return nil, err
	}
	err = waitProcess(ctx, p.Process, "pod "+name+" answering", func() bool {
		got, err := httpGet("http://" + p.Addr() + "/")
		return err == nil && got == name
	})
	return p, err
}

// Gateway is a stand-in for Linkerd's multicluster gateway, in a network
// namespace of its own: a plain TCP relay from IP:GatewayPort to one pod,
// and GET /ready on IP:GatewayProbePort, which SetReady switches. Linkerd's
// gateway routes each mTLS connection by the identity the client asks for;
// a relay to one address is enough to show a gateway-mode mirror carrying
// traffic and kube-proxy following the gateway's readiness.
type Gateway struct {
	IP      string
	Netns   *Netns
	Process *Process
	// downFile makes /ready answer 503 while it exists.
	downFile string
}

// Addr is the gateway's data address, IP:GatewayPort.
func (g *Gateway) Addr() string { return net.JoinHostPort(g.IP, strconv.Itoa(GatewayPort)) }

// ProbeURL is the gateway's health endpoint, as a Link's probeSpec names it.
func (g *Gateway) ProbeURL() string {
	return "http://" + net.JoinHostPort(g.IP, strconv.Itoa(GatewayProbePort)) + "/ready"
}

// StartGateway starts a stand-in gateway on ip that relays to the address
// to (a Pod's Addr) and returns once its probe answers ready.
func (n *FlatNet) StartGateway(ctx context.Context, name, ip, to string) (*Gateway, error) {
	bin, err := StandInBin()
	if err != nil {
		return nil, err
	}
	ns, err := n.AddNetns("gw-"+name, ip)
	if err != nil {
		return nil, err
	}
	g := &Gateway{IP: ip, Netns: ns, downFile: filepath.Join(n.Dir, "gateway-"+name+".down")}
	g.Process, err = ns.Start("gateway-"+name, bin, "gateway",
		"-listen", g.Addr(), "-to", to,
		"-probe", net.JoinHostPort(ip, strconv.Itoa(GatewayProbePort)),
		"-down-file", g.downFile)
	if err != nil {
		return nil, err
	}
	err = waitProcess(ctx, g.Process, "gateway "+name+" ready", func() bool {
		_, err := httpGet(g.ProbeURL())
		return err == nil
	})
	return g, err
}

// SetReady makes the gateway's /ready answer 200 (true) or 503 (false) from
// the next probe on. The relay keeps relaying either way, as a real
// gateway failing its probe may still take connections.
func (g *Gateway) SetReady(ready bool) error {
	if ready {
		if err := os.Remove(g.downFile); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	return os.WriteFile(g.downFile, nil, 0o644)
}

// ProbeStatus is the HTTP status the gateway's /ready answers now.
func (g *Gateway) ProbeStatus() (int, error) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Get(g.ProbeURL())
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// httpGet GETs url from the test process (on the bridge) and returns the
// trimmed body of a 200 answer.
func httpGet(url string) (string, error) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	return strings.TrimSpace(string(body)), nil
}

// waitProcess polls ready every 100ms until it is true, the process exits,
// or a minute (or ctx) runs out; the control plane and the stand-ins both
// start this way.
func waitProcess(ctx context.Context, p *Process, what string, ready func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready() {
			return nil
		}
		if exited, err := p.Exited(); exited {
			return fmt.Errorf("%s exited (%v) before %s; see %s", p.Name, err, what, p.LogPath)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w; see %s", what, ctx.Err(), p.LogPath)
		case <-tick.C:
		}
	}
}
