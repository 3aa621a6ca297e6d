package consumer

import (
	"sync"
	"sync/atomic"

	"github.com/kperf/kperf/agent/producer"
	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/internal/hist"
)

// Batch is records a driver consumed from one partition, in offset order.
// Drivers reuse a Batch: Consumed does not keep it.
type Batch struct {
	Partition int32
	// Offsets of the records.
	Offsets []int64
	// Stamps of the records (Unix ns on the controller's clock), 0 for a
	// record without a kperf stamp; as long as Offsets.
	Stamps []int64
	// Sizes of the records' keys plus values in bytes; as long as Offsets.
	Sizes []int32
	// HighWatermark is the partition's high watermark as of the fetch; -1
	// when unknown.
	HighWatermark int64
}

// Reset empties b for reuse.
func (b *Batch) Reset(partition int32) {
	b.Partition = partition
	b.Offsets, b.Stamps, b.Sizes = b.Offsets[:0], b.Stamps[:0], b.Sizes[:0]
	b.HighWatermark = -1
}

// Add appends one record.
func (b *Batch) Add(offset, stamp int64, size int32) {
	b.Offsets = append(b.Offsets, offset)
	b.Stamps = append(b.Stamps, stamp)
	b.Sizes = append(b.Sizes, size)
}

// Shared is the state every consumer worker of an agent shares: the gate
// that opens consumption and the agent's record limit.
type Shared struct {
	limit    int64 // 0: none
	consumed atomic.Int64
	gate     chan struct{}
	gateOnce sync.Once
	full     chan struct{}
	fullOnce sync.Once
}

// NewShared returns the shared state of an agent's workers that consume at
// most limit records in all (0: no limit).
func NewShared(limit int64) *Shared {
	return &Shared{limit: limit, gate: make(chan struct{}), full: make(chan struct{})}
}

// Open lets the workers consume. It is idempotent.
func (s *Shared) Open() { s.gateOnce.Do(func() { close(s.gate) }) }

// Gate is closed once the workers may consume.
func (s *Shared) Gate() <-chan struct{} { return s.gate }

// Full is closed once the agent consumed its limit.
func (s *Shared) Full() <-chan struct{} { return s.full }

// Consumed returns the records the agent's workers counted.
func (s *Shared) Consumed() int64 { return s.consumed.Load() }

// admit returns how many of n more records may be counted.
func (s *Shared) admit(n int64) int64 {
	if s.limit <= 0 {
		s.consumed.Add(n)
		return n
	}
	for {
		c := s.consumed.Load()
		k := min(n, s.limit-c)
		if k <= 0 {
			s.fullOnce.Do(func() { close(s.full) })
			return 0
		}
		if s.consumed.CompareAndSwap(c, c+k) {
			if c+k == s.limit {
				s.fullOnce.Do(func() { close(s.full) })
			}
			return k
		}
	}
}

// partition is what a worker knows of one partition.
type partition struct {
	next, hwm int64 // next offset to consume and last seen high watermark; -1 unknown
	owned     bool
	ranges    []*kperfv1.OffsetRange
}

// Worker measures one consumer client's records. Drivers call Assigned,
// Revoked and Consumed; the agent calls Drain every window.
type Worker struct {
	clock  producer.Clock
	shared *Shared
	// offset is this agent's wall clock minus the controller's.
	offset      atomic.Int64
	created     int64
	lastConsume atomic.Int64 // Clock time of the last record, or of the gate opening
	lastRecord  atomic.Int64 // Clock time of the last record, 0 for none

	mu          sync.Mutex
	e2e         hist.Hist
	records     int64
	bytes       int64
	fetches     int64
	unstamped   int64
	parts       map[int32]*partition
	rebalancing bool
	closing     bool  // partitions revoked from here on are the client leaving
	since       int64 // Clock time the current rebalance began
	rebWindow   int64 // rebalance ns in the current window, finished rebalances
	windowStart int64 // Clock time the current window began
	rebTotal    int64
	joinNs      int64 // first rebalance; -1 until the first assignment
	totRecords  int64
	totBytes    int64
}

// NewWorker returns a worker that is joining its group from now on.
func NewWorker(clock producer.Clock, shared *Shared) *Worker {
	now := clock.Now()
	w := &Worker{clock: clock, shared: shared, created: now, parts: map[int32]*partition{},
		rebalancing: true, since: now, joinNs: -1}
	w.lastConsume.Store(now)
	return w
}

// SetClockOffset sets this agent's wall clock minus the controller's in
// nanoseconds, for end-to-end latency against the controller-clock stamps.
func (w *Worker) SetClockOffset(ns int64) { w.offset.Store(ns) }

// Begin starts the first window at the Clock time start: rebalances before
// it are the group join (Totals' JoinNs), not run time.
func (w *Worker) Begin(start int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.windowStart, w.rebWindow, w.rebTotal = start, 0, 0
}

// Shared returns the worker's shared agent state.
func (w *Worker) Shared() *Shared { return w.shared }

// Opened marks the moment consumption began, for the idle timeout. A
// worker that has not joined yet (it joins at the start) times its join
// from here.
func (w *Worker) Opened(now int64) {
	w.lastConsume.Store(now)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.joinNs < 0 {
		w.created, w.since = now, now
	}
}

// LastConsume returns the Clock time of the last record consumed, of the
// last assignment, or of Opened, whichever is latest.
func (w *Worker) LastConsume() int64 { return w.lastConsume.Load() }

// Idle returns how long the worker has had nothing to do at Clock time
// now: since its last record, assignment or the gate opening. A worker
// waiting for a rebalance is not idle (the group, not the topic, holds it
// up) for up to allowance past the rebalance's start.
func (w *Worker) Idle(now, allowance int64) int64 {
	idle := now - w.lastConsume.Load()
	w.mu.Lock()
	if w.rebalancing {
		idle = min(idle, now-w.since-allowance)
	}
	w.mu.Unlock()
	return max(0, idle)
}

