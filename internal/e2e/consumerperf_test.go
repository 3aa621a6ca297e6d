//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The lines of kafka-consumer-perf-test's output.
var (
	consumerPerfRow    = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}, ([\d.]+), ([\d.]+|Infinity), (\d+), ([\d.]+|Infinity), (\d+), (-?\d+), ([\d.]+|Infinity|NaN), ([\d.]+|Infinity|NaN)$`)
	consumerPerfDetail = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}, 0, ([\d.]+), ([\d.]+), (\d+), ([\d.]+), (\d+), (-?\d+), ([\d.]+), ([\d.]+)$`)
	consumerPerfWarn   = regexp.MustCompile(`^WARNING: Exiting before consuming the expected number of records: timeout \(\d+ ms\) exceeded\. You can use the --timeout option to increase the timeout\.$`)
)

// consumerPerfOut is one consumer-perf-test run's stdout, parsed.
type consumerPerfOut struct {
	deprecations []string // "Warning: --x is deprecated ..." lines before the header
	header       string
	rows         [][]string // submatches of the summary or detail rows
	warning      bool
}

func parseConsumerPerf(t *testing.T, who, out string, detailed bool) consumerPerfOut {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("%s: stdout has %d lines, want a header and rows:\n%s", who, len(lines), out)
	}
	p := consumerPerfOut{}
	for len(lines) > 2 && strings.HasPrefix(lines[0], "Warning: ") {
		p.deprecations = append(p.deprecations, lines[0])
		lines = lines[1:]
	}
	p.header = lines[0]
	row := consumerPerfRow
	if detailed {
		row = consumerPerfDetail
	}
	for _, l := range lines[1:] {
		switch {
		case consumerPerfWarn.MatchString(l):
			p.warning = true
		case row.MatchString(l):
			p.rows = append(p.rows, row.FindStringSubmatch(l))
		default:
			t.Errorf("%s: stdout line %q is neither a row nor the timeout warning", who, l)
		}
	}
	return p
}

// javaTool runs the Java tool class (e.g.
// org.apache.kafka.tools.ConsumerPerformance) from the Kafka jars
// scripts/kafka uses, with args, and returns its stdout. The test fails
// when the tool does; ok is false when there is no java on PATH.
func javaTool(t *testing.T, class string, args ...string) (stdout string, ok bool) {
	t.Helper()
	java, err := exec.LookPath("java")
	if err != nil {
		return "", false
	}
	cp, err := exec.Command("../../scripts/kafka", "classpath").Output()
	if err != nil {
		t.Fatalf("scripts/kafka classpath: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, java, append([]string{"-cp", strings.TrimSpace(string(cp)), class}, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("java tool: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	return out.String(), true
}

// TestConsumerPerfTestMatchesJavaTool fills a topic, then runs the real
// kafka-consumer-perf-test and kperf-controller consumer-perf-test with the
// same arguments: the same header, rows of the same shape, the same record
// counts, and the same timeout warning.
func TestConsumerPerfTestMatchesJavaTool(t *testing.T) {
	topic := topicName(t)
	const n = 20000
	r := runController(t, 2*time.Minute, "run", "--local", "1", "--bootstrap-servers", brokers, "--topic", topic,
		"--num-records", strconv.Itoa(n), "--throughput", "-1", "--out", t.TempDir())
	if r.code != 0 {
		t.Fatalf("fill topic: exit %d\n%s", r.code, r.stderr)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		detailed bool
		warning  bool
		records  int64
	}{
		{name: "summary", args: []string{"--num-records", strconv.Itoa(n)}, records: n},
		{name: "detailed", args: []string{"--num-records", strconv.Itoa(n), "--show-detailed-stats", "--reporting-interval", "100"}, detailed: true, records: n},
		{name: "timeout", args: []string{"--messages", strconv.Itoa(n + 1000), "--timeout", "1500"}, warning: true, records: n},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--bootstrap-server", brokers, "--topic", topic}, tc.args...)
			var outs []consumerPerfOut
			if out, ok := javaTool(t, "org.apache.kafka.tools.ConsumerPerformance", args...); ok {
				outs = append(outs, parseConsumerPerf(t, "java", out, tc.detailed))
			} else {
				t.Log("no java on PATH: checking kperf against the expected header only")
			}
			kr := runController(t, 2*time.Minute, append(append([]string{"consumer-perf-test"}, args...), "--out", t.TempDir())...)
			if kr.code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", kr.code, kr.stdout, kr.stderr)
			}
			kp := parseConsumerPerf(t, "kperf", kr.stdout, tc.detailed)
			want := "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
			if tc.detailed {
				want = "time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
			}
			if len(outs) > 0 {
				want = outs[0].header // the real tool's header is the reference
			}
			if kp.header != want {
				t.Errorf("kperf header %q, want %q", kp.header, want)
			}
			if len(outs) > 0 && strings.Join(kp.deprecations, "\n") != strings.Join(outs[0].deprecations, "\n") {
				t.Errorf("kperf deprecation lines %q, want the java tool's %q", kp.deprecations, outs[0].deprecations)
			}
			whos := []string{"kperf"}
			if len(outs) > 0 {
				whos = []string{"java", "kperf"}
			}
			for i, p := range append(outs, kp) {
				who := whos[i]
				if p.warning != tc.warning {
					t.Errorf("%s: timeout warning %v, want %v", who, p.warning, tc.warning)
				}
				if len(p.rows) == 0 {
					t.Fatalf("%s: no rows", who)
				}
				last := p.rows[len(p.rows)-1]
				// Column 5 (data.consumed.in.nMsg) is cumulative in both formats.
				got, _ := strconv.ParseInt(last[3], 10, 64)
				mb, _ := strconv.ParseFloat(last[1], 64)
				if tc.detailed && who == "java" {
					// The Java tool prints a row only when records arrive after
					// an interval has passed: its last row may miss the tail.
					if got < 1 || got > tc.records {
						t.Errorf("java: last row counts %d records, want 1..%d", got, tc.records)
					}
					continue
				}
				if got != tc.records {
					t.Errorf("%s: %d records consumed, want %d", who, got, tc.records)
				}
				if mb < float64(tc.records)*100/(1<<20)*0.99 {
					t.Errorf("%s: %.4f MB consumed, want about %d records of 100 bytes", who, mb, tc.records)
				}
			}
		})
	}

	// Unsupported and bad flags: one line, exit 2, nothing on stdout.
	for _, extra := range []string{"--include=x.*", "--no-such-flag", "--timeout=soon"} {
		kr := runController(t, 30*time.Second, "consumer-perf-test", "--bootstrap-server", brokers, "--topic", topic, "--num-records", "1", extra)
		if kr.code != 2 || kr.stdout != "" || strings.Count(kr.stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2, nothing, one line", extra, kr.code, kr.stdout, kr.stderr)
		}
	}
}
