package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// installWorkqueueProvider sends client-go's workqueue metrics, labelled
// by queue name, to our registry. client-go keeps the first provider set,
// so it must be installed before any queue is made.
func installWorkqueueProvider(f factory) {
	p := &workqueueProvider{
		depth:      f.gaugeVec("svcmirror_workqueue_depth", "Keys waiting in the work queue.", "name"),
		adds:       f.counterVec("svcmirror_workqueue_adds_total", "Keys added to the work queue.", "name"),
		latency:    f.histogramVec("svcmirror_workqueue_queue_duration_seconds", "Time a key waits in the queue before a worker takes it.", prometheus.ExponentialBuckets(0.0001, 4, 12), "name"),
		work:       f.histogramVec("svcmirror_workqueue_work_duration_seconds", "Time a worker spends on one key.", prometheus.ExponentialBuckets(0.0001, 4, 12), "name"),
		unfinished: f.gaugeVec("svcmirror_workqueue_unfinished_work_seconds", "Seconds of work in progress not yet observed by work_duration.", "name"),
		longest:    f.gaugeVec("svcmirror_workqueue_longest_running_processor_seconds", "Seconds the longest-running worker has been on its key.", "name"),
		retries:    f.counterVec("svcmirror_workqueue_retries_total", "Keys queued again after an error.", "name"),
	}
	workqueue.SetProvider(p)
}

type workqueueProvider struct {
	depth, unfinished, longest *prometheus.GaugeVec
	adds, retries              *prometheus.CounterVec
	latency, work              *prometheus.HistogramVec
}

func (p *workqueueProvider) NewDepthMetric(name string) workqueue.GaugeMetric {
	return p.depth.WithLabelValues(name)
}
func (p *workqueueProvider) NewAddsMetric(name string) workqueue.CounterMetric {
	return p.adds.WithLabelValues(name)
}
func (p *workqueueProvider) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return p.latency.WithLabelValues(name)
}
func (p *workqueueProvider) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return p.work.WithLabelValues(name)
}
func (p *workqueueProvider) NewUnfinishedWorkSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return p.unfinished.WithLabelValues(name)
}
func (p *workqueueProvider) NewLongestRunningProcessorSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return p.longest.WithLabelValues(name)
}
func (p *workqueueProvider) NewRetriesMetric(name string) workqueue.CounterMetric {
	return p.retries.WithLabelValues(name)
}