func (w *Worker) part(p int32) *partition {
	ps := w.parts[p]
	if ps == nil {
		ps = &partition{next: -1, hwm: -1}
		w.parts[p] = ps
	}
	return ps
}

// Assigned records that the worker owns parts (in addition to what it
// kept) from now on: a rebalance ended. The idle timeout counts from here
// too: a worker that was joining had no chance to consume.
func (w *Worker) Assigned(parts []int32, now int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now > w.lastConsume.Load() {
		w.lastConsume.Store(now)
	}
	for _, p := range parts {
		w.part(p).owned = true
	}
	if w.rebalancing {
		d := max(0, now-max(w.since, w.windowStart))
		w.rebWindow += d
		w.rebTotal += d
		w.rebalancing = false
		if w.joinNs < 0 {
			w.joinNs = now - w.created
		}
	}
}

// Revoked records that the worker lost parts: a rebalance began.
func (w *Worker) Revoked(parts []int32, now int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range parts {
		w.part(p).owned = false
	}
	if !w.rebalancing && !w.closing {
		w.rebalancing, w.since = true, now
	}
}

// Closing says the client is about to leave the group: the revocation
// that follows is not a rebalance of the run.
func (w *Worker) Closing() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closing = true
}

// Consumed counts a batch consumed at Clock time now and returns how many
// of its records were counted: fewer than the batch holds when the agent's
// record limit is reached, and the driver should then stop.
func (w *Worker) Consumed(b *Batch, now int64) int {
	n := int(w.shared.admit(int64(len(b.Offsets))))
	if n == 0 {
		return 0
	}
	w.lastConsume.Store(now)
	w.lastRecord.Store(now)
	nowCtl := w.clock.Wall(now) - w.offset.Load()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fetches++
	ps := w.part(b.Partition)
	for i := range n {
		off := b.Offsets[i]
		if s := b.Stamps[i]; s != 0 {
			w.e2e.Record(nowCtl - s)
		} else {
			w.unstamped++
		}
		w.bytes += int64(b.Sizes[i])
		if k := len(ps.ranges); k > 0 && ps.ranges[k-1].To == off {
			ps.ranges[k-1].To++
		} else {
			ps.ranges = append(ps.ranges, &kperfv1.OffsetRange{From: off, To: off + 1})
		}
	}
	w.records += int64(n)
	ps.next = b.Offsets[n-1] + 1
	if b.HighWatermark >= 0 {
		ps.hwm = b.HighWatermark
	}
	return n
}

// Drain adds the worker's window ending at Clock time now, which began at
// winStart, to into, and starts a new window. Rebalance time is the most of
// any worker (rebalances are group-wide); everything else adds up.
func (w *Worker) Drain(into *Window, winStart, now int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	reb := w.rebWindow
	if w.rebalancing {
		reb += max(0, now-max(w.since, winStart))
	}
	into.RebalanceNs = max(into.RebalanceNs, min(reb, now-winStart))
	into.E2E.Add(&w.e2e)
	into.Records += w.records
	into.Bytes += w.bytes
	into.Fetches += w.fetches
	into.Unstamped += w.unstamped
	for _, ps := range w.parts {
		if !ps.owned {
			continue
		}
		into.Partitions++
		if ps.hwm >= 0 && ps.next >= 0 {
			into.Lag += max(0, ps.hwm-ps.next)
		}
	}
	w.totRecords += w.records
	w.totBytes += w.bytes
	w.e2e.Reset()
	w.records, w.bytes, w.fetches, w.unstamped, w.rebWindow = 0, 0, 0, 0, 0
	if w.rebalancing {
		// The part of the current rebalance up to now is counted.
		w.rebTotal += max(0, now-max(w.since, winStart))
	}
	w.windowStart = now
}

// Totals adds the worker's whole run to into; call it after the last Drain.
func (w *Worker) Totals(into *kperfv1.ConsumeTotals) {
	w.mu.Lock()
	defer w.mu.Unlock()
	into.Records += w.totRecords
	into.Bytes += w.totBytes
	into.JoinNs = max(into.JoinNs, w.joinNs)
	into.RebalanceNs = max(into.RebalanceNs, w.rebTotal)
	if t := w.lastRecord.Load(); t != 0 {
		into.LastRecordUnixNano = max(into.LastRecordUnixNano, w.clock.Wall(t))
	}
	for p, ps := range w.parts {
		if len(ps.ranges) == 0 {
			continue
		}
		into.Ranges = append(into.Ranges, &kperfv1.PartitionRanges{Partition: p, Ranges: ps.ranges})
	}
}

// Window is an agent's consume measurements of one window.
type Window struct {
	Records, Bytes, Fetches, Unstamped int64
	RebalanceNs                        int64
	Lag                                int64
	Partitions                         int32
	E2E                                hist.Hist
}

// Reset empties w.
func (w *Window) Reset() {
	w.E2E.Reset()
	w.Records, w.Bytes, w.Fetches, w.Unstamped, w.RebalanceNs, w.Lag, w.Partitions = 0, 0, 0, 0, 0, 0, 0
}

// Proto returns w as a wire message.
func (w *Window) Proto(consuming bool) *kperfv1.ConsumeWindow {
	return &kperfv1.ConsumeWindow{Records: w.Records, Bytes: w.Bytes, Fetches: w.Fetches, RebalanceNs: w.RebalanceNs,
		Lag: w.Lag, Partitions: w.Partitions, E2ELatency: w.E2E.Proto(), Unstamped: w.Unstamped, Consuming: consuming}
}
