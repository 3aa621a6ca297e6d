//go:build e2e

package e2e

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The fault tests run short, slow plans: a reporting interval of 1 s (so
// the controller hears every agent each second) and the default 5 s lease.
const (
	faultRate     = 3000 // records/s over all agents
	faultInterval = "1s"
	faultLease    = 5 * time.Second
)

// faultSummary is the part of summary.json the fault tests read.
type faultSummary struct {
	StartedAt      string           `json:"started_at"`
	Records        int64            `json:"records"`
	Failed         int64            `json:"failed"`
	Sent           int64            `json:"sent"`
	Errors         map[string]int64 `json:"errors"`
	Interrupted    bool             `json:"interrupted"`
	Partial        bool             `json:"partial"`
	PartialReasons []string         `json:"partial_reasons"`
	Agents         []faultAgent     `json:"agents"`
	DeliveryCheck  struct {
		Acked             int64  `json:"acked"`
		BrokerOffsetDelta int64  `json:"broker_offset_delta"`
		Unresolved        int64  `json:"unresolved"`
		Unaccounted       int64  `json:"unaccounted"`
		OK                bool   `json:"ok"`
		Error             string `json:"error"`
	} `json:"delivery_check"`
}

type faultAgent struct {
	Address          string  `json:"address"`
	Records          int64   `json:"records"`
	Failed           int64   `json:"failed"`
	Sent             int64   `json:"sent"`
	EndReason        string  `json:"end_reason"`
	Lost             bool    `json:"lost"`
	LostAtS          float64 `json:"lost_at_s"`
	LastIntervalEndS float64 `json:"last_interval_end_s"`
}

func readFaultSummary(t *testing.T, dir string) faultSummary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatalf("read summary: %v", err)
	}
	var s faultSummary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("decode summary: %v", err)
	}
	return s
}

// start is the run's common start time.
func (s faultSummary) start(t *testing.T) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s.StartedAt)
	if err != nil {
		t.Fatalf("summary started_at %q: %v", s.StartedAt, err)
	}
	return at
}

func (s faultSummary) agent(t *testing.T, addr string) faultAgent {
	t.Helper()
	for _, a := range s.Agents {
		if a.Address == addr {
			return a
		}
	}
	t.Fatalf("summary has no agent %s: %+v", addr, s.Agents)
	return faultAgent{}
}

// checkTotals checks what a user relies on in any run: the total is the
// sum of the agents' counts, and no acked record is missing from the
// broker (growth is the topic's end-offset growth as the test reads it).
func checkTotals(t *testing.T, s faultSummary, growth int64) {
	t.Helper()
	var sum int64
	for _, a := range s.Agents {
		sum += a.Records
	}
	if s.Records != sum || s.DeliveryCheck.Acked != s.Records {
		t.Errorf("records %d, acked %d, sum of agents %d; want all equal", s.Records, s.DeliveryCheck.Acked, sum)
	}
	if s.Records <= 0 || s.Records > growth {
		t.Errorf("acked %d records, the broker's end offsets grew by %d: want 0 < acked <= growth", s.Records, growth)
	}
}

// fullShare reports whether a ran its share of the plan to the end: every
// record it sent acked, and no more than share records, at least 98% of
// them (on a loaded machine a generator may fall a little behind its
// schedule by the planned end; a lost agent stops far earlier).
func fullShare(a faultAgent, share int64) bool {
	return a.Failed == 0 && a.Sent == a.Records && a.Records <= share && float64(a.Records) >= 0.98*float64(share)
}

// controllerProc is a kperf-controller running in the background.
type controllerProc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	exited         chan struct{}
	exitedAt       time.Time
}

func startController(t *testing.T, cmd *exec.Cmd) *controllerProc {
	t.Helper()
	c := &controllerProc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.stdout, c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kperf-controller: %v", err)
	}
	go func() {
		cmd.Wait()
		c.exitedAt = time.Now()
		close(c.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.exited
	})
	return c
}

// runFaultController starts kperf-controller run with args.
func runFaultController(t *testing.T, args ...string) *controllerProc {
	t.Helper()
	return startController(t, exec.Command(filepath.Join(binDir, "kperf-controller"), append([]string{"run"}, args...)...))
}

