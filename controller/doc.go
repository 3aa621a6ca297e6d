// Package controller runs a kperf test plan across agents: it loads and
// validates the plan, splits it exactly across agents and workers, prepares
// the topic, starts every agent at one common time, merges their interval
// histograms by interval index into aggregate throughput and exact latency
// percentiles, checks acked records against the broker's end offsets, and
// writes the results.
package controller
