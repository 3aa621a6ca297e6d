package controller

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller/local"
	"github.com/kperf/kperf/internal/hist"
)

// simulate makes a sample of an agent whose clock is skew ahead of the
// controller's, with one-way delays up and down and the agent holding the
// probe for hold.
func simulate(t0 int64, skew, up, down, hold time.Duration) ClockSample {
	t1 := t0 + int64(up) + int64(skew)
	t2 := t1 + int64(hold)
	t3 := t2 - int64(skew) + int64(down)
	return ClockSample{T0: t0, T1: t1, T2: t2, T3: t3}
}

func TestEstimateClockTakesTheShortestRoundTrip(t *testing.T) {
	t.Parallel()
	const skew = 1234567 * time.Microsecond // agent 1.23 s ahead
	samples := []ClockSample{
		simulate(1e18, skew, 40*time.Millisecond, 2*time.Millisecond, time.Millisecond), // asymmetric and slow
		simulate(1e18+1e9, skew, 300*time.Microsecond, 100*time.Microsecond, 50*time.Microsecond),
		simulate(1e18+2e9, skew, 5*time.Millisecond, 5*time.Millisecond, 0),
	}
	e, err := EstimateClock(samples)
	if err != nil {
		t.Fatal(err)
	}
	// The 400 µs round trip wins: offset off by (up-down)/2 = 100 µs.
	if want := skew + 100*time.Microsecond; e.Offset != want {
		t.Errorf("offset %v, want %v", e.Offset, want)
	}
	if e.Uncertainty != 200*time.Microsecond {
		t.Errorf("uncertainty %v, want half the 400µs round trip", e.Uncertainty)
	}
	if d := e.Offset - skew; d < -e.Uncertainty || d > e.Uncertainty {
		t.Errorf("true skew %v outside %v ± %v", skew, e.Offset, e.Uncertainty)
	}
}

func TestEstimateClockNegativeSkewSymmetricDelays(t *testing.T) {
	t.Parallel()
	skew := -3 * time.Second
	e, err := EstimateClock([]ClockSample{simulate(5e17, skew, time.Millisecond, time.Millisecond, 10*time.Microsecond)})
	if err != nil {
		t.Fatal(err)
	}
	if e.Offset != skew || e.Uncertainty != time.Millisecond {
		t.Errorf("estimate %+v, want offset %v ± 1ms", e, skew)
	}
}

func TestEstimateClockRejectsNoUsableSample(t *testing.T) {
	t.Parallel()
	if _, err := EstimateClock(nil); err == nil {
		t.Error("EstimateClock(nil) = nil error, want one")
	}
	bad := ClockSample{T0: 100, T1: 50, T2: 500, T3: 200} // agent held it longer than the round trip
	if _, err := EstimateClock([]ClockSample{bad}); err == nil {
		t.Error("EstimateClock(negative round trip) = nil error, want one")
	}
}

func rng(from, to int64) *kperfv1.OffsetRange { return &kperfv1.OffsetRange{From: from, To: to} }

