// Package e2e holds kperf's multi-process tests: real kperf-agent and
// kperf-controller binaries against real Apache Kafka. They run with the
// build tag e2e and need KPERF_E2E_BROKERS (scripts/test sets both). The
// multi-host test also needs KPERF_E2E_NETNS=1 and root: it puts each
// agent in a network namespace of its own, found through a test DNS
// server, with its own broker on the namespaces' bridge.
package e2e
