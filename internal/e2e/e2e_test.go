//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

var (
	binDir  string
	brokers string
)

func TestMain(m *testing.M) {
	brokers = os.Getenv("KPERF_E2E_BROKERS")
	if brokers == "" {
		fmt.Fprintln(os.Stderr, "e2e: KPERF_E2E_BROKERS is not set; run scripts/test, or `scripts/kafka up` and export its last line")
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "kperf-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, cmd := range []string{"kperf-agent", "kperf-controller"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, cmd), "github.com/kperf/kperf/cmd/"+cmd).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", cmd, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// agentProc is a running kperf-agent process.
type agentProc struct {
	addr string
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

// startAgents starts n agent processes on loopback ports.
func startAgents(t *testing.T, n int) []*agentProc {
	t.Helper()
	out := make([]*agentProc, n)
	for i := range out {
		ready := filepath.Join(t.TempDir(), "addr")
		var log bytes.Buffer
		cmd := exec.Command(filepath.Join(binDir, "kperf-agent"), "--listen", "127.0.0.1:0", "--ready-file", ready)
		cmd.Stderr = &log
		if err := cmd.Start(); err != nil {
			t.Fatalf("start agent: %v", err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("agent %d log:\n%s", i, log.String())
			}
		})
		var addr string
		waitFor(t, 10*time.Second, "agent ready file", func() bool {
			b, err := os.ReadFile(ready)
			addr = strings.TrimSpace(string(b))
			return err == nil && addr != ""
		})
		out[i] = &agentProc{addr: addr, cmd: cmd, log: &log}
	}
	return out
}

func addrs(as []*agentProc) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.addr
	}
	return strings.Join(s, ",")
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// controllerResult is one kperf-controller invocation.
type controllerResult struct {
	code           int
	stdout, stderr string
}

func runController(t *testing.T, timeout time.Duration, args ...string) controllerResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kperf-controller"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("kperf-controller %v did not finish within %v (a hang)\nstdout:\n%s\nstderr:\n%s", args, timeout, stdout.String(), stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run kperf-controller: %v", err)
	}
	return controllerResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// summary is the part of summary.json the tests read.
type summary struct {
	Records             int64            `json:"records"`
	Bytes               int64            `json:"bytes"`
	Failed              int64            `json:"failed"`
	Errors              map[string]int64 `json:"errors"`
	DurationS           float64          `json:"duration_s"`
	RecordsPerSec       float64          `json:"records_per_sec"`
	TargetRecordsPerSec float64          `json:"target_records_per_sec"`
	LatencyMs           struct {
		Mean, P50, P95, P99, P999, Max float64
	} `json:"latency_ms"`
	Agents []struct {
		Address string `json:"address"`
		Records int64  `json:"records"`
	} `json:"agents"`
	DeliveryCheck struct {
		Acked             int64 `json:"acked"`
		BrokerOffsetDelta int64 `json:"broker_offset_delta"`
		OK                bool  `json:"ok"`
	} `json:"delivery_check"`
	StartSkewMs float64 `json:"start_skew_ms"`
}

func readSummary(t *testing.T, dir string) summary {
	t.Helper()
	var s summary
	readSummaryInto(t, dir, &s)
	return s
}

// readSummaryInto decodes dir/summary.json into v.
func readSummaryInto(t *testing.T, dir string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatalf("read summary: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode summary: %v", err)
	}
}

// endOffsets sums a topic's end offsets as the test sees them, independent
// of kperf's own check. A missing topic counts 0.
func endOffsets(t *testing.T, topic string) int64 {
	t.Helper()
	return endOffsetsOn(t, brokers, topic)
}

// endOffsetsOn is endOffsets on the cluster at bootstrap.
func endOffsetsOn(t *testing.T, bootstrap, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lo, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	var sum int64
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			sum += o.Offset
		}
	})
	return sum
}

func topicName(t *testing.T) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	return fmt.Sprintf("e2e-%s-%d", name, time.Now().UnixNano()%1e9)
}