// waitIntervals waits until the controller printed n interval lines: the
// run is n reporting intervals in.
func (c *controllerProc) waitIntervals(t *testing.T, n int) {
	t.Helper()
	waitFor(t, 60*time.Second, fmt.Sprintf("%d interval lines", n), func() bool {
		select {
		case <-c.exited:
			t.Fatalf("kperf-controller exited early\nstdout:\n%s\nstderr:\n%s", c.stdout.String(), c.stderr.String())
		default:
		}
		return strings.Count(c.stdout.String(), "records sent,") >= n
	})
}

// wait waits for the controller to exit and returns its exit code.
func (c *controllerProc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-c.exited:
	case <-time.After(d):
		c.cmd.Process.Kill()
		<-c.exited
		t.Fatalf("kperf-controller still running after %v (a hang)\nstdout:\n%s\nstderr:\n%s", d, c.stdout.String(), c.stderr.String())
	}
	return c.cmd.ProcessState.ExitCode()
}

func (c *controllerProc) output() string {
	return "stdout:\n" + c.stdout.String() + "\nstderr:\n" + c.stderr.String()
}

// noPanic fails if any process's output shows a panic.
func noPanic(t *testing.T, who, out string) {
	t.Helper()
	if strings.Contains(out, "panic:") || strings.Contains(out, "goroutine ") {
		t.Errorf("%s panicked:\n%s", who, out)
	}
}

// faultAgentProc is a kperf-agent process whose exit the test watches.
type faultAgentProc struct {
	addr     string
	cmd      *exec.Cmd
	log      *syncBuffer
	exited   chan struct{}
	exitedAt time.Time
}

// startFaultAgents starts n agent processes on loopback ports with extra
// flags.
func startFaultAgents(t *testing.T, n int, extra ...string) []*faultAgentProc {
	t.Helper()
	out := make([]*faultAgentProc, n)
	for i := range out {
		ready := filepath.Join(t.TempDir(), "addr")
		a := &faultAgentProc{log: &syncBuffer{}, exited: make(chan struct{})}
		a.cmd = exec.Command(filepath.Join(binDir, "kperf-agent"), append([]string{"--listen", "127.0.0.1:0", "--ready-file", ready}, extra...)...)
		a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
		if err := a.cmd.Start(); err != nil {
			t.Fatalf("start agent: %v", err)
		}
		go func() {
			a.cmd.Wait()
			a.exitedAt = time.Now()
			close(a.exited)
		}()
		t.Cleanup(func() {
			a.cmd.Process.Kill()
			<-a.exited
			if t.Failed() {
				t.Logf("agent %d (%s) log:\n%s", i, a.addr, a.log.String())
			}
		})
		waitFor(t, 10*time.Second, "agent ready file", func() bool {
			b, err := os.ReadFile(ready)
			a.addr = strings.TrimSpace(string(b))
			return err == nil && a.addr != ""
		})
		out[i] = a
	}
	return out
}

func faultAddrs(as []*faultAgentProc) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.addr
	}
	return strings.Join(s, ",")
}

// planArgs are the flags of a fault test's plan: a new topic, rate
// faultRate, 1 s reporting intervals.
func planArgs(bootstrap, topic, duration, out string, extra ...string) []string {
	return append([]string{"--bootstrap-servers", bootstrap, "--topic", topic, "--partitions", "3",
		"--throughput", strconv.Itoa(faultRate), "--duration", duration, "--record-size", "100",
		"--interval", faultInterval, "--out", out}, extra...)
}

