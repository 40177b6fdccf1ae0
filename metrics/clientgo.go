package metrics

import (
	"context"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientmetrics "k8s.io/client-go/tools/metrics"
)

// installClientGoMetrics sends client-go's request latency, results and
// rate-limiter wait to our registry. client-go accepts one registration per
// process (later ones are ignored), which suits one daemon per process.
func installClientGoMetrics(f factory) {
	buckets := prometheus.ExponentialBuckets(0.001, 2, 15)
	latency := f.histogramVec("svcmirror_rest_client_request_duration_seconds", "Kubernetes API request latency, by verb and host.", buckets, "verb", "host")
	limiter := f.histogramVec("svcmirror_rest_client_rate_limiter_duration_seconds", "Time requests waited in client-go's rate limiter, by verb and host.", buckets, "verb", "host")
	results := f.counterVec("svcmirror_rest_client_requests_total", "Kubernetes API requests, by status code, method and host.", "code", "method", "host")
	clientmetrics.Register(clientmetrics.RegisterOpts{
		RequestLatency:     latencyAdapter{latency},
		RateLimiterLatency: latencyAdapter{limiter},
		RequestResult:      resultAdapter{results},
	})
}

type latencyAdapter struct{ h *prometheus.HistogramVec }

func (a latencyAdapter) Observe(_ context.Context, verb string, u url.URL, d time.Duration) {
	a.h.WithLabelValues(verb, u.Host).Observe(d.Seconds())
}

type resultAdapter struct{ c *prometheus.CounterVec }

func (a resultAdapter) Increment(_ context.Context, code, method, host string) {
	a.c.WithLabelValues(code, method, host).Inc()
}
