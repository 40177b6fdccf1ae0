package manifests

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// wantDashboardMetrics is every metric the dashboard queries. A panel that adds a metric must
// add it here too, and the daemon must export it.
var wantDashboardMetrics = []string{
	"gateway_alive",
	"gateway_enabled",
	"gateway_probe_latency_ms",
	"gateway_probes",
	"process_cpu_seconds_total",
	"process_resident_memory_bytes",
	"service_mirror_endpoint_repairs",
	"svcmirror_config_errors_total",
	"svcmirror_gateway_address_alive",
	"svcmirror_last_successful_sync_timestamp_seconds",
	"svcmirror_link_valid",
	"svcmirror_mirrors",
	"svcmirror_noop_syncs_total",
	"svcmirror_propagation_seconds",
	"svcmirror_remote_reachable",
	"svcmirror_rest_client_rate_limiter_duration_seconds",
	"svcmirror_rest_client_request_duration_seconds",
	"svcmirror_rest_client_requests_total",
	"svcmirror_skips_total",
	"svcmirror_syncs_total",
	"svcmirror_workqueue_depth",
	"svcmirror_workqueue_queue_duration_seconds",
	"svcmirror_workqueue_retries_total",
	"svcmirror_writes_total",
}

func TestDashboardMetricNames(t *testing.T) {
	got, err := DashboardMetricNames()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantDashboardMetrics, got); diff != "" {
		t.Errorf("DashboardMetricNames() (-want +got):\n%s", diff)
	}
}

func TestDashboardIsValidJSON(t *testing.T) {
	var v map[string]any
	if err := json.Unmarshal(DashboardJSON, &v); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	if got := v["schemaVersion"]; got != float64(39) {
		t.Errorf("schemaVersion = %v, want 39", got)
	}
}

func TestDashboardPanels(t *testing.T) {
	d, err := parseDashboard(DashboardJSON)
	if err != nil {
		t.Fatal(err)
	}
	if d.UID != "svcmirror" || d.Title != "svcmirror" {
		t.Errorf("uid, title = %q, %q; want svcmirror, svcmirror", d.UID, d.Title)
	}
	ids := map[int]string{}
	queries := 0
	for _, p := range allPanels(d.Panels) {
		if p.Title == "" {
			t.Errorf("panel %d (%s) has no title", p.ID, p.Type)
		}
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			if len(p.Targets) != 0 {
				t.Errorf("row %q has targets", p.Title)
			}
			continue
		}
		if len(p.Panels) != 0 {
			t.Errorf("panel %q (%s) has nested panels; only rows may", p.Title, p.Type)
		}
		queries++
		if strings.TrimSpace(p.Description) == "" {
			t.Errorf("panel %q has no description", p.Title)
		}
		var ds struct{ Type, UID string }
		if err := json.Unmarshal(p.Datasource, &ds); err != nil || ds.Type != "prometheus" || ds.UID != "${datasource}" {
			t.Errorf("panel %q datasource = %s, want the ${datasource} Prometheus variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %q has an empty expr", p.Title, tg.RefID)
				continue
			}
			if !strings.Contains(tg.Expr, `target_cluster_name=~"$target_cluster_name"`) {
				t.Errorf("panel %q target %q does not filter on $target_cluster_name: %s", p.Title, tg.RefID, tg.Expr)
			}
			if refs[tg.RefID] {
				t.Errorf("panel %q has refId %q twice", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
		}
	}
	if queries == 0 {
		t.Fatal("dashboard has no query panels")
	}
}