// TestAgentKilledMidRun SIGKILLs one of three agents mid-run: the
// controller must notice at once (its stream breaks), finish the run with
// the other two, say which agent was lost and when, keep the totals
// consistent with the broker, and exit 3, or 0 when the plan allows
// partial results.
func TestAgentKilledMidRun(t *testing.T) {
	for _, tc := range []struct {
		name     string
		extra    []string
		wantCode int
	}{
		{name: "exit 3", wantCode: 3},
		{name: "allow partial exits 0", extra: []string{"--allow-partial"}, wantCode: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agents := startFaultAgents(t, 3)
			topic, out := topicName(t), t.TempDir()
			const duration = 6 * time.Second
			c := runFaultController(t, append([]string{"--agents", faultAddrs(agents), "--producer-props", "acks=all"},
				planArgs(brokers, topic, duration.String(), out, tc.extra...)...)...)
			c.waitIntervals(t, 2)
			victim := agents[0]
			if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed := time.Now()
			code := c.wait(t, 60*time.Second)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\n%s", code, tc.wantCode, c.output())
			}
			noPanic(t, "kperf-controller", c.stderr.String())
			s := readFaultSummary(t, out)
			start := s.start(t)
			killedAt := killed.Sub(start).Seconds()
			v := s.agent(t, victim.addr)
			detect := v.LostAtS - killedAt
			t.Logf("SIGKILL at %.2fs, lost_at %.2fs: detected after %.0f ms; controller exited %.2fs after the run's start (planned end %v)",
				killedAt, v.LostAtS, 1000*detect, c.exitedAt.Sub(start).Seconds(), duration)
			if !s.Partial || !v.Lost || detect < 0 || detect > 1 {
				t.Errorf("killed agent %s: partial %v, lost %v at %.2fs, killed at %.2fs; want partial, lost within 1 s of the kill", victim.addr, s.Partial, v.Lost, v.LostAtS, killedAt)
			}
			if v.Records <= 0 || v.LastIntervalEndS <= 0 || v.LastIntervalEndS > v.LostAtS+0.1 {
				t.Errorf("killed agent %s: %d records, last interval end %.2fs, lost at %.2fs; want the records it reported before the kill", victim.addr, v.Records, v.LastIntervalEndS, v.LostAtS)
			}
			if len(s.PartialReasons) != 1 || !strings.Contains(s.PartialReasons[0], "agent "+victim.addr+" lost at ") {
				t.Errorf("partial_reasons = %q, want one naming agent %s", s.PartialReasons, victim.addr)
			}
			share := int64(faultRate / len(agents) * int(duration/time.Second))
			for _, a := range agents[1:] {
				sa := s.agent(t, a.addr)
				if sa.Lost || sa.EndReason != "done" || !fullShare(sa, share) {
					t.Errorf("surviving agent %s: lost %v, end_reason %q, %d records of %d sent, %d failed; want done with its full share of %d",
						a.addr, sa.Lost, sa.EndReason, sa.Records, sa.Sent, sa.Failed, share)
				}
			}
			growth := endOffsets(t, topic)
			checkTotals(t, s, growth)
			d := s.DeliveryCheck
			if !d.OK || d.BrokerOffsetDelta != growth || d.Unaccounted != growth-s.Records {
				t.Errorf("delivery_check %+v with broker growth %d: want ok, unaccounted = growth - acked", d, growth)
			}
			t.Logf("acked %d, broker grew by %d (unaccounted %d: the killed agent's records stored without an ack reaching the controller)", s.Records, growth, d.Unaccounted)
			for _, a := range agents[1:] {
				if agentInfo(t, a.addr).GetBusy() {
					t.Errorf("agent %s still busy after the run", a.addr)
				}
			}
		})
	}
}