func TestCheckRanges(t *testing.T) {
	t.Parallel()
	from := map[int32]int64{0: 10, 1: 0}
	to := map[int32]int64{0: 20, 1: 5}
	tests := []struct {
		name       string
		ranges     map[int32][]*kperfv1.OffsetRange
		consumed   int64
		duplicates int64
		missing    int64
	}{
		{name: "exactly once in pieces", ranges: map[int32][]*kperfv1.OffsetRange{0: {rng(15, 20), rng(10, 15)}, 1: {rng(0, 5)}}, consumed: 15},
		{name: "overlap after a rebalance", ranges: map[int32][]*kperfv1.OffsetRange{0: {rng(10, 16), rng(14, 20)}, 1: {rng(0, 5)}}, consumed: 17, duplicates: 2},
		{name: "a hole and a missing partition", ranges: map[int32][]*kperfv1.OffsetRange{0: {rng(10, 12), rng(13, 20)}}, consumed: 9, missing: 6},
		{name: "records before the range are not expected", ranges: map[int32][]*kperfv1.OffsetRange{0: {rng(5, 20)}, 1: {rng(0, 5)}}, consumed: 20},
		{name: "a range inside another", ranges: map[int32][]*kperfv1.OffsetRange{0: {rng(10, 20), rng(12, 14)}, 1: {rng(0, 5)}}, consumed: 17, duplicates: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := CheckRanges(tc.ranges, from, to)
			if k.Expected != 15 || k.Consumed != tc.consumed || k.Duplicates != tc.duplicates || k.Missing != tc.missing {
				t.Errorf("CheckRanges = %+v, want expected 15, consumed %d, duplicates %d, missing %d", k, tc.consumed, tc.duplicates, tc.missing)
			}
			if want := tc.duplicates == 0 && tc.missing == 0; k.ExactlyOnce != want {
				t.Errorf("ExactlyOnce = %v, want %v", k.ExactlyOnce, want)
			}
		})
	}
}

func TestResolveConsumer(t *testing.T) {
	t.Parallel()
	plan := func(c *kperfv1.ConsumerPlan) *kperfv1.TestPlan { return &kperfv1.TestPlan{Consumer: c} }
	w := func(n int32) *int32 { return &n }
	good, err := Resolve(plan(&kperfv1.ConsumerPlan{MaxWait: "250ms", ConsumerProps: map[string]string{"fetch.max.wait.ms": "9", "session.timeout.ms": "10000"}}))
	if err != nil {
		t.Fatal(err)
	}
	c := good.Consume
	if c == nil || c.Workers != 1 || c.IdleTimeout != 3*time.Second || c.Settings.MaxWait != 250*time.Millisecond ||
		c.Settings.SessionTimeout != 10*time.Second || c.Settings.Earliest {
		t.Errorf("resolved %+v: want 1 worker, 3s idle, max_wait over the property, latest", c)
	}
	if p, _ := Resolve(&kperfv1.TestPlan{}); p.Consume != nil {
		t.Error("a plan without a consumer section has consumers")
	}
	for _, tc := range []struct {
		name string
		spec *kperfv1.TestPlan
		key  string
	}{
		{"bad from", plan(&kperfv1.ConsumerPlan{From: "middle"}), "plan key consumer.from"},
		{"bad duration", plan(&kperfv1.ConsumerPlan{StartDelay: "soon"}), "plan key consumer.start_delay"},
		{"short idle", plan(&kperfv1.ConsumerPlan{IdleTimeout: "1ms"}), "plan key consumer.idle_timeout"},
		{"unknown property", plan(&kperfv1.ConsumerPlan{ConsumerProps: map[string]string{"fetch.min.byte": "1"}}), "plan key consumer.consumer_props: consumer property fetch.min.byte"},
		{"bad section key", plan(&kperfv1.ConsumerPlan{FetchMinBytes: w(0)}), "plan key consumer.fetch_min_bytes: consumer property fetch.min.bytes"},
		{"bad poll records", plan(&kperfv1.ConsumerPlan{MaxPollRecords: w(-3)}), "plan key consumer.max_poll_records"},
		{"too many workers", plan(&kperfv1.ConsumerPlan{Workers: w(2000)}), "plan key consumer.workers"},
		{"negative backlog", plan(&kperfv1.ConsumerPlan{BacklogRecords: proto64(-1)}), "plan key consumer.backlog_records"},
		{"backlog with delay", plan(&kperfv1.ConsumerPlan{BacklogRecords: proto64(5), StartDelay: "1s"}), "plan key consumer.start_delay"},
		{"no producers without consumers", &kperfv1.TestPlan{Workers: w(0)}, "plan key workers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Resolve(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("Resolve = %v, want an error naming %q", err, tc.key)
			}
		})
	}
	// Consumers alone may run without producers.
	if _, err := Resolve(&kperfv1.TestPlan{Workers: w(0), Consumer: &kperfv1.ConsumerPlan{}}); err != nil {
		t.Errorf("consumers without producers: %v", err)
	}
}

