package benchmark

import (
	"testing"
	"time"
)

func TestQuantileIsNearestRank(t *testing.T) {
	var l Latencies
	for i := 1; i <= 100; i++ {
		l = append(l, time.Duration(101-i)*time.Millisecond) // unsorted on purpose
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0.001, time.Millisecond}} {
		if got := l.quantile(c.q); got != c.want {
			t.Errorf("quantile(%v) = %s, want %s", c.q, got, c.want)
		}
	}
	if got := (Latencies{}).quantile(0.5); got != 0 {
		t.Errorf("quantile of nothing = %s, want 0", got)
	}
}

func TestParseRequestsCountsOnlySuccessfulWrites(t *testing.T) {
	exposition := `# HELP apiserver_request_total Counter of apiserver requests
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="services",scope="resource",subresource="",verb="POST",version="v1"} 7
apiserver_request_total{code="409",component="apiserver",dry_run="",group="",resource="services",scope="resource",subresource="",verb="POST",version="v1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="endpoints",scope="resource",subresource="",verb="PUT",version="v1"} 3
apiserver_request_total{code="201",component="apiserver",dry_run="",group="discovery.k8s.io",resource="endpointslices",scope="resource",subresource="",verb="POST",version="v1"} 4
apiserver_request_total{code="200",component="apiserver",dry_run="",group="multicluster.linkerd.io",resource="links",scope="resource",subresource="status",verb="PUT",version="v1alpha3"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="services",scope="resource",subresource="",verb="GET",version="v1"} 50
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="services",scope="cluster",subresource="",verb="WATCH",version="v1"} 4
`
	got := parseRequests(exposition)
	want := RequestCounts{"POST services": 7, "PUT endpoints": 3, "POST endpointslices": 4, "PUT links/status": 2}
	if len(got) != len(want) {
		t.Fatalf("parseRequests = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if w := MirrorWrites(got); w != 14 {
		t.Errorf("MirrorWrites = %v, want 14", w)
	}
	if w := SliceWrites(got); w != 4 {
		t.Errorf("SliceWrites = %v, want 4", w)
	}
	later := RequestCounts{"POST services": 9, "PUT endpoints": 3, "POST endpointslices": 4, "PUT links/status": 2, "DELETE services": 1}
	if d := later.since(got); len(d) != 2 || d["POST services"] != 2 || d["DELETE services"] != 1 {
		t.Errorf("since = %v, want POST services=2, DELETE services=1", d)
	}
}

func TestRatioIsTheMedianOfTheRounds(t *testing.T) {
	round := func(floor, convergence int) Round {
		return Round{Floor: time.Duration(floor) * time.Second, Convergence: time.Duration(convergence) * time.Second}
	}
	// Ratios 1.5, 1.0 and 4.0: the median drops the round a burst hit.
	r := Result{Rounds: []Round{round(2, 3), round(4, 4), round(1, 4)}}
	if got := r.Ratio(); got != 1.5 {
		t.Errorf("Ratio() = %v, want 1.5", got)
	}
	if got := r.Floor(); got != 2*time.Second {
		t.Errorf("Floor() = %s, want 2s", got)
	}
	if got := r.Convergence(); got != 4*time.Second {
		t.Errorf("Convergence() = %s, want 4s", got)
	}
	two := Result{Rounds: []Round{round(2, 3), round(4, 4)}}
	if got := two.Ratio(); got != 1.25 {
		t.Errorf("Ratio() of two rounds = %v, want their mean 1.25", got)
	}
	if got := (Result{}).Ratio(); got != 0 {
		t.Errorf("Ratio() of no rounds = %v, want 0", got)
	}
}
