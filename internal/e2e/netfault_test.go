//go:build e2e && linux

package e2e

import (
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The cut-off test's network: a bridge at 10.215.0.1 in the root namespace
// (where the broker and the controller are), an agent in each of three
// namespaces at .11 to .13.
const (
	nfPrefix = "kperf-nf"
	nfBridge = "10.215.0.1/24"
)

// TestAgentCutOffMidRun takes one agent's network link down mid-run. The
// controller must count it lost once it has been silent for the lease
// timeout, finish the run with the other two, mark the result partial
// naming it, keep acked records within what the broker stored, and exit 3.
// The cut-off agent must stop on its own when its lease expires: once its
// link is back it is ready for the next run, and the topic does not grow.
func TestAgentCutOffMidRun(t *testing.T) {
	ctx, nw := netnsNetwork(t, nfPrefix, nfBridge)
	var agents []mhAgent
	for i := 1; i <= 3; i++ {
		ns, err := nw.Add(ctx, fmt.Sprintf("a%d", i), netip.AddrFrom4([4]byte{10, 215, 0, byte(10 + i)}))
		if err != nil {
			t.Fatal(err)
		}
		agents = append(agents, mhAgent{ns: ns})
	}
	k := startKafka(t, "netfault-kafka", nw.Addr().String())
	logs := make([]*syncBuffer, len(agents))
	for i, a := range agents {
		logs[i] = startAgentIn(ctx, t, a)
	}

	topic, out := topicName(t), t.TempDir()
	// request.timeout.ms bounds how long the cut-off agent's client waits
	// for records it can no longer deliver before it lets go of them.
	c := runFaultController(t, append([]string{"--agents", strings.Join(mapAgents(agents, mhAgent.addr), ","),
		"--producer-props", "acks=all", "request.timeout.ms=3000"},
		planArgs(k.bootstrap, topic, "6s", out)...)...)
	c.waitIntervals(t, 2)
	victim := agents[0]
	link := victim.ns.Name // the host end of its veth pair
	if out, err := exec.Command("ip", "link", "set", link, "down").CombinedOutput(); err != nil {
		t.Fatalf("ip link set %s down: %v\n%s", link, err, out)
	}
	cut := time.Now()
	code := c.wait(t, 90*time.Second)
	if code != 3 {
		t.Errorf("exit %d, want 3\n%s", code, c.output())
	}
	noPanic(t, "kperf-controller", c.stderr.String())
	growth := endOffsetsOn(t, k.bootstrap, topic)

	s := readFaultSummary(t, out)
	start := s.start(t)
	cutAt := cut.Sub(start).Seconds()
	v := s.agent(t, victim.addr())
	detect := v.LostAtS - cutAt
	// Silence counts from the last message heard (at most one interval
	// before the cut) and is checked every second.
	t.Logf("link down at %.2fs, agent lost at %.2fs (%s): detected after %.2fs (lease %v); controller exited %.2fs after the start",
		cutAt, v.LostAtS, v.EndReason, detect, faultLease, c.exitedAt.Sub(start).Seconds())
	if !s.Partial || !v.Lost || detect < faultLease.Seconds()-1.5 || detect > faultLease.Seconds()+2 {
		t.Errorf("cut-off agent %s: partial %v, lost %v at %.2fs, cut at %.2fs; want lost %v (+ up to 2 s) after the cut",
			victim.addr(), s.Partial, v.Lost, v.LostAtS, cutAt, faultLease)
	}
	if len(s.PartialReasons) != 1 || !strings.Contains(s.PartialReasons[0], "agent "+victim.addr()+" lost at ") {
		t.Errorf("partial_reasons = %q, want one naming agent %s", s.PartialReasons, victim.addr())
	}
	for _, a := range agents[1:] {
		if sa := s.agent(t, a.addr()); sa.Lost || sa.EndReason != "done" || !fullShare(sa, faultRate/3*6) {
			t.Errorf("agent %s: lost %v, end_reason %q, %d records of %d sent, %d failed; want done with its share %d", a.addr(), sa.Lost, sa.EndReason, sa.Records, sa.Sent, sa.Failed, faultRate/3*6)
		}
	}
	checkTotals(t, s, growth)
	if d := s.DeliveryCheck; !d.OK || d.BrokerOffsetDelta != growth {
		t.Errorf("delivery_check %+v, broker growth %d: want ok", d, growth)
	}

	// The cut-off agent stopped producing on its own when its lease
	// expired: the controller's last message (a heartbeat every quarter
	// lease) came at most a quarter lease before the cut.
	stopped := waitLogTime(t, logs[0], "lease expired", 30*time.Second)
	t.Logf("cut-off agent's lease expired %.2fs after the cut (lease %v)", stopped.Sub(cut).Seconds(), faultLease)
	if d := stopped.Sub(cut); d < faultLease-faultLease/4-500*time.Millisecond || d > faultLease+time.Second {
		t.Errorf("cut-off agent stopped %v after the cut; want within its lease %v (+1 s)", d, faultLease)
	}
	if out, err := exec.Command("ip", "link", "set", link, "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set %s up: %v\n%s", link, err, out)
	}
	up := time.Now()
	waitFor(t, 30*time.Second, "cut-off agent ready", func() bool {
		r := runController(t, 30*time.Second, "agents", "--agents", victim.addr(), "--dial-timeout", "2s")
		row := agentRows(r.stdout)[victim.addr()]
		return r.code == 0 && row["STATE"] == "ready"
	})
	t.Logf("cut-off agent listed ready %v after its link came back", time.Since(up).Round(time.Millisecond))
	// It produces nothing new: the topic settles. Records it had already
	// written to its sockets before the lease expired may still reach the
	// broker once the link is back (the kernel retransmits them), but no
	// more than the records it let go of.
	var late int64
	var held int64
	for _, m := range letGo.FindAllStringSubmatch(logs[0].String(), -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		held += n
	}
	waitFor(t, 15*time.Second, "topic to settle after the link came back", func() bool {
		a := endOffsetsOn(t, k.bootstrap, topic)
		time.Sleep(time.Second)
		late = endOffsetsOn(t, k.bootstrap, topic) - growth
		return a-growth == late
	})
	t.Logf("after the link came back %d records the cut-off agent had sent before its lease expired reached the broker; it let go of %d", late, held)
	if late > held {
		t.Errorf("%d records reached the broker after the run, more than the %d the cut-off agent let go of: it kept producing", late, held)
	}
}

// letGo is the agent's log of records it gave up when its lease expired.
var letGo = regexp.MustCompile(`let go of (\d+) records in flight`)

// logTime is the time at the start of an hclog line.
var logTime = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\S+) `)

// waitLogTime waits for a log line containing what and returns the time
// it was logged.
func waitLogTime(t *testing.T, log *syncBuffer, what string, d time.Duration) time.Time {
	t.Helper()
	var at time.Time
	waitFor(t, d, "agent log line "+what, func() bool {
		for _, l := range strings.Split(log.String(), "\n") {
			if !strings.Contains(l, what) {
				continue
			}
			m := logTime.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("log line without a time: %q", l)
			}
			var err error
			if at, err = time.Parse("2006-01-02T15:04:05.000Z0700", m[1]); err != nil {
				t.Fatalf("log line time %q: %v", m[1], err)
			}
			return true
		}
		return false
	})
	return at
}