// TestAgentSIGTERMMidRun sends SIGTERM to one of three agents mid-run: it
// must stop its test, send its final report and exit 0 within its drain
// timeout; the controller includes that report, marks the result partial
// and exits 3.
func TestAgentSIGTERMMidRun(t *testing.T) {
	const drain = 10 * time.Second
	agents := startFaultAgents(t, 3, "--drain-timeout", drain.String())
	topic, out := topicName(t), t.TempDir()
	c := runFaultController(t, append([]string{"--agents", faultAddrs(agents), "--producer-props", "acks=all"},
		planArgs(brokers, topic, "6s", out)...)...)
	c.waitIntervals(t, 2)
	victim := agents[1]
	if err := victim.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	termed := time.Now()
	select {
	case <-victim.exited:
	case <-time.After(drain + 5*time.Second):
		t.Fatalf("agent %s still running %v after SIGTERM (drain timeout %v)", victim.addr, drain+5*time.Second, drain)
	}
	exitAfter := victim.exitedAt.Sub(termed)
	if code := victim.cmd.ProcessState.ExitCode(); code != 0 || exitAfter > drain {
		t.Errorf("agent exited %d after %v; want 0 within the drain timeout %v\n%s", code, exitAfter, drain, victim.log.String())
	}
	noPanic(t, "kperf-agent", victim.log.String())
	code := c.wait(t, 60*time.Second)
	if code != 3 {
		t.Errorf("exit %d, want 3\n%s", code, c.output())
	}
	if !strings.Contains(c.stderr.String(), "kperf-controller: partial result") {
		t.Errorf("no partial result error:\n%s", c.stderr.String())
	}
	s := readFaultSummary(t, out)
	termAt := termed.Sub(s.start(t)).Seconds()
	t.Logf("SIGTERM at %.2fs: agent exited 0 after %v", termAt, exitAfter.Round(time.Millisecond))
	v := s.agent(t, victim.addr)
	if v.Lost || v.EndReason != "agent shutting down" || v.Records <= 0 || v.Sent != v.Records+v.Failed {
		t.Errorf("SIGTERMed agent %s: lost %v, end_reason %q, %d records, %d failed of %d sent; want its final report: shutting down, records > 0, all resolved",
			victim.addr, v.Lost, v.EndReason, v.Records, v.Failed, v.Sent)
	}
	if !s.Partial || len(s.PartialReasons) != 1 || !strings.Contains(s.PartialReasons[0], "agent "+victim.addr+" shut down at ") {
		t.Errorf("partial %v, partial_reasons %q; want partial naming agent %s", s.Partial, s.PartialReasons, victim.addr)
	}
	for _, a := range []*faultAgentProc{agents[0], agents[2]} {
		if sa := s.agent(t, a.addr); sa.EndReason != "done" || sa.Lost {
			t.Errorf("agent %s: end_reason %q, lost %v; want done", a.addr, sa.EndReason, sa.Lost)
		}
	}
	// No agent was lost: every record's fate is known, so acked equals the
	// broker's growth exactly.
	growth := endOffsets(t, topic)
	checkTotals(t, s, growth)
	if d := s.DeliveryCheck; !d.OK || d.Acked != growth || d.Unresolved != 0 {
		t.Errorf("delivery_check %+v, broker growth %d: want ok, acked == growth", d, growth)
	}
}

// TestControllerSignalledMidRun sends SIGINT, then in another run
// SIGTERM, to the controller mid-run: it must stop the agents, wait for
// their in-flight records (bounded), write a summary marked interrupted
// with what was measured, exit 130, and leave the agents free.
func TestControllerSignalledMidRun(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			agents := startFaultAgents(t, 3)
			topic, out := topicName(t), t.TempDir()
			c := runFaultController(t, append([]string{"--agents", faultAddrs(agents), "--producer-props", "acks=all", "linger.ms=5"},
				planArgs(brokers, topic, "60s", out)...)...)
			c.waitIntervals(t, 2)
			if err := c.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			signalled := time.Now()
			code := c.wait(t, 60*time.Second)
			took := c.exitedAt.Sub(signalled)
			t.Logf("%v: controller exited %d after %v", sig, code, took.Round(time.Millisecond))
			if code != 130 {
				t.Errorf("exit %d, want 130\n%s", code, c.output())
			}
			// Bounded: the agents stop at once; the wait for acks is short
			// against a healthy broker.
			if took > 10*time.Second {
				t.Errorf("exit %v after %v; want within 10 s", took, sig)
			}
			noPanic(t, "kperf-controller", c.stderr.String())
			s := readFaultSummary(t, out)
			if !s.Interrupted || s.Partial {
				t.Errorf("interrupted %v, partial %v; want interrupted, not partial", s.Interrupted, s.Partial)
			}
			growth := endOffsets(t, topic)
			checkTotals(t, s, growth)
			// In-flight records were awaited: every record sent is acked or
			// failed, and the broker holds exactly the acked ones.
			if d := s.DeliveryCheck; !d.OK || d.Acked != growth || d.Unresolved != 0 || s.Sent != s.Records+s.Failed {
				t.Errorf("delivery_check %+v, sent %d, failed %d, broker growth %d: want every record resolved and acked == growth", d, s.Sent, s.Failed, growth)
			}
			for _, a := range s.Agents {
				if a.EndReason != "stopped by controller" || a.Records <= 0 {
					t.Errorf("agent %s: end_reason %q, %d records; want stopped by controller with records", a.Address, a.EndReason, a.Records)
				}
			}
			if later := endOffsets(t, topic); later != growth {
				t.Errorf("topic grew from %d to %d after the controller exited: an agent kept producing", growth, later)
			}
			for _, a := range agents {
				if agentInfo(t, a.addr).GetBusy() {
					t.Errorf("agent %s still busy after the controller exited", a.addr)
				}
			}
		})
	}
}

