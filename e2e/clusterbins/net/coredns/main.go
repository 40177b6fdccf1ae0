// Command coredns is CoreDNS from the pinned github.com/coredns/coredns
// module, with only the plugins the flat-network test bed's Corefile uses.
// Its own main.go does nothing but `coremain.Run()` after importing
// core/plugin, which links every plugin in (cloud DNS providers, etcd,
// dnstap, ...) for several minutes of compiling that the test bed never
// uses; this file is that main.go with a shorter import list. Directive
// order still comes from CoreDNS's own dnsserver.Directives.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
