// Command standin plays the parts of the flat-network test bed that are
// neither Kubernetes nor the daemon: a pod answering HTTP with its own name,
// a stand-in for Linkerd's multicluster gateway, and a client that makes
// requests from inside a network namespace. The test bed runs each one
// under `ip netns exec`, so each is a real process with its own network
// stack; the e2e package builds it with `go build` (see testbed.StandInBin).
//
//	standin pod -name web-0 -listen 198.51.100.11:8080
//	standin gateway -listen 198.51.100.20:4143 -to 198.51.100.11:8080 -probe 198.51.100.20:4191 -down-file /tmp/x/down
//	standin get -dns 198.51.100.2:53 -n 30 http://bb.ns.svc.cluster.local:8080/
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: standin pod|gateway|get [flags]")
		os.Exit(2)
	}
	args := os.Args[2:]
	var err error
	switch os.Args[1] {
	case "pod":
		err = runPod(args)
	case "gateway":
		err = runGateway(args)
	case "get":
		err = runGet(args)
	default:
		err = fmt.Errorf("unknown role %q (want pod, gateway or get)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		os.Exit(1)
	}
}

func newFlags(role string) *flag.FlagSet {
	return flag.NewFlagSet("standin "+role, flag.ContinueOnError)
}