// kafkaCluster is a cluster of the project's Kafka script with its own
// run directory.
type kafkaCluster struct {
	run       string
	host      string
	bootstrap string
}

func (k *kafkaCluster) script(args ...string) *exec.Cmd {
	cmd := exec.Command("../../scripts/kafka", args...)
	cmd.Env = append(os.Environ(), "KPERF_KAFKA_RUN="+k.run, "KPERF_KAFKA_HOST="+k.host, "KPERF_KAFKA_HEAP=-Xms256m -Xmx512m")
	return cmd
}

// startKafka starts a one-broker cluster in run dir /tmp/kperf-e2e-<name>
// (stopping what a crashed run left there) listening on host, and takes it
// down when t ends.
func startKafka(t *testing.T, name, host string) *kafkaCluster {
	t.Helper()
	k := &kafkaCluster{run: filepath.Join(os.TempDir(), "kperf-e2e-"+name), host: host}
	if out, err := k.script("down").CombinedOutput(); err != nil {
		t.Fatalf("scripts/kafka down (a crashed run's broker): %v\n%s", err, out)
	}
	k.bootstrap = k.up(t, "up")
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := k.script("logs", "30").CombinedOutput()
			t.Logf("broker logs:\n%s", logs)
		}
		if out, err := k.script("down").CombinedOutput(); err != nil {
			t.Errorf("scripts/kafka down: %v\n%s", err, out)
		}
		os.RemoveAll(k.run)
	})
	return k
}

// up runs scripts/kafka up or restart and returns the bootstrap it prints.
func (k *kafkaCluster) up(t *testing.T, cmd string) string {
	t.Helper()
	c := k.script(cmd)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("scripts/kafka %s: %v\n%s", cmd, err, stderr.String())
	}
	return lastLine(string(out))
}

// kill SIGKILLs every broker of the cluster.
func (k *kafkaCluster) kill(t *testing.T) {
	t.Helper()
	pids, _ := filepath.Glob(filepath.Join(k.run, "pids", "node-*.pid"))
	if len(pids) == 0 {
		t.Fatalf("no broker pid files under %s/pids", k.run)
	}
	for _, p := range pids {
		b, _ := os.ReadFile(p)
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("pid file %s: %v", p, err)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill broker %d: %v", pid, err)
		}
	}
}