// TestDistributedRunDeliversEveryRecord runs a plan of known record count on
// 3 agent processes and checks the totals against the broker.
func TestDistributedRunDeliversEveryRecord(t *testing.T) {
	agents := startAgents(t, 3)
	topic := topicName(t)
	out := t.TempDir()
	const records = 60_000
	r := runController(t, 2*time.Minute, "run", "--agents", addrs(agents), "--bootstrap-servers", brokers,
		"--topic", topic, "--num-records", fmt.Sprint(records), "--record-size", "200", "--throughput", "20000",
		"--workers", "2", "--partitions", "6", "--producer-props", "acks=all", "linger.ms=5", "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	s := readSummary(t, out)
	var perAgent int64
	for _, a := range s.Agents {
		perAgent += a.Records
		if a.Records == 0 {
			t.Errorf("agent %s acked no records", a.Address)
		}
	}
	broker := endOffsets(t, topic) // a new topic: its end offsets are the growth
	if s.Records != records || perAgent != records || broker != records {
		t.Errorf("records: summary %d, sum of agents %d, broker %d; want %d each", s.Records, perAgent, broker, records)
	}
	if !s.DeliveryCheck.OK || s.DeliveryCheck.BrokerOffsetDelta != records || s.DeliveryCheck.Acked != records {
		t.Errorf("delivery_check = %+v, want ok with %d", s.DeliveryCheck, records)
	}
	if s.LatencyMs.P50 <= 0 || s.LatencyMs.P99 < s.LatencyMs.P50 || s.LatencyMs.Max < s.LatencyMs.P99 {
		t.Errorf("latency percentiles not ordered: %+v", s.LatencyMs)
	}
	if !strings.Contains(r.stdout, fmt.Sprintf("%d records sent,", records)) || !strings.Contains(r.stdout, "ms 99.9th.") {
		t.Errorf("no final kafka-producer-perf-test line in output:\n%s", r.stdout)
	}
	for _, f := range []string{"intervals.csv", "latency.hlog"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("results file %s missing or empty: %v", f, err)
		}
	}
}

