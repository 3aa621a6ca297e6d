package controller

import (
	"fmt"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/internal/hist"
)

// window is the merge of one interval index over all agents.
type window struct {
	seq                        int64
	start, end                 int64 // Unix ns: earliest start, latest end
	ack, service, delay, fails hist.Hist
	sent, acked, failed, bytes int64
	clamped, inFlight          int64
	errors                     map[string]int64
	agents, behind             int
	seen                       []bool // by agent
}

// merger merges agents' intervals by index and emits each index once every
// agent has delivered it or finished before it.
type merger struct {
	agents  int
	pending map[int64]*window
	next    int64
	done    []int64 // per agent: intervals it sent in all, -1 while running
	got     []int64 // per agent: intervals received
	last    []int64 // per agent: highest interval index delivered, -1 for none
	emit    func(*window) error
}

func newMerger(agents int, emit func(*window) error) *merger {
	m := &merger{agents: agents, pending: map[int64]*window{}, done: make([]int64, agents),
		got: make([]int64, agents), last: make([]int64, agents), emit: emit}
	for i := range m.done {
		m.done[i], m.last[i] = -1, -1
	}
	return m
}

// add merges agent's interval iv.
func (m *merger) add(agent int, iv *kperfv1.Interval) error {
	seq := iv.GetSeq()
	if seq < 0 {
		return fmt.Errorf("interval %d: negative index", seq)
	}
	if seq < m.next {
		return fmt.Errorf("interval %d arrived after it was reported", seq)
	}
	if n := m.done[agent]; n >= 0 && seq >= n {
		return fmt.Errorf("interval %d arrived after the final report said %d intervals", seq, n)
	}
	w := m.pending[seq]
	if w == nil {
		w = &window{seq: seq, start: iv.GetStartUnixNano(), seen: make([]bool, m.agents)}
		m.pending[seq] = w
	}
	if w.seen[agent] {
		return fmt.Errorf("interval %d sent twice", seq)
	}
	for _, p := range []struct {
		h *hist.Hist
		m *kperfv1.Histogram
	}{{&w.ack, iv.GetAckLatency()}, {&w.service, iv.GetServiceTime()}, {&w.delay, iv.GetSendDelay()}, {&w.fails, iv.GetErrorLatency()}} {
		if err := p.h.AddProto(p.m); err != nil {
			return fmt.Errorf("interval %d: %w", seq, err)
		}
	}
	w.seen[agent] = true
	m.got[agent]++
	m.last[agent] = max(m.last[agent], seq)
	w.agents++
	w.start = min(w.start, iv.GetStartUnixNano())
	w.end = max(w.end, iv.GetEndUnixNano())
	c := iv.GetCounters()
	w.sent += c.GetSent()
	w.acked += c.GetAcked()
	w.failed += c.GetFailed()
	w.bytes += c.GetBytesAcked()
	w.clamped += c.GetClamped()
	w.inFlight += iv.GetInFlight()
	for k, v := range c.GetErrors() {
		if w.errors == nil {
			w.errors = map[string]int64{}
		}
		w.errors[k] += v
	}
	if iv.GetGeneratorBehind() {
		w.behind++
	}
	return m.flush()
}

// received returns how many intervals agent has delivered.
func (m *merger) received(agent int) int64 { return m.got[agent] }

// finish records that agent sent intervals intervals in all.
func (m *merger) finish(agent int, intervals int64) error {
	switch {
	case m.done[agent] >= 0:
		return fmt.Errorf("second final report (%d intervals, the first said %d)", intervals, m.done[agent])
	case intervals < 0:
		return fmt.Errorf("final report says %d intervals", intervals)
	case m.last[agent] >= intervals:
		return fmt.Errorf("final report says %d intervals, but interval %d arrived", intervals, m.last[agent])
	}
	m.done[agent] = intervals
	return m.flush()
}

// complete reports whether window seq has everything it will get.
func (m *merger) complete(seq int64) bool {
	w := m.pending[seq]
	for a, n := range m.done {
		delivered := w != nil && w.seen[a]
		if !delivered && (n < 0 || n > seq) {
			return false
		}
	}
	return true
}

// allDone reports whether every agent finished and every window was emitted.
func (m *merger) allDone() bool {
	for _, n := range m.done {
		if n < 0 || n > m.next {
			return false
		}
	}
	return true
}

func (m *merger) flush() error {
	for !m.allDone() && m.complete(m.next) {
		w := m.pending[m.next]
		delete(m.pending, m.next)
		m.next++
		if w == nil {
			continue // every agent finished before this index
		}
		if err := m.emit(w); err != nil {
			return err
		}
	}
	return nil
}
