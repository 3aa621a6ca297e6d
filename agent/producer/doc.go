// Package producer runs rate-limited Kafka producer workers and measures
// every record: latency from its intended send time to its ack (the
// headline, free of coordinated omission), service time from hand-off to
// the Kafka client to ack, and send delay from intended time to hand-off.
//
// A Worker owns one Kafka client (a Client: sarama or franz-go) and one schedule
// from package pace. Its hot path allocates nothing per record once the
// records it recycles have been created: records go back to a free list
// when they complete, and the free list's size is the worker's share of
// buffer.memory, so sends block (and the blocking shows as latency) when
// the broker falls behind.
package producer
