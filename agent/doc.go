// Package agent serves kperf's AgentService: it takes one slice of a test
// plan at a time from a controller, runs it with producer workers, and
// streams interval counters and latency histograms back. The Run stream is
// the lease: when it breaks or goes quiet past the lease timeout, the agent
// stops producing at once.
package agent
