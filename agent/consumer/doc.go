// Package consumer is kperf's consume side on an agent: consumer workers
// that join one consumer group (every worker of every agent), read the
// plan's topic through a driver (sarama ConsumerGroup or a franz-go group
// consumer), and measure what they read per window: records, bytes,
// fetches, rebalance time, lag, and end-to-end latency from the producers'
// stamps.
package consumer
