// Command bench is `make bench`: it measures svcmirror on two local
// clusters against the floor of this machine (see BENCHMARKS.md) and
// prints the figures as Markdown.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/svcmirror/svcmirror/e2e/benchmark"
	"github.com/svcmirror/svcmirror/mirror/plan"
)

func main() {
	opts := benchmark.Options{}
	sizes := flag.String("sizes", "500,2000,5000", "numbers of exported Services, comma-separated; one measurement each (empty: none)")
	flag.IntVar(&opts.Rounds, "rounds", 3, "paired floor and convergence measurements per size; the ratio is their median")
	flag.StringVar(&opts.Svcmirror, "svcmirror", "bin/svcmirror", "the svcmirror binary to measure")
	daemonArgs := flag.String("daemon-args", "", "extra flags for `svcmirror run`, space-separated (e.g. \"--workers=32\")")
	daemonEnv := flag.String("daemon-env", "", "KEY=value entries added to the daemon's environment alone, space-separated (e.g. \"GOMEMLIMIT=256MiB\", as the Deployment sets)")
	flag.IntVar(&opts.Endpoints, "endpoints", 3, "ready endpoints per remote Service")
	mode := flag.String("mode", "gateway", "how the sizes' remote Services are exported: gateway (mirrors point at the gateway) or flat (remote-discovery: mirrors get the remote pods' addresses); the failover measurement always uses gateway")
	flag.IntVar(&opts.Workers, "workers", 64, "parallelism of the benchmark's own writes (the floor, set-up, unexport)")
	flag.DurationVar(&opts.Quiet, "quiet", 60*time.Second, "how long writes are counted after convergence")
	flag.BoolVar(&opts.NoFloor, "no-floor", false, "skip the floor (no ratio): for memory and latency figures at large sizes")
	flag.BoolVar(&opts.LiveSetup, "live-setup", false, "create the remote Services while the daemon runs, then restart it against the converged state and measure that too (needs -rounds 1 -no-floor): for 50,000, where set-up and convergence one after the other take hours")
	flag.IntVar(&opts.Restarts, "restarts", 1, "with -live-setup: how many times the converged daemon is restarted and measured; the memory verdict takes the highest peak")
	flag.BoolVar(&opts.NoUnexport, "no-unexport", false, "skip the unexport phase (at 50,000 it takes as long as the set-up)")
	flag.IntVar(&opts.Changes, "changes", 200, "remote label changes timed for propagation latency")
	flag.IntVar(&opts.Flaps, "flaps", 100, "remote Services timed going empty and back")
	flag.Float64Var(&opts.Rate, "rate", 20, "remote changes per second in the latency phases")
	flag.StringVar(&opts.ProfileDir, "profile-dir", "", "write CPU and heap profiles of the daemon at the largest size here")
	flag.StringVar(&opts.LogDir, "log-dir", "", "keep the daemon's log of each size and round here (svcmirror-<N>-<round>.log, at -v=2)")
	flag.IntVar(&opts.ProfileSeconds, "profile-seconds", 60, "length of the CPU profile, from the daemon's start")
	flag.IntVar(&opts.Failover, "failover", 2000, "exported Services of the failover measurement, after the sizes (0: none)")
	flag.DurationVar(&opts.FailoverWindow, "failover-window", 60*time.Second, "how long after a takeover the new leader's writes are counted")
	shortLease := flag.Bool("failover-short-lease", true, "measure failover with the short lease ("+benchmark.ShortLease.String()+") too, after the default one")
	flag.Parse()
	opts.FailoverLeases = []benchmark.LeaseTimings{benchmark.DefaultLease}
	if *shortLease {
		opts.FailoverLeases = append(opts.FailoverLeases, benchmark.ShortLease)
	}
	if strings.TrimSpace(*sizes) != "" { // -sizes= runs the failover measurement alone
		for _, s := range strings.Split(*sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				fmt.Fprintf(os.Stderr, "bench: bad size %q in -sizes\n", s)
				os.Exit(2)
			}
			opts.Sizes = append(opts.Sizes, n)
		}
	}
	switch *mode {
	case "gateway":
		opts.Mode = plan.ModeGateway
	case "flat":
		opts.Mode = plan.ModeRemoteDiscovery
	default:
		fmt.Fprintf(os.Stderr, "bench: -mode is gateway or flat, not %q\n", *mode)
		os.Exit(2)
	}
	opts.DaemonArgs = strings.Fields(*daemonArgs)
	opts.DaemonEnv = strings.Fields(*daemonEnv)
	for _, kv := range opts.DaemonEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			fmt.Fprintf(os.Stderr, "bench: -daemon-env entries are KEY=value, not %q\n", kv)
			os.Exit(2)
		}
	}
	bin, err := filepath.Abs(opts.Svcmirror)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	opts.Svcmirror = bin
	opts.Logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := benchmark.Run(ctx, opts)
	var failover []benchmark.FailoverResult
	if err == nil && opts.Failover > 0 {
		gateway := opts
		gateway.Mode = plan.ModeGateway // its expected writes are gateway mode's
		failover, err = benchmark.RunFailover(ctx, gateway)
	}
	fmt.Printf("Command: %s\n", strings.Join(os.Args, " "))
	fmt.Printf("Mode: %s\n", opts.Mode)
	fmt.Printf("Machine: %s; %s; %s/%s\n\n", benchmark.MachineDescription(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if len(opts.Sizes) > 0 {
		benchmark.WriteReport(os.Stdout, results)
	}
	if len(failover) > 0 {
		fmt.Println()
		fmt.Println("Failover (two replicas, kill -9 of the leader):")
		fmt.Println()
		benchmark.WriteFailoverReport(os.Stdout, failover)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
