package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// The regular expressions that parse kafka-producer-perf-test's lines.
var (
	perfIntervalLine = regexp.MustCompile(`^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency\.$`)
	perfFinalLine    = regexp.MustCompile(`^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.$`)
)

// TestPerfTestOutputParses runs producer-perf-test in this process against
// an in-process broker and parses every stdout line as the Java tool's.
func TestPerfTestOutputParses(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const records = 4000
	var stdout, stderr bytes.Buffer
	code := perfTest(context.Background(), []string{
		"--topic", "perf", "--num-records", strconv.Itoa(records), "--record-size", "100", "--throughput", "2000",
		"--producer-props", "acks=1", "linger.ms=1", "--bootstrap-server", strings.Join(c.ListenAddrs(), ","),
		"--reporting-interval", "500", "--out", t.TempDir(),
	}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("want interval lines and a final line, got:\n%s", stdout.String())
	}
	var sum int64
	for _, l := range lines[:len(lines)-1] {
		m := perfIntervalLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("stdout line %q is not an interval line\nstdout:\n%s", l, stdout.String())
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		sum += n
	}
	m := perfFinalLine.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("last stdout line %q is not a final line", lines[len(lines)-1])
	}
	// Interval lines cover full windows only (a short tail has none, as in
	// the Java tool), so they count at most the total.
	if m[1] != strconv.Itoa(records) || sum > records || sum < records/2 {
		t.Errorf("final line counts %s records, interval lines %d; want %d in the final line and at most that in the intervals", m[1], sum, records)
	}
	for _, want := range []string{"delivery check: 4000 acked", "results in "} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// TestPerfTestPrintMetrics checks the metrics section and that the run
// still ends with the final line before it.
func TestPerfTestPrintMetrics(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var stdout, stderr bytes.Buffer
	code := perfTest(context.Background(), []string{
		"--topic", "perf", "--num-records", "500", "--record-size", "10", "--throughput", "-1",
		"--command-property", "bootstrap.servers=" + strings.Join(c.ListenAddrs(), ","), "--print-metrics", "--out", t.TempDir(),
	}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	final, metrics, ok := strings.Cut(out, "\n\nMetric Name")
	if !ok {
		t.Fatalf("no metrics header:\n%s", out)
	}
	finalLines := strings.Split(final, "\n")
	if !perfFinalLine.MatchString(finalLines[len(finalLines)-1]) {
		t.Errorf("line before the metrics %q is not a final line", finalLines[len(finalLines)-1])
	}
	metricLine := regexp.MustCompile(`^kperf:[a-z0-9-]+:\{[^}]*\} +: \S+$`)
	for _, l := range strings.Split(strings.TrimSpace(metrics), "\n")[1:] {
		if !metricLine.MatchString(l) {
			t.Errorf("metric line %q is not 'name : value'", l)
		}
	}
	for _, want := range []string{"kperf:records-acked:{} ", ": 500\n", "kperf:latency-p99-ms:{}", "kperf:delivery-check-ok:{}"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
}

// TestPerfTestBadFlags checks exit 2 and one line on stderr, nothing on stdout.
func TestPerfTestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--topic", "t", "--num-records", "1", "--record-size", "1", "--throughput", "1", "--bootstrap-server", "b:1", "--transactional-id", "x"},
		{"--topic", "t", "--num-records", "1", "--record-size", "1", "--throughput", "1", "--bootstrap-server", "b:1", "--nope"},
		{"--topic", "t", "--num-records", "1", "--record-size", "1", "--throughput", "1", "--bootstrap-server", "b:1", "--producer-props", "linger=5"},
		{"--num-records", "1", "--record-size", "1", "--throughput", "1", "--bootstrap-server", "b:1"},
	} {
		var stdout, stderr bytes.Buffer
		if code := perfTest(context.Background(), args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
		if stdout.Len() != 0 || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%q: stdout %q, stderr %q; want one stderr line only", args, stdout.String(), stderr.String())
		}
	}
}

func TestPerfTestPprofNeedsMetricsAddr(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := perfTest(context.Background(), []string{
		"--topic", "perf", "--num-records", "10", "--record-size", "100", "--throughput", "-1",
		"--bootstrap-server", "127.0.0.1:1", "--pprof",
	}, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "--pprof needs --metrics-addr") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("--pprof without --metrics-addr: exit %d, stderr %q; want exit 2 and one line naming both flags", code, stderr.String())
	}
}
