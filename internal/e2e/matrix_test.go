//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestProducerSettingsMatrix runs the producer settings users change most
// against real Kafka, with 3 agent processes and both drivers, and checks in every case that
// the records acked are exactly the records the broker stored.
func TestProducerSettingsMatrix(t *testing.T) {
	agents := startAgents(t, 3)
	tests := []struct {
		name    string
		workers int
		props   []string
	}{
		{name: "acks=0", workers: 1, props: []string{"acks=0"}},
		{name: "acks=1", workers: 1, props: []string{"acks=1"}},
		{name: "acks=all", workers: 1, props: []string{"acks=all"}},
		{name: "gzip", workers: 1, props: []string{"acks=1", "compression.type=gzip"}},
		{name: "snappy", workers: 1, props: []string{"acks=1", "compression.type=snappy"}},
		{name: "lz4", workers: 1, props: []string{"acks=1", "compression.type=lz4"}},
		{name: "zstd", workers: 1, props: []string{"acks=1", "compression.type=zstd"}},
		{name: "idempotent", workers: 1, props: []string{"acks=all", "enable.idempotence=true"}},
		{name: "3 agents x 4 workers", workers: 4, props: []string{"acks=1", "linger.ms=2", "batch.size=65536"}},
	}
	for _, driver := range []string{"sarama", "franz"} {
		for _, tc := range tests {
			t.Run(driver+"/"+tc.name, func(t *testing.T) {
				runAndCheckDelivery(t, brokers, addrs(agents), tc.workers, 30_000, tc.props, "--driver", driver)
			})
		}
	}
}

// TestReplicatedCluster runs against a 3-broker cluster with replication
// factor 3 and min.insync.replicas 2 (KPERF_E2E_BROKERS3, started by
// scripts/test).
func TestReplicatedCluster(t *testing.T) {
	b3 := os.Getenv("KPERF_E2E_BROKERS3")
	if b3 == "" {
		t.Fatal("KPERF_E2E_BROKERS3 is not set; scripts/test starts a 3-broker cluster for this test")
	}
	agents := startAgents(t, 3)
	for _, driver := range []string{"sarama", "franz"} {
		t.Run(driver, func(t *testing.T) {
			runAndCheckDelivery(t, b3, addrs(agents), 2, 30_000, []string{"acks=all"},
				"--replication-factor", "3", "--topic-configs", "min.insync.replicas=2", "--driver", driver)
		})
	}
}

// runAndCheckDelivery runs n records across the agents and checks the
// summary against the broker.
func runAndCheckDelivery(t *testing.T, bootstrap, agents string, workers int, n int64, props []string, extra ...string) {
	t.Helper()
	topic := topicName(t)
	out := t.TempDir()
	args := []string{"run", "--agents", agents, "--bootstrap-servers", bootstrap, "--topic", topic,
		"--num-records", fmt.Sprint(n), "--record-size", "512", "--throughput", "-1", "--workers", fmt.Sprint(workers), "--out", out}
	args = append(args, extra...)
	args = append(args, append([]string{"--producer-props"}, props...)...)
	began := time.Now()
	r := runController(t, 3*time.Minute, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	s := readSummary(t, out)
	stored := endOffsetsOn(t, bootstrap, topic)
	if s.Records != n || stored != n || !s.DeliveryCheck.OK || s.Failed != 0 {
		t.Errorf("acked %d, failed %d %v, broker stored %d, delivery_check %+v; want %d acked and stored",
			s.Records, s.Failed, s.Errors, stored, s.DeliveryCheck, n)
	}
	t.Logf("%s: %.0f records/s, p99 %.1f ms, in %v", strings.Join(props, " "), s.RecordsPerSec, s.LatencyMs.P99, time.Since(began).Round(time.Millisecond))
}