func proto64(n int64) *int64 { return &n }

func TestConsumerFlagsAndYAML(t *testing.T) {
	t.Parallel()
	p, err := parseAndApply(t, &kperfv1.TestPlan{}, "--consumer-workers", "3", "--consumer-group-id", "g1",
		"--consumer-props", "session.timeout.ms=9000", "--consumer-from", "earliest")
	if err != nil {
		t.Fatal(err)
	}
	c := p.GetConsumer()
	if c.GetWorkers() != 3 || c.GetGroupId() != "g1" || c.GetFrom() != "earliest" || c.GetConsumerProps()["session.timeout.ms"] != "9000" {
		t.Errorf("flags gave consumer %v", c)
	}
	spec, err := ParsePlan([]byte("consumer:\n  workers: 2\n  consumer_props:\n    fetch.min.bytes: 1000\n"))
	if err != nil {
		t.Fatal(err)
	}
	if spec.GetConsumer().GetConsumerProps()["fetch.min.bytes"] != "1000" || spec.GetConsumer().GetWorkers() != 2 {
		t.Errorf("YAML gave consumer %v", spec.GetConsumer())
	}
	if _, err := ParsePlan([]byte("consumer:\n  wrokers: 2\n")); err == nil || !strings.Contains(err.Error(), "wrokers") {
		t.Errorf("unknown consumer key: %v, want an error naming it", err)
	}
}

func TestSplitGivesEveryAgentTheGroupsConsumers(t *testing.T) {
	t.Parallel()
	p, err := Resolve(&kperfv1.TestPlan{NumRecords: proto64(100), Consumer: &kperfv1.ConsumerPlan{StartDelay: "2s"}})
	if err != nil {
		t.Fatal(err)
	}
	as, err := Split(p, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newConsumeRun(p, 3, nil)
	c.setGroup(as, "abc")
	for i, a := range as {
		ca := a.GetConsumer()
		if !a.GetStampRecords() || ca.GetWorkers() != 1 || ca.GetGroupId() != "kperf-abc" || ca.GetStartDelayNs() != int64(2*time.Second) {
			t.Errorf("agent %d: stamp %v, consumer %v; want stamping, 1 worker in group kperf-abc, 2s delay", i, a.GetStampRecords(), ca)
		}
	}
}

func TestMergeConsumeWindows(t *testing.T) {
	t.Parallel()
	var h1, h2, all hist.Hist
	for i := int64(1); i <= 100; i++ {
		h1.Record(i * 1e6)
		all.Record(i * 1e6)
	}
	for i := int64(1); i <= 10; i++ {
		h2.Record(i * 50e6)
		all.Record(i * 50e6)
	}
	var got []*window
	m := newMerger(2, func(w *window) error { got = append(got, w); return nil })
	iv := func(seq int64, c *kperfv1.ConsumeWindow) *kperfv1.Interval {
		return &kperfv1.Interval{Seq: seq, Counters: &kperfv1.Counters{}, Consume: c}
	}
	if err := m.add(0, iv(0, &kperfv1.ConsumeWindow{Records: 100, Bytes: 1000, Fetches: 3, RebalanceNs: 5e6, Lag: 7, Partitions: 4, E2ELatency: h1.Proto(), Consuming: true})); err != nil {
		t.Fatal(err)
	}
	if err := m.add(1, iv(0, &kperfv1.ConsumeWindow{Records: 10, Bytes: 100, Fetches: 1, RebalanceNs: 9e6, Lag: 2, Partitions: 2, E2ELatency: h2.Proto(), Unstamped: 1})); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d windows emitted, want 1", len(got))
	}
	c := &got[0].consume
	if c.records != 110 || c.bytes != 1100 || c.fetches != 4 || c.lag != 9 || c.partitions != 6 || c.rebalanceNs != 9e6 || c.consuming != 1 || c.unstamped != 1 {
		t.Errorf("merged %+v: want sums, the longest rebalance, one consuming agent", c)
	}
	if c.e2e.Count() != 110 || c.e2e.Max() != all.Max() {
		t.Errorf("merged e2e count %d max %d, want %d %d", c.e2e.Count(), c.e2e.Max(), all.Count(), all.Max())
	}
	for _, p := range []float64{50, 90, 99} {
		if g, w := c.e2e.Percentiles(p)[0], all.Percentiles(p)[0]; g != w {
			t.Errorf("merged e2e p%v = %d, want %d (one histogram of every value)", p, g, w)
		}
	}
}

