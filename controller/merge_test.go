package controller

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/internal/hist"
)

// testInterval is one agent's interval together with the values its
// histograms were built from.
type testInterval struct {
	agent int
	msg   *kperfv1.Interval
	ack   []int64 // ack latencies in ns
}

// mergeScratch holds histograms for reuse: a hist.Hist is large, and
// allocating many makes the race detector slow.
type mergeScratch struct{ ack, service, delay, fails hist.Hist }

func (s *mergeScratch) reset() {
	s.ack.Reset()
	s.service.Reset()
	s.delay.Reset()
	s.fails.Reset()
}

// makeInterval builds agent's interval seq with n ack latencies drawn from
// r, and counters derived from agent and seq so that sums are checkable.
func makeInterval(r *rand.Rand, sc *mergeScratch, agent int, seq int64, n int) testInterval {
	sc.reset()
	ack, service, delay, fails := &sc.ack, &sc.service, &sc.delay, &sc.fails
	vals := make([]int64, n)
	for i := range vals {
		// Agents differ in speed so that the merge has something to do.
		v := int64(float64(1_000_000*(agent+1)) * (0.2 + r.ExpFloat64()))
		vals[i] = v
		ack.Record(v)
		service.Record(v / 2)
		delay.Record(v - v/2)
	}
	failed := int64(agent)
	for range failed {
		fails.Record(5_000_000)
	}
	const base = 1_700_000_000_000_000_000
	start := base + seq*1e9 + int64(agent)*1000 // agents' clocks differ slightly
	msg := &kperfv1.Interval{
		Seq:           seq,
		StartUnixNano: start,
		EndUnixNano:   start + 1e9 + int64(agent),
		Counters: &kperfv1.Counters{
			Sent: int64(n) + failed + 1, Acked: int64(n), Failed: failed, BytesAcked: int64(n) * 100, Clamped: int64(agent),
			Errors: map[string]int64{},
		},
		AckLatency:      ack.Proto(),
		ServiceTime:     service.Proto(),
		SendDelay:       delay.Proto(),
		ErrorLatency:    fails.Proto(),
		InFlight:        int64(agent + 1),
		GeneratorBehind: agent == 1 && seq%2 == 0,
	}
	if failed > 0 {
		msg.Counters.Errors = map[string]int64{"timeout": failed - 1, fmt.Sprintf("agent %d", agent): 1}
	}
	return testInterval{agent: agent, msg: msg, ack: vals}
}

// mergeEvent is one message to the merger: an interval, or a Final when
// msg is nil.
type mergeEvent struct {
	agent     int
	msg       *kperfv1.Interval
	intervals int64 // for a Final
}

func (e mergeEvent) String() string {
	if e.msg == nil {
		return fmt.Sprintf("agent %d final(%d)", e.agent, e.intervals)
	}
	return fmt.Sprintf("agent %d interval %d", e.agent, e.msg.GetSeq())
}

// TestMergerOutOfOrder feeds three agents' intervals and finals in random
// orders and checks every window against the intervals it covers.
func TestMergerOutOfOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		intervals []int64 // per agent
	}{
		{name: "all agents equal", intervals: []int64{5, 5, 5}},
		{name: "one agent finishes early", intervals: []int64{6, 6, 2}},
		{name: "agents finish at different times", intervals: []int64{1, 4, 3}},
		{name: "an agent sends nothing", intervals: []int64{3, 0, 3}},
	}
	for _, tc := range tests {
		for seed := range uint64(5) {
			t.Run(fmt.Sprintf("%s/seed %d", tc.name, seed), func(t *testing.T) {
				t.Parallel()
				testMergerOrder(t, tc.intervals, seed)
			})
		}
	}
}

