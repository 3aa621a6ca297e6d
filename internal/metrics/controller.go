package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kperf/kperf/controller"
)

// controllerCollector turns a controller.Monitor into metrics at scrape
// time.
type controllerCollector struct {
	m                                         *controller.Monitor
	acked, failed, bytes, runs, lost          *prometheus.Desc
	runAcked, runFailed, runBytes             *prometheus.Desc
	rate, latency, agents, step, steps, state *prometheus.Desc
	consumed, runConsumed, lag, e2e           *prometheus.Desc
}

// NewControllerCollector returns a collector of m's kperf_controller_*
// metrics. Each scrape reads m.Status once.
func NewControllerCollector(m *controller.Monitor) prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("kperf_controller_"+name, help, labels, nil)
	}
	return &controllerCollector{
		m:         m,
		acked:     d("records_acked_total", "Records acknowledged, merged over all agents and all runs of this process."),
		failed:    d("records_failed_total", "Records failed, merged over all agents and all runs of this process."),
		bytes:     d("bytes_acked_total", "Record value bytes acknowledged, merged over all agents and all runs of this process."),
		runs:      d("runs_total", "Finished runs (sweep and search steps and warm-ups included) by result: ok, failed, interrupted.", "result"),
		lost:      d("agents_lost_total", "Agents lost during runs of this process."),
		runAcked:  d("run_records_acked", "Records acknowledged in the current (or last) run, merged over its agents."),
		runFailed: d("run_records_failed", "Records failed in the current (or last) run, merged over its agents."),
		runBytes:  d("run_bytes_acked", "Record value bytes acknowledged in the current (or last) run."),
		rate:      d("records_per_second", "Acknowledged records per second of the last full merged interval; 0 when idle."),
		latency:   d("interval_latency_seconds", "Ack latency (from intended send time) of the last full merged interval, at quantile 0.5 and 0.99.", "quantile"),
		agents:    d("agents_connected", "Agents in the current run; 0 when idle."),
		step:      d("sweep_step", "Current sweep or max-rate search step, 1-based; 0 outside sweeps and searches."),
		steps:     d("sweep_steps", "Steps of the current sweep (for a search, the most it runs); 0 outside sweeps and searches."),
		state:     d("run_state", "1 for the controller's current state (idle, preparing, running, stopping), 0 for the others.", "state"),

		consumed:    d("records_consumed_total", "Records consumed, merged over all agents' consumers and all runs of this process."),
		runConsumed: d("run_records_consumed", "Records consumed in the current (or last) run, merged over its agents."),
		lag:         d("consumer_lag_records", "Consumer lag at the end of the last merged interval (high watermark minus position, summed over partitions); 0 without consumers."),
		e2e:         d("interval_e2e_latency_seconds", "End-to-end latency (intended send to consume) of the last full merged interval with records consumed, at quantile 0.5 and 0.99.", "quantile"),
	}
}

// Describe implements prometheus.Collector.
func (c *controllerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acked, c.failed, c.bytes, c.runs, c.lost, c.runAcked, c.runFailed, c.runBytes,
		c.rate, c.latency, c.agents, c.step, c.steps, c.state, c.consumed, c.runConsumed, c.lag, c.e2e} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *controllerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.Status()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(c.acked, s.Acked)
	counter(c.failed, s.Failed)
	counter(c.bytes, s.Bytes)
	counter(c.lost, s.AgentsLost)
	for _, r := range []string{controller.ResultOK, controller.ResultFailed, controller.ResultInterrupted} {
		counter(c.runs, s.Runs[r], r)
	}
	gauge(c.runAcked, float64(s.RunAcked))
	gauge(c.runFailed, float64(s.RunFailed))
	gauge(c.runBytes, float64(s.RunBytes))
	gauge(c.rate, s.RatePerSec)
	gauge(c.latency, s.P50Ms/1e3, "0.5")
	gauge(c.latency, s.P99Ms/1e3, "0.99")
	gauge(c.agents, float64(s.AgentsConnected))
	gauge(c.step, float64(s.Step))
	gauge(c.steps, float64(s.Steps))
	counter(c.consumed, s.Consumed)
	gauge(c.runConsumed, float64(s.RunConsumed))
	gauge(c.lag, float64(s.ConsumerLag))
	gauge(c.e2e, s.E2EP50Ms/1e3, "0.5")
	gauge(c.e2e, s.E2EP99Ms/1e3, "0.99")
	for _, st := range controller.RunStates {
		gauge(c.state, boolValue(st == s.State), st.String())
	}
}
