package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// TestSeriesAreExported checks that every series the dashboards and
// Linkerd's tooling read is served, with the target cluster's label.
func TestSeriesAreExported(t *testing.T) {
	m := New()
	m.SetTargetCluster("east")
	m.GatewayProbed(true, 3*time.Millisecond)
	m.GatewayAlive(true)
	m.GatewayEnabled(true)
	m.EndpointsRepaired()
	m.MirrorsByMode(map[string]int{"gateway": 2})
	m.Synced("success")
	m.NoopSync()
	m.Wrote("Service", "create")
	m.Propagated(20 * time.Millisecond)
	m.Skipped("Conflict")
	m.RemoteReachable(true)
	m.RemoteCredentialsValid(false)
	m.MemoryPressure(true)
	m.MemoryUse(90<<20, 100<<20)
	m.LinkValid(true)
	m.ConfigError("link")
	q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "test"})
	q.Add("x")
	defer q.ShutDown()

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`gateway_alive{target_cluster_name="east"} 1`,
		`gateway_enabled{target_cluster_name="east"} 1`,
		`gateway_latency{target_cluster_name="east"} 3`,
		`gateway_probe_latency_ms_bucket{target_cluster_name="east"`,
		`gateway_probes{probe_successful="true",target_cluster_name="east"} 1`,
		`service_mirror_endpoint_repairs{target_cluster_name="east"} 1`,
		`svcmirror_mirrors{mode="gateway",target_cluster_name="east"} 2`,
		`svcmirror_mirrors{mode="remote-discovery",target_cluster_name="east"} 0`,
		`svcmirror_syncs_total{result="success",target_cluster_name="east"} 1`,
		`svcmirror_noop_syncs_total{target_cluster_name="east"} 1`,
		`svcmirror_writes_total{kind="Service",operation="create",target_cluster_name="east"} 1`,
		`svcmirror_propagation_seconds_bucket{target_cluster_name="east"`,
		`svcmirror_skips_total{reason="Conflict",target_cluster_name="east"} 1`,
		`svcmirror_remote_reachable{target_cluster_name="east"} 1`,
		`svcmirror_remote_credentials_valid{target_cluster_name="east"} 0`,
		`svcmirror_memory_pressure{target_cluster_name="east"} 1`,
		`svcmirror_memory_used_bytes{target_cluster_name="east"} 9.437184e+07`,
		`svcmirror_memory_limit_bytes{target_cluster_name="east"} 1.048576e+08`,
		`svcmirror_last_successful_sync_timestamp_seconds{target_cluster_name="east"}`,
		`svcmirror_link_valid{target_cluster_name="east"} 1`,
		`svcmirror_config_errors_total{source="link",target_cluster_name="east"} 1`,
		`svcmirror_workqueue_adds_total{name="test",target_cluster_name="east"} 1`,
		`svcmirror_workqueue_depth{name="test",target_cluster_name="east"} 1`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestClusterLabelIsTheTargetClusterName: the label is the Link's
// targetClusterName, set once the Link is loaded, never the Link's name,
// and absent before.
func TestClusterLabelIsTheTargetClusterName(t *testing.T) {
	m := New()
	m.GatewayAlive(true)
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body, _ := io.ReadAll(rec.Body)
		return string(body)
	}
	if body := scrape(); !strings.Contains(body, "\ngateway_alive 1\n") {
		t.Fatalf("before the Link is loaded gateway_alive must carry no cluster label:\n%s", body)
	}
	m.SetTargetCluster("us-east-2")
	body := scrape()
	if !strings.Contains(body, `gateway_alive{target_cluster_name="us-east-2"} 1`) {
		t.Fatalf("gateway_alive lacks the target cluster's label:\n%s", body)
	}
	if strings.Contains(body, `go_goroutines{target_cluster_name`) {
		t.Fatal("Go runtime series must not carry the cluster label")
	}
}
