//go:build e2e

package e2e

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The regular expressions that parse kafka-producer-perf-test's lines.
var (
	perfIntervalLine = regexp.MustCompile(`^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency\.$`)
	perfFinalLine    = regexp.MustCompile(`^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.$`)
)

// parsePerfOutput checks that every line of out is an interval line or, as
// the last line, a final line, and returns the final line's record count.
func parsePerfOutput(t *testing.T, who, out string) int64 {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, l := range lines[:len(lines)-1] {
		if !perfIntervalLine.MatchString(l) {
			t.Errorf("%s: stdout line %q is not an interval line", who, l)
		}
	}
	m := perfFinalLine.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("%s: last stdout line %q is not a final line\nstdout:\n%s", who, lines[len(lines)-1], out)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// TestPerfTestMatchesJavaTool runs the real kafka-producer-perf-test and
// kperf-controller producer-perf-test with the same arguments and parses
// both outputs with the same regular expressions.
func TestPerfTestMatchesJavaTool(t *testing.T) {
	topic := topicName(t)
	createTopic(t, topic, 6) // the test broker does not auto-create topics
	args := []string{"--topic", topic, "--num-records", "2000", "--record-size", "100", "--throughput", "-1",
		"--command-property", "bootstrap.servers=" + brokers, "acks=1"}

	t.Run("java", func(t *testing.T) {
		out, ok := javaTool(t, "org.apache.kafka.tools.ProducerPerformance", args...)
		if !ok {
			t.Skip("no java on PATH")
		}
		if n := parsePerfOutput(t, "java", out); n != 2000 {
			t.Errorf("java tool's final line counts %d records, want 2000", n)
		}
	})

	r := runController(t, 2*time.Minute, append(append([]string{"producer-perf-test"}, args...), "--out", t.TempDir())...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if n := parsePerfOutput(t, "kperf", r.stdout); n != 2000 {
		t.Errorf("kperf's final line counts %d records, want 2000", n)
	}
	if !strings.Contains(r.stderr, "delivery check: 2000 acked, broker end offsets grew by 2000: ok") {
		t.Errorf("no ok delivery check on stderr:\n%s", r.stderr)
	}

	// Unsupported and unknown flags: one line, exit 2, as the same command line.
	for _, extra := range []string{"--transactional-id=x", "--no-such-flag"} {
		r := runController(t, 30*time.Second, append(append([]string{"producer-perf-test"}, args...), extra)...)
		if r.code != 2 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2, nothing, one line", extra, r.code, r.stdout, r.stderr)
		}
	}
}

func createTopic(t *testing.T, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}