func TestSweepAxisConsumerWorkers(t *testing.T) {
	t.Parallel()
	s := &kperfv1.TestPlan{}
	if err := applyAxis(s, "consumer-workers", "3", 0); err != nil {
		t.Fatal(err)
	}
	if s.GetConsumer().GetWorkers() != 3 {
		t.Errorf("consumer workers %d, want 3", s.GetConsumer().GetWorkers())
	}
	if err := applyAxis(s, "consumer-workers", "-1", 0); err == nil {
		t.Error("consumer-workers -1 accepted, want an error")
	}
	if canonicalSweepKey("consumer_workers") != "consumer-workers" {
		t.Errorf("consumer_workers is not an axis key")
	}
}

func TestConsumersTakeTheProducersSecurity(t *testing.T) {
	t.Parallel()
	sec := map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
		"sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";`}
	p, err := Resolve(&kperfv1.TestPlan{ProducerProps: sec, Consumer: &kperfv1.ConsumerPlan{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Consume.Props["sasl.jaas.config"]; got != sec["sasl.jaas.config"] || p.Consume.Settings.Security.Username != "u" {
		t.Errorf("consumer props %v: want the producers' security properties", p.Consume.Props)
	}
	if p.kafkaSecurity().Username != "u" {
		t.Error("the controller's client does not use the producers' security")
	}
	// The consumers' own security wins, and with no producers it is the
	// controller's too.
	own := map[string]string{"security.protocol": "SSL"}
	p, err = Resolve(&kperfv1.TestPlan{Workers: proto.Int32(0), ProducerProps: sec, Consumer: &kperfv1.ConsumerPlan{ConsumerProps: own}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Consume.Props["sasl.mechanism"]; ok || !p.Consume.Settings.Security.TLS() || !p.kafkaSecurity().TLS() {
		t.Errorf("consumer props %v: want only their own SSL security, used by the controller too", p.Consume.Props)
	}
}

// TestProducerRateWithConsumers: agents report intervals after their
// producers finish while consumers drain and idle out; the producers'
// rate is over the time they produced, not over those extra intervals.
func TestProducerRateWithConsumers(t *testing.T) {
	env, err := local.Start(2, true, "test", hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	spec := &kperfv1.TestPlan{
		BootstrapServers: env.Bootstrap, Topic: "rate-with-consumers", Duration: "3s", Throughput: proto.Float64(2000),
		RecordSize: proto.Int32(100), Interval: "1s", Consumer: &kperfv1.ConsumerPlan{Workers: proto.Int32(1), IdleTimeout: "2s"},
	}
	s, err := Run(context.Background(), spec, Options{Agents: env.Agents, OutDir: t.TempDir(), Stdout: io.Discard, Details: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if s.Records != 6000 || s.RecordsPerSec < 1900 || s.RecordsPerSec > 2100 || s.DurationS > 3.2 {
		t.Errorf("%d records in %.2fs = %.0f records/s; want 6000 at about 2000/s", s.Records, s.DurationS, s.RecordsPerSec)
	}
	if s.Intervals < 4 {
		t.Errorf("%d intervals: the consumers should report past the producers' 3 s", s.Intervals)
	}
}
