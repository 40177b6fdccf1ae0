// Package metrics owns svcmirror's one Prometheus registry. Nothing is
// registered on the global registry; everything the daemon exports is here
// behind methods named for what happened.
//
// Linkerd-compatible series (dashboards and `linkerd multicluster gateways`
// read these names):
//
//	gateway_alive{target_cluster_name}                          gauge 1/0
//	gateway_enabled{target_cluster_name}                        gauge 1/0
//	gateway_probe_latency_ms{target_cluster_name}               histogram
//	gateway_latency{target_cluster_name}                        gauge: the last probe's latency in ms
//	gateway_probes{target_cluster_name,probe_successful}        counter
//	service_mirror_endpoint_repairs{target_cluster_name}        counter
//
// Our own, prefixed svcmirror_ (all carry target_cluster_name):
//
// target_cluster_name is the Link's targetClusterName (which need not be
// the Link's name), added to every series but Go's and the process's once
// the engine has loaded the Link (SetTargetCluster); until then it is
// absent.
//
//	svcmirror_gateway_address_alive{address}                    gauge 1/0 per resolved gateway IP
//	svcmirror_gateway_resolve_errors_total                      counter: gateway DNS lookups that failed
//	svcmirror_mirrors{mode}                                     gauge: remote Services mirrored, by mode
//	svcmirror_syncs_total{result}                               counter: syncs by outcome
//	svcmirror_noop_syncs_total                                  counter: syncs that found everything right
//	svcmirror_writes_total{kind,operation}                      counter: local objects written
//	svcmirror_propagation_seconds                               histogram: remote change seen → local write done
//	svcmirror_skips_total{reason}                               counter: services not mirrored, by reason
//	svcmirror_remote_token_expiry_timestamp_seconds             gauge: when the remote bearer token expires (0: never)
//	svcmirror_local_reachable                                   gauge 1/0
//	svcmirror_remote_reachable                                  gauge 1/0: the remote API server answers
//	svcmirror_remote_credentials_valid                          gauge 1/0: 0 while the remote API server refuses the credentials (401, or 403 naming a missing permission)
//	svcmirror_memory_pressure                                   gauge 1/0: near the memory limit, no new mirrors
//	svcmirror_memory_used_bytes                                 gauge: the memory the guard reads (mirror.memoryNeeded), sampled every second
//	svcmirror_memory_limit_bytes                                gauge: the limit it is compared with (0: none known, no guard)
//	svcmirror_last_successful_sync_timestamp_seconds            gauge
//	svcmirror_link_valid                                        gauge 1/0: the Link and its credentials parse
//	svcmirror_leader                                            gauge 1/0: this replica holds the Lease and writes
//	svcmirror_config_errors_total{source}                       counter: bad Link or credentials seen
//	svcmirror_workqueue_*{name}                                 the work queue's depth, latency, retries
//	svcmirror_rest_client_*{verb,host}                          client-go request latency, results, rate-limiter wait
package metrics

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// Metrics is the daemon's registry and the series in it.
type Metrics struct {
	registry *prometheus.Registry
	// cluster is the target_cluster_name label's value ("" until known).
	cluster atomic.Pointer[string]

	gatewayAlive     prometheus.Gauge
	gatewayEnabled   prometheus.Gauge
	gatewayLatency   prometheus.Observer
	gatewayLastMs    prometheus.Gauge
	gatewayProbes    *prometheus.CounterVec
	endpointRepairs  prometheus.Counter
	addressAlive     *prometheus.GaugeVec
	resolveErrors    prometheus.Counter
	mirrors          *prometheus.GaugeVec
	syncs            *prometheus.CounterVec
	noopSyncs        prometheus.Counter
	writes           *prometheus.CounterVec
	propagation      prometheus.Histogram
	skips            *prometheus.CounterVec
	remoteReachable  prometheus.Gauge
	localReachable   prometheus.Gauge
	tokenExpiry      prometheus.Gauge
	remoteCredsValid prometheus.Gauge
	lastSuccessfulAt prometheus.Gauge
	linkValid        prometheus.Gauge
	configErrors     *prometheus.CounterVec
	leader           prometheus.Gauge
	memoryPressure   prometheus.Gauge
	memoryUsed       prometheus.Gauge
	memoryLimit      prometheus.Gauge
}

