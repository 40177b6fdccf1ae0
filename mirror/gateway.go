package mirror

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"time"
)

// resolveGateway turns the Link's gateway addresses (IPs and DNS names)
// into the set of gateway IPs, all considered alive. A name that does not
// resolve is an error, so the caller can keep the last good set.
func resolveGateway(ctx context.Context, addresses []string) (Gateway, error) {
	var gw Gateway
	seen := map[string]bool{}
	add := func(ip string) {
		if !seen[ip] {
			seen[ip] = true
			gw.Addresses = append(gw.Addresses, GatewayAddress{IP: ip, Alive: true})
		}
	}
	for _, a := range addresses {
		if ip := net.ParseIP(a); ip != nil {
			add(ip.String())
			continue
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ips, err := net.DefaultResolver.LookupIP(ctx, "ip", a)
		cancel()
		if err != nil {
			return Gateway{}, fmt.Errorf("resolve gateway address %q: %w", a, err)
		}
		for _, ip := range ips {
			add(ip.String())
		}
	}
	sort.Slice(gw.Addresses, func(i, j int) bool { return gw.Addresses[i].IP < gw.Addresses[j].IP })
	return gw, nil
}

// gatewaysEqual compares two gateway sets, liveness included.
func gatewaysEqual(a, b Gateway) bool {
	return slices.Equal(a.Addresses, b.Addresses)
}

func (e *Engine) currentGateway() Gateway {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.gateway
}
