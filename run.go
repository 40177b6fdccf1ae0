package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/svcmirror/svcmirror/metrics"
	"github.com/svcmirror/svcmirror/mirror"
	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/remote"
)

// runOptions are `svcmirror run`'s flags.
type runOptions struct {
	kubeconfig              string
	namespace, link         string
	metricsAddr             string
	workers                 int
	localQPS, remoteQPS     float64
	localBurst, remoteBurst int
	enableNamespaceCreation bool
	conflictRetry           time.Duration
	gatewayResolveInterval  time.Duration
	enablePprof             bool
	tokenRenewalFraction    float64
	endpointsAPI            string
	flatEndpoints           bool
	leaderElect             bool
	election                mirror.Election
}

// Client limits: a 5,000-service link converging from scratch makes about
// 10,000 local writes; at 1,000 requests a second the limiter never becomes
// the bottleneck, while still capping a runaway loop.
const (
	defaultQPS   = 1000
	defaultBurst = 2000
)

func runFlags(fs *flag.FlagSet) func(context.Context) error {
	o := &runOptions{}
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the local (source) cluster; in-cluster configuration when empty")
	fs.StringVar(&o.namespace, "namespace", "linkerd-multicluster", "namespace of the Link and its credentials Secret")
	fs.StringVar(&o.link, "link", "", "name of the Link to serve (required)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", ":9999", "address serving /metrics, /ready and /ping")
	// A sync mostly waits on the API server, so start-up throughput grows
	// with syncs in flight until the server is saturated; a worker is only a
	// goroutine. For 2,000 Services `make bench` measured convergence at
	// 1.54x the floor with 16 workers, 1.2-1.5x with 64, 1.2x with 128.
	fs.IntVar(&o.workers, "workers", 128, "services synced in parallel")
	fs.Float64Var(&o.localQPS, "local-qps", defaultQPS, "local API requests per second allowed")
	fs.IntVar(&o.localBurst, "local-burst", defaultBurst, "local API request burst allowed")
	fs.Float64Var(&o.remoteQPS, "remote-qps", defaultQPS, "remote API requests per second allowed")
	fs.IntVar(&o.remoteBurst, "remote-burst", defaultBurst, "remote API request burst allowed")
	fs.BoolVar(&o.enableNamespaceCreation, "enable-namespace-creation", false, "create a missing local namespace instead of skipping its Services")
	fs.DurationVar(&o.conflictRetry, "conflict-retry", 30*time.Second, "how often to retry a mirror blocked by a foreign object of the same name")
	fs.DurationVar(&o.gatewayResolveInterval, "gateway-resolve-interval", 30*time.Second, "how often the Link's gateway DNS names are resolved again")
	fs.BoolVar(&o.enablePprof, "enable-pprof", false, "serve /debug/pprof on the metrics address")
	fs.Float64Var(&o.tokenRenewalFraction, "token-renewal-fraction", remote.DefaultRenewalFraction, "fraction of an expiring remote token's life after which the daemon renews it")
	fs.StringVar(&o.endpointsAPI, "endpoints-api", "both", "endpoint objects mirrors get: endpoints (core/v1, Linkerd's contract), endpointslices (discovery.k8s.io/v1) or both")
	fs.BoolVar(&o.flatEndpoints, "flat-endpoints", true, "give remote-discovery (flat) mirrors EndpointSlices of the remote pods' addresses, for clients without a mesh on a flat network")
	// Linkerd's service mirror elects on the same Lease with these timings,
	// so a swap between the two controllers hands off without two writers.
	// A standby takes over at most 30 s + 2 s after the leader's last
	// renewal; a leader that cannot renew for 10 s stops writing, 20 s
	// before anyone else may start.
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "elect one writer among the replicas serving the Link (Lease service-mirror-write-<link>)")
	fs.DurationVar(&o.election.LeaseDuration, "leader-elect-lease-duration", 30*time.Second, "how long a lease holds without renewal")
	fs.DurationVar(&o.election.RenewDeadline, "leader-elect-renew-deadline", 10*time.Second, "how long the leader tries to renew before it stops writing")
	fs.DurationVar(&o.election.RetryPeriod, "leader-elect-retry-period", 2*time.Second, "how often to try to acquire or renew the lease")
	return o.run
}

// output turns --endpoints-api and --flat-endpoints into the plan's Output.
func (o *runOptions) output() (plan.Output, error) {
	out := plan.Output{FlatEndpoints: o.flatEndpoints}
	switch o.endpointsAPI {
	case "endpoints":
		out.Endpoints = true
	case "endpointslices":
		out.Slices = true
	case "both":
		out.Endpoints, out.Slices = true, true
	default:
		return out, fmt.Errorf("--endpoints-api must be endpoints, endpointslices or both, not %q", o.endpointsAPI)
	}
	return out, nil
}