// TestBrokerRestartMidRun kills the only broker of a cluster mid-run and
// starts it again with its data: the agents keep going, records that fail
// meanwhile are counted by kind, the run ends with a report and an honest
// delivery check, and nothing panics.
func TestBrokerRestartMidRun(t *testing.T) {
	k := startKafka(t, "broker-restart", "127.0.0.1")
	agents := startFaultAgents(t, 2)
	topic, out := "restart", t.TempDir()
	const duration = 30 * time.Second
	c := runFaultController(t, append([]string{"--agents", faultAddrs(agents), "--producer-props", "acks=all"},
		planArgs(k.bootstrap, topic, duration.String(), out)...)...)
	c.waitIntervals(t, 3)
	k.kill(t)
	killed := time.Now()
	if got := k.up(t, "restart"); got != k.bootstrap {
		t.Fatalf("scripts/kafka restart: bootstrap %s, want the same %s", got, k.bootstrap)
	}
	back := time.Now()
	code := c.wait(t, 2*time.Minute)
	for _, a := range agents {
		noPanic(t, "kperf-agent "+a.addr, a.log.String())
	}
	noPanic(t, "kperf-controller", c.stderr.String())
	s := readFaultSummary(t, out)
	start := s.start(t)
	downAt, upAt := killed.Sub(start).Seconds(), back.Sub(start).Seconds()
	t.Logf("broker killed at %.1fs, restarted (ready) at %.1fs; controller exited %d at %.1fs; %d acked, %d failed %v",
		downAt, upAt, code, c.exitedAt.Sub(start).Seconds(), s.Records, s.Failed, s.Errors)

	// The agents kept going: they ran to the planned end and acked records
	// after the broker came back.
	for _, a := range s.Agents {
		if a.EndReason != "done" || a.Lost {
			t.Errorf("agent %s: end_reason %q, lost %v; want done", a.Address, a.EndReason, a.Lost)
		}
	}
	ivs := readIntervals(t, out)
	var before, after int64
	var resumed float64          // when acks came again
	byKind := map[string]int64{} // over the intervals
	for _, iv := range ivs {
		switch {
		case iv.end <= downAt:
			before += iv.records
		case iv.start >= upAt:
			after += iv.records
		}
		var n int64
		for k, v := range iv.errors {
			n += v
			byKind[k] += v
		}
		// Failures are counted by kind in each interval, and only from the
		// outage on.
		if n != iv.failed || (iv.failed > 0 && iv.end < downAt) {
			t.Errorf("interval %.0f-%.0fs: %d failed, by kind %v; want the kinds to add up, and no failure before the broker died at %.1fs", iv.start, iv.end, iv.failed, iv.errors, downAt)
		}
		if iv.failed > 0 {
			t.Logf("interval %.0f-%.0fs: %d acked, %d failed %v", iv.start, iv.end, iv.records, iv.failed, iv.errors)
		}
		if resumed == 0 && iv.start > downAt && iv.records > 0 {
			resumed = iv.start
		}
	}
	// sarama's circuit breaker keeps a broker it gave up on closed for up
	// to 10 s, so acks may resume a while after the broker is ready.
	t.Logf("acks resumed in the interval from %.0fs, %.1fs after the broker was ready", resumed, resumed-upAt)
	if before <= 0 || after <= 0 {
		t.Errorf("records acked before the broker died %d, after it came back %d; want both > 0", before, after)
	}
	if s.Sent != s.Records+s.Failed {
		t.Errorf("sent %d, acked %d, failed %d: want every record sent acked or failed", s.Sent, s.Records, s.Failed)
	}
	if len(s.Errors) != len(byKind) {
		t.Errorf("summary errors %v, intervals' errors add up to %v", s.Errors, byKind)
	}
	for k, v := range byKind {
		if s.Errors[k] != v {
			t.Errorf("summary errors %v, intervals' errors add up to %v", s.Errors, byKind)
			break
		}
	}
	growth := endOffsetsOn(t, k.bootstrap, topic)
	checkTotals(t, s, growth)
	d := s.DeliveryCheck
	// Exit 0 exactly when the delivery check holds; a broker that stored
	// records whose acks were lost with it makes it fail honestly (exit 1,
	// the delivery check line says by how much).
	switch {
	case d.OK && code == 0 && d.Acked == growth && d.Unresolved == 0:
	case !d.OK && code == 1 && strings.Contains(c.stdout.String(), fmt.Sprintf("delivery check: %d acked, broker end offsets grew by %d: MISMATCH", d.Acked, growth)):
	default:
		t.Errorf("exit %d with delivery_check %+v and broker growth %d: want 0 with ok, or 1 with a MISMATCH line\n%s", code, d, growth, c.output())
	}
	t.Logf("delivery check: acked %d, broker grew by %d, ok %v", d.Acked, growth, d.OK)
}

// csvInterval is one row of intervals.csv.
type csvInterval struct {
	start, end      float64
	records, failed int64
	errors          map[string]int64
}

func readIntervals(t *testing.T, dir string) []csvInterval {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "intervals.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("intervals.csv: %v, %d rows", err, len(rows))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	if _, ok := col["errors"]; !ok {
		t.Fatalf("intervals.csv has no errors column: %q", rows[0])
	}
	var out []csvInterval
	for _, r := range rows[1:] {
		num := func(name string) float64 {
			v, err := strconv.ParseFloat(r[col[name]], 64)
			if err != nil {
				t.Fatalf("intervals.csv column %s: %v", name, err)
			}
			return v
		}
		iv := csvInterval{start: num("start_s"), end: num("end_s"), records: int64(num("records")), failed: int64(math.Round(num("failed")))}
		if e := r[col["errors"]]; e != "" {
			if err := json.Unmarshal([]byte(e), &iv.errors); err != nil {
				t.Fatalf("intervals.csv errors %q: %v", e, err)
			}
		}
		out = append(out, iv)
	}
	return out
}