func testMergerOrder(t *testing.T, perAgent []int64, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	sc := &mergeScratch{}
	agents := len(perAgent)
	var maxSeq int64
	byWindow := map[int64][]testInterval{}
	var events []mergeEvent
	for a, n := range perAgent {
		for seq := range n {
			ti := makeInterval(r, sc, a, seq, 50+r.IntN(200))
			byWindow[seq] = append(byWindow[seq], ti)
			events = append(events, mergeEvent{agent: a, msg: ti.msg})
		}
		events = append(events, mergeEvent{agent: a, intervals: n})
		maxSeq = max(maxSeq, n)
	}
	r.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })

	// The oracle: what the merger has been told so far.
	delivered := make([]map[int64]bool, agents)
	for a := range delivered {
		delivered[a] = map[int64]bool{}
	}
	finished := make([]int64, agents)
	for a := range finished {
		finished[a] = -1
	}
	ready := func(seq int64) bool {
		for a := range agents {
			if !delivered[a][seq] && (finished[a] < 0 || finished[a] > seq) {
				return false
			}
		}
		return true
	}

	var emitted []int64
	var step int
	m := newMerger(agents, func(w *window) error {
		if !ready(w.seq) {
			t.Errorf("after event %d (%v): window %d emitted before every agent delivered it or finished", step, events[step], w.seq)
		}
		checkWindow(t, sc, w, byWindow[w.seq])
		emitted = append(emitted, w.seq)
		return nil
	})
	for i, ev := range events {
		step = i
		var err error
		if ev.msg != nil {
			delivered[ev.agent][ev.msg.GetSeq()] = true
			err = m.add(ev.agent, ev.msg)
		} else {
			finished[ev.agent] = ev.intervals
			err = m.finish(ev.agent, ev.intervals)
		}
		if err != nil {
			t.Fatalf("event %d (%v): %v", i, ev, err)
		}
		// Every window whose data is complete, and all before it, must be
		// out now; no later one.
		var want []int64
		for seq := int64(0); seq < maxSeq && ready(seq); seq++ {
			want = append(want, seq)
		}
		if diff := cmp.Diff(want, emitted); diff != "" {
			t.Fatalf("after event %d (%v) windows emitted mismatch (-want +got):\n%s", i, ev, diff)
		}
	}
	if len(emitted) != int(maxSeq) {
		t.Errorf("emitted %d windows, want %d", len(emitted), maxSeq)
	}
	if !m.allDone() {
		t.Error("allDone() = false after every agent finished and every window was emitted")
	}
}

// checkWindow compares a merged window with the intervals it merged.
func checkWindow(t *testing.T, sc *mergeScratch, w *window, ivs []testInterval) {
	t.Helper()
	sc.reset()
	ref, refService, refDelay, refFails := &sc.ack, &sc.service, &sc.delay, &sc.fails
	var sent, acked, failed, bytes, clamped, inFlight int64
	var behind int
	var errs map[string]int64
	start, end := ivs[0].msg.GetStartUnixNano(), int64(0)
	for _, iv := range ivs {
		for _, v := range iv.ack {
			ref.Record(v)
		}
		for _, p := range []struct {
			h *hist.Hist
			m *kperfv1.Histogram
		}{{refService, iv.msg.GetServiceTime()}, {refDelay, iv.msg.GetSendDelay()}, {refFails, iv.msg.GetErrorLatency()}} {
			if err := p.h.AddProto(p.m); err != nil {
				t.Fatal(err)
			}
		}
		c := iv.msg.GetCounters()
		sent += c.GetSent()
		acked += c.GetAcked()
		failed += c.GetFailed()
		bytes += c.GetBytesAcked()
		clamped += c.GetClamped()
		inFlight += iv.msg.GetInFlight()
		for k, v := range c.GetErrors() {
			if errs == nil {
				errs = map[string]int64{}
			}
			errs[k] += v
		}
		if iv.msg.GetGeneratorBehind() {
			behind++
		}
		start = min(start, iv.msg.GetStartUnixNano())
		end = max(end, iv.msg.GetEndUnixNano())
	}
	type summary struct {
		Agents, Behind                                int
		Start, End                                    int64
		Sent, Acked, Failed, Bytes, Clamped, InFlight int64
		Errors                                        map[string]int64
		AckCount, AckSum, AckMax                      int64
		AckPercentiles                                []int64
		ServiceCount, DelayCount, FailsCount          int64
		ServiceSum, DelaySum, FailsSum                int64
	}
	ps := []float64{0, 50, 90, 95, 99, 99.9, 100}
	got := summary{w.agents, w.behind, w.start, w.end, w.sent, w.acked, w.failed, w.bytes, w.clamped, w.inFlight, w.errors,
		w.ack.Count(), w.ack.Sum(), w.ack.Max(), w.ack.Percentiles(ps...),
		w.service.Count(), w.delay.Count(), w.fails.Count(), w.service.Sum(), w.delay.Sum(), w.fails.Sum()}
	want := summary{len(ivs), behind, start, end, sent, acked, failed, bytes, clamped, inFlight, errs,
		ref.Count(), ref.Sum(), ref.Max(), ref.Percentiles(ps...),
		refService.Count(), refDelay.Count(), refFails.Count(), refService.Sum(), refDelay.Sum(), refFails.Sum()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("window %d mismatch (-want +got):\n%s", w.seq, diff)
	}
	if !w.ack.HDR().Equals(ref.HDR()) {
		t.Errorf("window %d: merged ack histogram differs from one histogram fed every value", w.seq)
	}
}

