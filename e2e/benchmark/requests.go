package benchmark

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

// RequestCounts are an API server's successful mutating requests so far,
// from its own apiserver_request_total, keyed "VERB resource[/subresource]".
//
// Only 2xx answers count: a refused request changed nothing, and
// kube-controller-manager makes many that the daemon has nothing to do with
// (its endpoints controller sends a DELETE for the Endpoints of every deleted
// Service, even when they are gone already, and gets 404).
type RequestCounts map[string]float64

// mutatingVerbs are apiserver_request_total's verb label values that write.
var mutatingVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "DELETE": true, "APPLY": true, "DELETECOLLECTION": true}

// ScrapeRequests reads the mutating request counts of cluster c so far.
func ScrapeRequests(ctx context.Context, c *testbed.Cluster) (RequestCounts, error) {
	code, body, err := c.Get(ctx, testbed.AdminToken, "/metrics")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("API server /metrics: status %d", code)
	}
	return parseRequests(body), nil
}

// parseRequests sums apiserver_request_total by verb and resource over the
// successful mutating requests.
func parseRequests(exposition string) RequestCounts {
	out := RequestCounts{}
	s := bufio.NewScanner(strings.NewReader(exposition))
	s.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for s.Scan() {
		line := s.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		if end < 0 {
			continue
		}
		labels := parseLabels(line[len("apiserver_request_total{"):end])
		if !mutatingVerbs[labels["verb"]] || !strings.HasPrefix(labels["code"], "2") {
			continue
		}
		value, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil {
			continue
		}
		resource := labels["resource"]
		if sub := labels["subresource"]; sub != "" {
			resource += "/" + sub
		}
		out[labels["verb"]+" "+resource] += value
	}
	return out
}

// parseLabels splits `a="x",b="y"`; the values here hold no quotes or commas.
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if ok {
			out[k] = strings.Trim(v, `"`)
		}
	}
	return out
}

// since returns the requests made after before was taken; zero entries are left out.
func (c RequestCounts) since(before RequestCounts) RequestCounts {
	out := RequestCounts{}
	for k, v := range c {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// MirrorWrites is the number of writes to Services, Endpoints and
// EndpointSlices in c.
func MirrorWrites(c RequestCounts) float64 {
	return c.writesTo("services", "endpoints", "endpointslices")
}

// ServiceWrites is the number of writes to Services in c.
func ServiceWrites(c RequestCounts) float64 { return c.writesTo("services") }

// SliceWrites is the number of writes to EndpointSlices in c.
func SliceWrites(c RequestCounts) float64 { return c.writesTo("endpointslices") }

func (c RequestCounts) writesTo(resources ...string) float64 {
	total := 0.0
	for k, v := range c {
		_, resource, _ := strings.Cut(k, " ")
		if slices.Contains(resources, resource) {
			total += v
		}
	}
	return total
}

// String lists the counts as "POST services=2000, ..." in a stable order.
func (c RequestCounts) String() string {
	if len(c) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%.0f", k, c[k])
	}
	return strings.Join(parts, ", ")
}
