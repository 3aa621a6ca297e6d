// Package metrics exposes kperf's agents and controllers to Prometheus: a
// collector for each that reads their state at scrape time (never on the
// per-record path), the --metrics-addr and --pprof flags, and the HTTP
// server for /metrics and, when asked, /debug/pprof/. Every kperf metric is
// prefixed kperf_; docs/metrics.md lists them.
package metrics