func TestMergerEarlyFinisherDoesNotBlock(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	sc := &mergeScratch{}
	var emitted []int64
	var agentsPer []int
	m := newMerger(3, func(w *window) error {
		emitted = append(emitted, w.seq)
		agentsPer = append(agentsPer, w.agents)
		return nil
	})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Agent 2 sends two intervals and finishes.
	must(m.add(2, makeInterval(r, sc, 2, 0, 10).msg))
	must(m.add(2, makeInterval(r, sc, 2, 1, 10).msg))
	must(m.finish(2, 2))
	// The others go on to interval 4.
	for seq := range int64(5) {
		must(m.add(0, makeInterval(r, sc, 0, seq, 10).msg))
		if len(emitted) != int(seq) {
			t.Fatalf("after agent 0's interval %d: emitted %v, want windows before %d only (agent 1 is missing)", seq, emitted, seq)
		}
		must(m.add(1, makeInterval(r, sc, 1, seq, 10).msg))
		if len(emitted) != int(seq)+1 {
			t.Fatalf("after agent 1's interval %d: emitted %v, want windows 0..%d", seq, emitted, seq)
		}
	}
	if diff := cmp.Diff([]int64{0, 1, 2, 3, 4}, emitted); diff != "" {
		t.Errorf("emitted windows mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{3, 3, 2, 2, 2}, agentsPer); diff != "" {
		t.Errorf("agents per window mismatch (-want +got):\n%s", diff)
	}
	if m.allDone() {
		t.Error("allDone() = true while agents 0 and 1 have not finished")
	}
	must(m.finish(0, 5))
	must(m.finish(1, 5))
	if !m.allDone() {
		t.Error("allDone() = false after every agent finished")
	}
	if len(emitted) != 5 {
		t.Errorf("finals emitted more windows: %v", emitted)
	}
}

func TestMergerWaitsForSlowAgent(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(8, 8))
	sc := &mergeScratch{}
	var emitted []int64
	m := newMerger(2, func(w *window) error { emitted = append(emitted, w.seq); return nil })
	for seq := range int64(3) {
		if err := m.add(0, makeInterval(r, sc, 0, seq, 5).msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.finish(0, 3); err != nil {
		t.Fatal(err)
	}
	if len(emitted) != 0 {
		t.Fatalf("emitted %v before agent 1 sent anything", emitted)
	}
	if err := m.add(1, makeInterval(r, sc, 1, 1, 5).msg); err != nil {
		t.Fatal(err)
	}
	if len(emitted) != 0 {
		t.Fatalf("emitted %v while agent 1's interval 0 is missing", emitted)
	}
	if err := m.add(1, makeInterval(r, sc, 1, 0, 5).msg); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{0, 1}, emitted); diff != "" {
		t.Errorf("emitted windows mismatch (-want +got):\n%s", diff)
	}
}

func TestMergerRejects(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 9))
	sc := &mergeScratch{}
	good := func(agent int, seq int64) *kperfv1.Interval { return makeInterval(r, sc, agent, seq, 10).msg }
	corrupt := func(agent int, seq int64, breakIt func(*kperfv1.Interval)) *kperfv1.Interval {
		iv := good(agent, seq)
		breakIt(iv)
		return iv
	}
	type add struct {
		agent int
		iv    *kperfv1.Interval
	}
	tests := []struct {
		name string
		adds []add // the last one must fail
		want string
	}{
		{
			name: "duplicate pending interval",
			adds: []add{{0, good(0, 0)}, {0, good(0, 0)}},
			want: "interval 0 sent twice",
		},
		{
			name: "duplicate of an emitted interval",
			adds: []add{{0, good(0, 0)}, {1, good(1, 0)}, {1, good(1, 0)}},
			want: "interval 0",
		},
		{
			name: "garbage ack histogram",
			adds: []add{{0, corrupt(0, 3, func(iv *kperfv1.Interval) { iv.AckLatency.Hdr = []byte("not a histogram") })}},
			want: "interval 3",
		},
		{
			name: "truncated service histogram",
			adds: []add{{1, corrupt(1, 2, func(iv *kperfv1.Interval) { h := iv.ServiceTime; h.Hdr = h.Hdr[:len(h.Hdr)-1] })}},
			want: "interval 2",
		},
		{
			name: "count does not match encoding",
			adds: []add{{0, corrupt(0, 0, func(iv *kperfv1.Interval) { iv.SendDelay.Count++ })}},
			want: "interval 0",
		},
		{
			name: "count without encoding",
			adds: []add{{0, corrupt(0, 0, func(iv *kperfv1.Interval) { iv.ErrorLatency = &kperfv1.Histogram{Count: 3} })}},
			want: "interval 0",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := newMerger(2, func(*window) error { return nil })
			last := len(tc.adds) - 1
			for i, a := range tc.adds[:last] {
				if err := m.add(a.agent, a.iv); err != nil {
					t.Fatalf("add %d: %v", i, err)
				}
			}
			a := tc.adds[last]
			err := m.add(a.agent, a.iv)
			if err == nil {
				t.Fatalf("add(agent %d, interval %d) = nil error, want %q", a.agent, a.iv.GetSeq(), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("add(agent %d, interval %d) error = %q, want it to contain %q", a.agent, a.iv.GetSeq(), err, tc.want)
			}
		})
	}
}