// TestRateLimitedRunHitsTarget checks the achieved aggregate rate.
func TestRateLimitedRunHitsTarget(t *testing.T) {
	agents := startAgents(t, 3)
	out := t.TempDir()
	const target = 9000.0
	r := runController(t, 2*time.Minute, "run", "--agents", addrs(agents), "--bootstrap-servers", brokers,
		"--topic", topicName(t), "--throughput", fmt.Sprint(target), "--duration", "6s", "--record-size", "100",
		"--producer-props", "acks=1", "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	s := readSummary(t, out)
	if dev := (s.RecordsPerSec - target) / target; dev < -0.02 || dev > 0.02 {
		t.Errorf("achieved %.1f records/s, target %.0f: off by %.2f%% (allowed 2%%)", s.RecordsPerSec, target, 100*dev)
	}
	if s.StartSkewMs > 100 {
		t.Errorf("start skew %.1f ms between agents on one host", s.StartSkewMs)
	}
}

// TestKilledControllerLeavesNoAgentProducing kills the controller mid-run
// and checks that the topic stops growing and the agents become free.
func TestKilledControllerLeavesNoAgentProducing(t *testing.T) {
	agents := startAgents(t, 3)
	topic := topicName(t)
	cmd := exec.Command(filepath.Join(binDir, "kperf-controller"), "run", "--agents", addrs(agents),
		"--bootstrap-servers", brokers, "--topic", topic, "--throughput", "3000", "--duration", "120s",
		"--producer-props", "acks=1", "--out", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, 30*time.Second, "records arriving", func() bool { return endOffsets(t, topic) > 3000 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed := time.Now()
	// The agents stop when their lease (default 5 s) expires: the topic's
	// last growth must come within it, and then it must stay still for a
	// whole second. Polled every 100 ms, so lastGrowth is the time of the
	// last record to within that.
	const lease = 5 * time.Second
	last := endOffsets(t, topic)
	lastGrowth, still := time.Duration(0), time.Now()
	waitFor(t, lease+2*time.Second, "end offsets to stop growing", func() bool {
		time.Sleep(100 * time.Millisecond)
		if n := endOffsets(t, topic); n != last {
			last, lastGrowth, still = n, time.Since(killed), time.Now()
		}
		return time.Since(still) >= time.Second
	})
	if lastGrowth == 0 {
		t.Logf("topic did not grow after SIGKILL: the agents stopped when their streams broke (lease %v)", lease)
	} else {
		t.Logf("topic last grew %v after SIGKILL (lease %v)", lastGrowth.Round(10*time.Millisecond), lease)
	}
	if lastGrowth > lease {
		t.Errorf("topic still grew %v after SIGKILL; want the agents stopped within the lease %v", lastGrowth, lease)
	}
	for _, a := range agents {
		waitFor(t, 5*time.Second, "agent "+a.addr+" free", func() bool { return !agentInfo(t, a.addr).GetBusy() })
	}
	t.Logf("all agents free %v after SIGKILL", time.Since(killed).Round(10*time.Millisecond))
}

func agentInfo(t *testing.T, addr string) *kperfv1.InfoResponse {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	in, err := kperfv1.NewAgentServiceClient(conn).Info(ctx, &kperfv1.InfoRequest{})
	if err != nil {
		t.Fatalf("info %s: %v", addr, err)
	}
	return in
}

// oldAgent answers Info like an agent of another protocol version.
type oldAgent struct {
	kperfv1.UnimplementedAgentServiceServer
}

func (oldAgent) Info(context.Context, *kperfv1.InfoRequest) (*kperfv1.InfoResponse, error) {
	return &kperfv1.InfoResponse{Version: "old", ProtocolVersion: 99}, nil
}

// TestBadInputFailsClearly checks that bad input gives a one-line error
// naming the problem and a non-zero exit, without hanging.
func TestBadInputFailsClearly(t *testing.T) {
	agents := startAgents(t, 1)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	kperfv1.RegisterAgentServiceServer(gs, oldAgent{})
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := closed.Addr().String()
	closed.Close()
	plan := filepath.Join(t.TempDir(), "plan.yaml")
	os.WriteFile(plan, []byte("topic: x\nthroughputt: 5\n"), 0o644)

	base := []string{"run", "--out", t.TempDir()}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{name: "zero rate", args: []string{"--agents", agents[0].addr, "--bootstrap-servers", brokers, "--throughput", "0"}, wantCode: 2, want: "throughput"},
		{name: "negative rate", args: []string{"--agents", agents[0].addr, "--bootstrap-servers", brokers, "--throughput", "-5"}, wantCode: 2, want: "throughput"},
		{name: "unknown plan key", args: []string{"--agents", agents[0].addr, "-f", plan}, wantCode: 2, want: `"throughputt"`},
		{name: "unknown producer prop", args: []string{"--agents", agents[0].addr, "--bootstrap-servers", brokers, "--producer-props", "lingerms=5"}, wantCode: 2, want: "lingerms"},
		{name: "unreachable agent", args: []string{"--agents", deadAddr, "--bootstrap-servers", brokers, "--dial-timeout", "2s"}, wantCode: 1, want: "agent " + deadAddr},
		{name: "other protocol version", args: []string{"--agents", lis.Addr().String(), "--bootstrap-servers", brokers}, wantCode: 1, want: "protocol v99"},
		{name: "fewer agents than planned", args: []string{"--agents", agents[0].addr, "--bootstrap-servers", brokers, "--agent-count", "3"}, wantCode: 2, want: "agent_count"},
		{name: "broker unreachable", args: []string{"--agents", agents[0].addr, "--bootstrap-servers", deadAddr}, wantCode: 1, want: "kafka"},
		{name: "record larger than the topic allows", args: []string{"--agents", agents[0].addr, "--bootstrap-servers", brokers,
			"--topic", topicName(t), "--topic-configs", "max.message.bytes=2000", "--record-size", "5000"}, wantCode: 1, want: "max.message.bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runController(t, 90*time.Second, append(base, tc.args...)...)
			if r.code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.wantCode, r.stdout, r.stderr)
			}
			line := strings.TrimSpace(r.stderr)
			if strings.Count(line, "\n") > 0 {
				// Only the last line is the error; earlier lines are logs.
				line = line[strings.LastIndex(line, "\n")+1:]
			}
			if !strings.Contains(line, tc.want) {
				t.Errorf("error %q does not name %q", line, tc.want)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Errorf("panic output:\n%s", r.stderr)
			}
		})
	}
	if agentInfo(t, agents[0].addr).GetBusy() {
		t.Error("agent left busy after failed runs")
	}
}