func (o *runOptions) run(ctx context.Context) error {
	if o.link == "" {
		return errors.New("--link is required")
	}
	if o.workers < 1 {
		return fmt.Errorf("--workers must be at least 1, not %d", o.workers)
	}
	if o.tokenRenewalFraction <= 0 || o.tokenRenewalFraction >= 1 {
		return fmt.Errorf("--token-renewal-fraction must be between 0 and 1 (exclusive), not %v", o.tokenRenewalFraction)
	}
	output, err := o.output()
	if err != nil {
		return err
	}
	var election *mirror.Election
	if o.leaderElect {
		if err := checkElection(o.election); err != nil {
			return err
		}
		election = &o.election
		election.Identity = identity(os.Getenv, os.Hostname)
	}
	logger := klog.FromContext(ctx)
	cfg, err := localConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst, cfg.UserAgent = float32(o.localQPS), o.localBurst, "svcmirror/"+version
	if election != nil {
		// The replica's name in the user agent tells, in the API server's
		// audit log, which replica wrote what.
		cfg.UserAgent += " (" + election.Identity + ")"
	}
	// Mirrors are written as core/v1 Endpoints too (the Linkerd contract),
	// and the API server warns about that on every request.
	cfg.WarningHandler = rest.NoWarnings{}
	local, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("local client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("local dynamic client: %w", err)
	}

	m := metrics.New()
	engine := mirror.New(mirror.Config{
		Namespace: o.namespace, LinkName: o.link,
		Local: local, Dynamic: dyn,
		RemoteQPS: float32(o.remoteQPS), RemoteBurst: o.remoteBurst,
		Workers:                 o.workers,
		EnableNamespaceCreation: o.enableNamespaceCreation,
		ConflictRetry:           o.conflictRetry,
		GatewayResolveInterval:  o.gatewayResolveInterval,
		Output:                  output,
		Election:                election,
		Metrics:                 m,
	})

	listener, err := net.Listen("tcp", o.metricsAddr)
	if err != nil {
		return fmt.Errorf("listen on --metrics-addr %s: %w", o.metricsAddr, err)
	}
	srv := &http.Server{Handler: adminMux(m, engine, o.enablePprof), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(err, "Admin server stopped")
		}
	}()
	gcPercent := os.Getenv("GOGC")
	if tuneGC(os.Getenv) {
		gcPercent = strconv.Itoa(defaultGCPercent)
	}
	logger.Info("Starting svcmirror", "version", version, "link", klog.KRef(o.namespace, o.link), "adminAddr", listener.Addr().String(), "workers", o.workers, "gcPercent", gcPercent)

	renewCtx, stopRenewal := context.WithCancel(ctx)
	renewalDone := make(chan struct{})
	go func() {
		defer close(renewalDone)
		runTokenRenewal(renewCtx, local, dyn, o.namespace, o.link, o.tokenRenewalFraction, engine.TokenState)
	}()
	runErr := engine.Run(ctx)
	stopRenewal()
	<-renewalDone
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	logger.Info("Stopped")
	return nil
}

// adminMux serves /metrics, /ready, /ping and, when enabled, pprof.
func adminMux(m *metrics.Metrics, engine *mirror.Engine, enablePprof bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	mux.HandleFunc("/ping", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "pong") })
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := engine.Ready()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, why)
	})
	if enablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// localConfig loads the local cluster's client configuration: the
// kubeconfig file when given, else the in-cluster configuration.
func localConfig(path string) (*rest.Config, error) {
	if path == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no --kubeconfig given and not running in a cluster: %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// identity names this replica in the Lease: the pod's name from the
// downward API (POD_NAME), else the hostname (a pod's hostname is its name
// too), else a random name; a missing variable never stops the daemon.
func identity(getenv func(string) string, hostname func() (string, error)) string {
	if name := getenv("POD_NAME"); name != "" {
		return name
	}
	if name, err := hostname(); err == nil && name != "" {
		return name
	}
	return "svcmirror-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

// checkElection rejects timings with which a leader could still be writing
// when another replica takes over.
func checkElection(e mirror.Election) error {
	switch {
	case e.RetryPeriod <= 0:
		return fmt.Errorf("--leader-elect-retry-period must be positive, not %s", e.RetryPeriod)
	case e.RenewDeadline <= e.RetryPeriod:
		return fmt.Errorf("--leader-elect-renew-deadline (%s) must be longer than --leader-elect-retry-period (%s)", e.RenewDeadline, e.RetryPeriod)
	case e.LeaseDuration <= e.RenewDeadline:
		return fmt.Errorf("--leader-elect-lease-duration (%s) must be longer than --leader-elect-renew-deadline (%s), or a leader that cannot renew could still be writing when another takes over", e.LeaseDuration, e.RenewDeadline)
	}
	return nil
}
