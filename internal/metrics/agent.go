package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kperf/kperf/agent"
)

// AgentSource is what the agent collector reads; *agent.Server is one.
type AgentSource interface {
	Status() agent.Status
}

// agentCollector turns an agent's Status into metrics at scrape time.
type agentCollector struct {
	src                              AgentSource
	sent, acked, failed, bytes, runs *prometheus.Desc
	rate, inFlight, state, workers   *prometheus.Desc
}

// NewAgentCollector returns a collector of src's kperf_agent_* metrics.
// Each scrape calls src.Status once; the producers' hot path is not
// touched.
func NewAgentCollector(src AgentSource) prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("kperf_agent_"+name, help, labels, nil)
	}
	return &agentCollector{
		src:      src,
		sent:     d("records_sent_total", "Records handed to Kafka clients, over all runs."),
		acked:    d("records_acked_total", "Records acknowledged by Kafka, over all runs (updated every reporting interval)."),
		failed:   d("records_failed_total", "Records that failed, by error kind (Kafka error name or client error), over all runs (updated every reporting interval).", "kind"),
		bytes:    d("bytes_acked_total", "Record value bytes acknowledged by Kafka, over all runs (updated every reporting interval)."),
		runs:     d("runs_total", "Finished runs by end reason: done, stopped, shutdown, max_duration, stalled, lease_lost, deadline, rejected, failed.", "reason"),
		rate:     d("records_per_second", "Acknowledged records per second over the last full reporting interval; 0 when idle."),
		inFlight: d("records_in_flight", "Records sent and not yet acknowledged or failed, at the last reporting interval; 0 when idle."),
		state:    d("run_state", "1 for the agent's current state (idle, preparing, running, stopping), 0 for the others.", "state"),
		workers:  d("workers", "Producer workers of the current run; 0 when idle."),
	}
}

// Describe implements prometheus.Collector.
func (c *agentCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sent, c.acked, c.failed, c.bytes, c.runs, c.rate, c.inFlight, c.state, c.workers} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *agentCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Status()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(c.sent, s.Sent)
	counter(c.acked, s.Acked)
	counter(c.bytes, s.BytesAcked)
	for kind, n := range s.Errors {
		counter(c.failed, n, kind)
	}
	for _, reason := range agent.Ends {
		counter(c.runs, s.Runs[reason], reason)
	}
	gauge(c.rate, s.RatePerSec)
	gauge(c.inFlight, float64(s.InFlight))
	gauge(c.workers, float64(s.Workers))
	for _, st := range agent.States {
		gauge(c.state, boolValue(st == s.State), st.String())
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