func TestDashboardTemplating(t *testing.T) {
	var d struct {
		Templating struct {
			List []struct {
				Name       string          `json:"name"`
				Type       string          `json:"type"`
				Query      json.RawMessage `json:"query"`
				Multi      bool            `json:"multi"`
				IncludeAll bool            `json:"includeAll"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(DashboardJSON, &d); err != nil {
		t.Fatal(err)
	}
	vars := map[string]int{}
	for i, v := range d.Templating.List {
		vars[v.Name] = i
	}
	i, ok := vars["datasource"]
	if !ok || d.Templating.List[i].Type != "datasource" || string(d.Templating.List[i].Query) != `"prometheus"` {
		t.Errorf("want a Prometheus datasource variable named datasource")
	}
	i, ok = vars["target_cluster_name"]
	if !ok {
		t.Fatal("no target_cluster_name variable")
	}
	v := d.Templating.List[i]
	q, err := grafanaVariable{Name: v.Name, Query: v.Query}.queryString()
	if err != nil {
		t.Fatal(err)
	}
	if v.Type != "query" || !v.Multi || !v.IncludeAll || q != "label_values(svcmirror_mirrors, target_cluster_name)" {
		t.Errorf("target_cluster_name variable: type %q multi %v includeAll %v query %q", v.Type, v.Multi, v.IncludeAll, q)
	}
}

// TestDashboardLayout checks every panel lies within the 24-column grid and that no two
// panels overlap (collapsed rows' panels are laid out as if the row were expanded).
func TestDashboardLayout(t *testing.T) {
	var d struct {
		Panels []layoutPanel `json:"panels"`
	}
	if err := json.Unmarshal(DashboardJSON, &d); err != nil {
		t.Fatal(err)
	}
	var all []layoutPanel
	for _, p := range d.Panels {
		all = append(all, p)
		all = append(all, p.Panels...)
	}
	for i, a := range all {
		g := a.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q gridPos %+v is outside the grid", a.Title, g)
		}
		for _, b := range all[:i] {
			h := b.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("panels %q %+v and %q %+v overlap", b.Title, h, a.Title, g)
			}
		}
	}
}

type layoutPanel struct {
	Title   string `json:"title"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Panels []layoutPanel `json:"panels"`
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`rate(foo_total{a="b"}[5m])`, []string{"foo_total"}},
		{`histogram_quantile(0.99, sum by (le, target_cluster_name) (rate(x_seconds_bucket{c=~"$c"}[$__rate_interval])))`, []string{"x_seconds"}},
		{`sum without (le) (rate(a_sum[5m])) / sum(rate(a_count[5m])) by (job)`, []string{"a", "a"}},
		{`time() - last_ts{x="}{)("}`, []string{"last_ts"}},
		{`a * on (job, instance) group_left (cluster) group by (job, instance, cluster) (b{c="d"})`, []string{"a", "b"}},
		{`a > bool 0 and b offset 5m or c unless d`, []string{"a", "b", "c", "d"}},
		{`max_over_time(m[1h:5m]) # trailing comment naming not_a_metric`, []string{"m"}},
		{`count(x) > 1e3 or vector(0) * Inf`, []string{"x"}},
		{`label_replace(y, "dst", "$1", "src", "(.*)")`, []string{"y"}},
		{`job:requests:rate5m`, []string{"job:requests:rate5m"}},
	} {
		got, err := metricNames(tc.expr)
		if err != nil {
			t.Errorf("metricNames(%q): %v", tc.expr, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("metricNames(%q) (-want +got):\n%s", tc.expr, diff)
		}
	}
	for _, bad := range []string{`x{a="b"`, `rate(x[5m)`, `x{a="b}`, `x}`} {
		if _, err := metricNames(bad); err == nil {
			t.Errorf("metricNames(%q): no error", bad)
		}
	}
}

func TestVariableExpr(t *testing.T) {
	for q, want := range map[string]string{
		`label_values(svcmirror_mirrors, target_cluster_name)`:   "svcmirror_mirrors",
		`label_values(m{a="x,y", b=~"$v"}, target_cluster_name)`: `m{a="x,y", b=~"$v"}`,
		`label_values(target_cluster_name)`:                      "",
		`label_names()`:                                          "",
		`metrics(svcmirror_.*)`:                                  "",
		`query_result(topk(5, sum by (x) (rate(r_total[5m]))))`:  "topk(5, sum by (x) (rate(r_total[5m])))",
		`up{job="svcmirror"}`:                                    `up{job="svcmirror"}`,
	} {
		got, err := variableExpr(q)
		if err != nil {
			t.Errorf("variableExpr(%q): %v", q, err)
			continue
		}
		if got != want {
			t.Errorf("variableExpr(%q) = %q, want %q", q, got, want)
		}
	}
}
