// Package e2e holds kperf's multi-process tests: real kperf-agent and
// kperf-controller binaries against real Apache Kafka. They run with the
// build tag e2e and need KPERF_E2E_BROKERS (scripts/test sets both).
package e2e