func TestMergerEmitErrorIsReturned(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(10, 10))
	sc := &mergeScratch{}
	m := newMerger(1, func(w *window) error { return fmt.Errorf("disk full at window %d", w.seq) })
	err := m.add(0, makeInterval(r, sc, 0, 0, 5).msg)
	if err == nil || !strings.Contains(err.Error(), "disk full at window 0") {
		t.Errorf("add with a failing emit: error = %v, want the emit error", err)
	}
}

// TestMergerRejectsBadFinals checks the finals and late intervals that
// would otherwise leave the merger waiting forever or drop data silently.
func TestMergerRejectsBadFinals(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 11))
	sc := &mergeScratch{}
	tests := []struct {
		name string
		run  func(m *merger) error // returns the error of the step that must fail
		want string
	}{
		{name: "negative count", run: func(m *merger) error { return m.finish(0, -1) }, want: "says -1 intervals"},
		{name: "second final", run: func(m *merger) error {
			if err := m.finish(0, 0); err != nil {
				return fmt.Errorf("first final: %w", err)
			}
			return m.finish(0, 0)
		}, want: "second final"},
		{name: "final below a received interval", run: func(m *merger) error {
			if err := m.add(0, makeInterval(r, sc, 0, 3, 5).msg); err != nil {
				return fmt.Errorf("add: %w", err)
			}
			return m.finish(0, 2)
		}, want: "interval 3 arrived"},
		{name: "interval after the final", run: func(m *merger) error {
			if err := m.finish(0, 1); err != nil {
				return fmt.Errorf("final: %w", err)
			}
			return m.add(0, makeInterval(r, sc, 0, 4, 5).msg)
		}, want: "after the final report said 1"},
		{name: "negative interval", run: func(m *merger) error { return m.add(1, makeInterval(r, sc, 1, -2, 5).msg) }, want: "interval -2"},
	}
	for _, tc := range tests {
		err := tc.run(newMerger(2, func(*window) error { return nil }))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