// New makes the registry for the link to targetCluster. It also installs
// the workqueue and client-go metrics providers, which must happen before
// any queue or client is made; call it once, first thing.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := factory{r: r}
	m := &Metrics{registry: r}

	m.gatewayAlive = f.gauge("gateway_alive", "Whether the remote gateway is alive (1) per its probe.")
	m.gatewayEnabled = f.gauge("gateway_enabled", "Whether the link has a gateway to probe (1).")
	m.gatewayLatency = f.histogram("gateway_probe_latency_ms", "Latency of gateway probes in milliseconds.",
		[]float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000})
	m.gatewayLastMs = f.gauge("gateway_latency", "Latency of the last gateway probe in milliseconds (Linkerd's series, read by `linkerd multicluster gateways`).")
	m.gatewayProbes = f.counterVec("gateway_probes", "Gateway probes by whether they succeeded.", "probe_successful")
	m.endpointRepairs = f.counter("service_mirror_endpoint_repairs", "Mirror Endpoints rewritten because they had drifted from the desired state.")
	m.addressAlive = f.gaugeVec("svcmirror_gateway_address_alive", "Whether each resolved gateway address is alive (1) per its probe.", "address")
	m.resolveErrors = f.counter("svcmirror_gateway_resolve_errors_total", "Gateway address lookups that failed; the last good addresses are kept.")
	m.mirrors = f.gaugeVec("svcmirror_mirrors", "Remote Services mirrored, by mode.", "mode")
	m.syncs = f.counterVec("svcmirror_syncs_total", "Syncs of one key, by result.", "result")
	m.noopSyncs = f.counter("svcmirror_noop_syncs_total", "Syncs that found every mirror object already right and wrote nothing.")
	m.writes = f.counterVec("svcmirror_writes_total", "Local objects written, by kind and operation.", "kind", "operation")
	m.propagation = f.histogram("svcmirror_propagation_seconds", "Time from a remote change being seen to the local write that reflects it.",
		[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60})
	m.skips = f.counterVec("svcmirror_skips_total", "Remote Services not mirrored, by reason (MissingNamespace, Conflict, InvalidService, MemoryPressure).", "reason")
	m.tokenExpiry = f.gauge("svcmirror_remote_token_expiry_timestamp_seconds", "Unix time the remote credentials' bearer token expires; 0 for a token that does not expire or is unknown.")
	m.localReachable = f.gauge("svcmirror_local_reachable", "Whether the local API server answers (1).")
	m.localReachable.Set(1)
	m.remoteReachable = f.gauge("svcmirror_remote_reachable", "Whether the remote API server answers (1).")
	m.remoteCredsValid = f.gauge("svcmirror_remote_credentials_valid", "Whether the remote API server accepts the credentials (1); 0 while it answers 401 or 403.")
	// Valid until refused: 0 must mean an operator has to act, never "not
	// asked yet".
	m.remoteCredsValid.Set(1)
	m.memoryPressure = f.gauge("svcmirror_memory_pressure", "Whether the daemon is near its memory limit and creates no new mirrors (1).")
	m.memoryUsed = f.gauge("svcmirror_memory_used_bytes", "The memory the daemon needs as its memory guard reads it: the heap goal at the live heap plus the runtime's memory outside the heap.")
	m.memoryLimit = f.gauge("svcmirror_memory_limit_bytes", "The memory limit the guard compares with (the smaller of GOMEMLIMIT and the cgroup's); 0 when none is known.")
	m.lastSuccessfulAt = f.gauge("svcmirror_last_successful_sync_timestamp_seconds", "Unix time of the last sync that succeeded.")
	m.linkValid = f.gauge("svcmirror_link_valid", "Whether the Link and its credentials are loaded and valid (1).")
	m.leader = f.gauge("svcmirror_leader", "Whether this replica holds the Link's Lease and writes (1) or stands by (0).")
	m.configErrors = f.counterVec("svcmirror_config_errors_total", "Malformed Links or credentials seen, by source.", "source")

	// Zero every known label value, so that a fresh daemon exports each
	// series and dashboards show 0 rather than no data.
	for _, ok := range []string{"true", "false"} {
		m.gatewayProbes.WithLabelValues(ok)
	}
	for _, r := range []string{"success", "retry", "retry_after", "permanent"} {
		m.syncs.WithLabelValues(r)
	}
	for _, kind := range []string{"Service", "Endpoints", "EndpointSlice"} {
		for _, op := range []string{"create", "update", "delete"} {
			m.writes.WithLabelValues(kind, op)
		}
	}
	for _, r := range []string{"MissingNamespace", "Conflict", "InvalidService", "MemoryPressure"} {
		m.skips.WithLabelValues(r)
	}
	for _, s := range []string{"link", "secret"} {
		m.configErrors.WithLabelValues(s)
	}
	m.MirrorsByMode(nil)

	installWorkqueueProvider(f)
	installClientGoMetrics(f)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Gatherer(), promhttp.HandlerOpts{Registry: m.registry})
}

// SetTargetCluster sets the target_cluster_name label: the Link's
// targetClusterName, known once the engine has loaded the Link.
func (m *Metrics) SetTargetCluster(name string) { m.cluster.Store(&name) }

// Gatherer gathers every series, with target_cluster_name added to ours.
func (m *Metrics) Gatherer() prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		families, err := m.registry.Gather()
		cluster := m.cluster.Load()
		if cluster == nil {
			return families, err
		}
		for _, f := range families {
			if strings.HasPrefix(f.GetName(), "go_") || strings.HasPrefix(f.GetName(), "process_") {
				continue
			}
			for _, metric := range f.Metric {
				metric.Label = append(metric.Label, &dto.LabelPair{Name: proto.String("target_cluster_name"), Value: proto.String(*cluster)})
				slices.SortFunc(metric.Label, func(a, b *dto.LabelPair) int { return cmp.Compare(a.GetName(), b.GetName()) })
			}
		}
		return families, err
	})
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// GatewayProbed records one probe of the gateway.
func (m *Metrics) GatewayProbed(ok bool, took time.Duration) {
	m.gatewayProbes.WithLabelValues(boolString(ok)).Inc()
	m.gatewayLatency.Observe(float64(took) / float64(time.Millisecond))
	m.gatewayLastMs.Set(float64(took) / float64(time.Millisecond))
}

// GatewayAlive sets whether the gateway is considered alive.
func (m *Metrics) GatewayAlive(alive bool) { m.gatewayAlive.Set(boolFloat(alive)) }

// GatewayEnabled sets whether the link has a gateway that is probed.
func (m *Metrics) GatewayEnabled(enabled bool) { m.gatewayEnabled.Set(boolFloat(enabled)) }

// GatewayAddressAlive sets whether one gateway IP is alive.
func (m *Metrics) GatewayAddressAlive(ip string, alive bool) {
	m.addressAlive.WithLabelValues(ip).Set(boolFloat(alive))
}

// GatewayAddressGone drops the series of a gateway IP no longer resolved.
func (m *Metrics) GatewayAddressGone(ip string) { m.addressAlive.DeleteLabelValues(ip) }

// GatewayResolveFailed counts a failed lookup of the gateway's addresses.
func (m *Metrics) GatewayResolveFailed() { m.resolveErrors.Inc() }

// EndpointsRepaired counts a mirror's Endpoints rewritten after drifting.
func (m *Metrics) EndpointsRepaired() { m.endpointRepairs.Inc() }

// MirrorsByMode sets how many remote Services are mirrored in each mode.
func (m *Metrics) MirrorsByMode(counts map[string]int) {
	for _, mode := range []string{"gateway", "remote-discovery"} {
		m.mirrors.WithLabelValues(mode).Set(float64(counts[mode]))
	}
}

// Synced counts a sync's outcome; a success also stamps the last-success time.
func (m *Metrics) Synced(result string) {
	m.syncs.WithLabelValues(result).Inc()
	if result == "success" {
		m.lastSuccessfulAt.SetToCurrentTime()
	}
}

// NoopSync counts a sync that wrote nothing because nothing differed.
func (m *Metrics) NoopSync() { m.noopSyncs.Inc() }

// Wrote counts one local write: kind is Service, Endpoints or
// EndpointSlice, operation create, update or delete.
func (m *Metrics) Wrote(kind, operation string) { m.writes.WithLabelValues(kind, operation).Inc() }

// Propagated records the delay from a remote change to its local write.
func (m *Metrics) Propagated(d time.Duration) { m.propagation.Observe(d.Seconds()) }

// Skipped counts a remote Service left unmirrored, by reason.
func (m *Metrics) Skipped(reason string) { m.skips.WithLabelValues(reason).Inc() }

// RemoteReachable sets whether the remote API server answers.
func (m *Metrics) RemoteReachable(ok bool) { m.remoteReachable.Set(boolFloat(ok)) }

// TokenExpiry records when the remote token expires (zero: never or unknown).
func (m *Metrics) TokenExpiry(at time.Time) {
	if at.IsZero() {
		m.tokenExpiry.Set(0)
		return
	}
	m.tokenExpiry.Set(float64(at.Unix()))
}

// LocalReachable records whether the local API server answers.
func (m *Metrics) LocalReachable(ok bool) { m.localReachable.Set(boolFloat(ok)) }

// RemoteCredentialsValid sets whether the remote API server accepts the
// credentials.
func (m *Metrics) RemoteCredentialsValid(ok bool) { m.remoteCredsValid.Set(boolFloat(ok)) }

// MemoryPressure sets whether new mirrors are held back for memory.
func (m *Metrics) MemoryPressure(on bool) { m.memoryPressure.Set(boolFloat(on)) }

// MemoryUse records the memory guard's reading and the limit it compares
// it with.
func (m *Metrics) MemoryUse(used, limit uint64) {
	m.memoryUsed.Set(float64(used))
	m.memoryLimit.Set(float64(limit))
}

// LinkValid sets whether the Link and its credentials are loaded and valid.
func (m *Metrics) LinkValid(ok bool) { m.linkValid.Set(boolFloat(ok)) }

// ConfigError counts a malformed Link ("link") or credentials ("secret").
// Leader records whether this replica is the writer.
func (m *Metrics) Leader(on bool) { m.leader.Set(boolFloat(on)) }

func (m *Metrics) ConfigError(source string) { m.configErrors.WithLabelValues(source).Inc() }

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
