package producer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/go-cmp/cmp"

	"github.com/kperf/kperf/internal/pace"
)

// fakeClient is a Client that acks (or fails) every record after a fixed
// delay from a completer goroutine, or synchronously inside Send when sync
// is set. It checks what the worker hands it.
type fakeClient struct {
	t     *testing.T
	w     *Worker
	clock Clock
	sync  bool          // complete inside Send
	delay time.Duration // ack delay after Send when !sync
	// fail returns the error of the n-th record sent (0-based); nil acks.
	fail func(n int64) error
	// bound, when > 0, is the most records that may be outstanding.
	bound int64
	// cancel, when set, is called once cancelAt records have been sent.
	cancel   func()
	cancelAt int64
	sizes    []int32

	sends      atomic.Int64 // records accepted by Send
	completing atomic.Int64 // records handed to Complete (counted before the call)
	allocated  atomic.Int64 // records made by NewRecord
	maxOut     atomic.Int64 // most records outstanding seen by Send

	// Written by the worker goroutine only; read after Run.
	intended []int64
	problems []string

	queue chan pendingRecord
	done  chan struct{}
	abort chan struct{} // closed at the end of the test: drop what is left
	once  sync.Once
}

type pendingRecord struct {
	r   *Record
	due int64
}

func newFakeClient(t *testing.T, w *Worker, clock Clock, sizes []int32) *fakeClient {
	c := &fakeClient{t: t, w: w, clock: clock, sync: true, sizes: sizes}
	w.SetClient(c)
	return c
}

// start starts the completer; call it after setting the fields.
func (c *fakeClient) start() *fakeClient {
	if !c.sync {
		c.queue = make(chan pendingRecord, 1<<16)
		c.done = make(chan struct{})
		c.abort = make(chan struct{})
		c.t.Cleanup(func() { close(c.abort); <-c.done })
		go c.completer()
	}
	return c
}

func (c *fakeClient) completer() {
	defer close(c.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var p pendingRecord
		select {
		case r, ok := <-c.queue:
			if !ok {
				return
			}
			p = r
		case <-c.abort:
			return
		}
		if wait := p.due - c.clock.Now(); wait > 0 {
			timer.Reset(time.Duration(wait))
			select {
			case <-timer.C:
			case <-c.abort:
				return
			}
		}
		c.completing.Add(1)
		c.w.Complete([]*Record{p.r}, c.clock.Now())
	}
}

func (c *fakeClient) NewRecord() *Record {
	c.allocated.Add(1)
	return &Record{}
}

func (c *fakeClient) problem(format string, args ...any) {
	if len(c.problems) < 10 {
		c.problems = append(c.problems, fmt.Sprintf(format, args...))
	}
}

func (c *fakeClient) Send(ctx context.Context, r *Record) bool {
	n := c.sends.Load()
	if r.Err != nil {
		c.problem("record %d handed over with Err %v left from its last use", n, r.Err)
	}
	if r.Handoff < r.Intended {
		c.problem("record %d handed off %v before its intended time", n, time.Duration(r.Intended-r.Handoff))
	}
	if want := int32(n % int64(len(c.sizes))); r.Payload != want || r.Size != c.sizes[want] {
		c.problem("record %d has payload %d size %d, want payload %d size %d", n, r.Payload, r.Size, want, c.sizes[want])
	}
	out := n + 1 - c.completing.Load()
	if c.bound > 0 {
		if out > c.bound {
			c.problem("record %d: %d records outstanding, want at most %d", n, out, c.bound)
		}
		if s, done := c.w.Sent(), c.completing.Load(); s > done+c.bound {
			c.problem("Sent() = %d with %d completed, want at most %d", s, done, done+c.bound)
		}
	}
	if out > c.maxOut.Load() {
		c.maxOut.Store(out)
	}
	c.intended = append(c.intended, r.Intended)
	if c.fail != nil {
		r.Err = c.fail(n)
	}
	if c.sync {
		c.sends.Add(1)
		c.completing.Add(1)
		c.w.Complete([]*Record{r}, c.clock.Now())
	} else {
		select {
		case c.queue <- pendingRecord{r: r, due: c.clock.Now() + int64(c.delay)}:
			c.sends.Add(1)
		case <-ctx.Done():
			c.intended = c.intended[:len(c.intended)-1]
			return false
		}
	}
	if c.cancel != nil && c.sends.Load() == c.cancelAt {
		c.cancel()
	}
	return true
}

func (c *fakeClient) Close(context.Context) error {
	c.once.Do(func() {
		if !c.sync {
			close(c.queue)
			<-c.done
		}
	})
	return nil
}

// checkProblems fails t with what the client saw go wrong.
// finish closes the client, checks it saw no problem, and returns what
// the worker measured.
func (c *fakeClient) finish(t *testing.T, w *Worker) Stats {
	t.Helper()
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var s Stats
	w.Drain(&s)
	c.checkProblems(t)
	return s
}

func (c *fakeClient) checkProblems(t *testing.T) {
	t.Helper()
	for _, p := range c.problems {
		t.Error(p)
	}
}

// bytesOf returns the bytes of the first n records over sizes.
func bytesOf(sizes []int32, n int64) int64 {
	var b int64
	for i := range n {
		b += int64(sizes[i%int64(len(sizes))])
	}
	return b
}

// testSizes are the payload sizes of the tests' workers (franz_test.go uses
// them and bytesOf too).
var testSizes = []int32{100, 250, 1000}

// clientMode is how a fake client completes records.
type clientMode struct {
	name  string
	sync  bool
	delay time.Duration
}

var clientModes = []clientMode{
	{name: "sync"},
	{name: "async", delay: 0},
	{name: "async 2ms", delay: 2 * time.Millisecond},
}

func TestPacedWorkerSendsLimit(t *testing.T) {
	t.Parallel()
	const rate, limit = 2000, 500
	for _, mode := range clientModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			clock := NewClock()
			sched := pace.New(rate, limit, 0, 0, 1)
			w := NewWorker(sched, clock, testSizes, 64)
			c := newFakeClient(t, w, clock, testSizes)
			c.sync, c.delay = mode.sync, mode.delay
			c.start()

			start := clock.Now()
			w.Run(context.Background(), start, 0)
			ran := time.Duration(clock.Now() - start)
			s := c.finish(t, w)

			if got := w.Sent(); got != limit {
				t.Errorf("Sent() = %d, want %d", got, limit)
			}
			if got := c.sends.Load(); got != limit {
				t.Errorf("client got %d records, want %d", got, limit)
			}
			if s.Acked != limit || s.Failed != 0 || s.BytesAcked != bytesOf(testSizes, limit) {
				t.Errorf("acked, failed, bytes = %d, %d, %d, want %d, 0, %d", s.Acked, s.Failed, s.BytesAcked, limit, bytesOf(testSizes, limit))
			}
			for _, h := range []struct {
				name  string
				count int64
			}{{"Ack", s.Ack.Count()}, {"Service", s.Service.Count()}, {"Delay", s.Delay.Count()}} {
				if h.count != limit {
					t.Errorf("%s.Count() = %d, want %d", h.name, h.count, limit)
				}
			}
			if s.Err.Count() != 0 || len(s.Errors) != 0 {
				t.Errorf("Err.Count() = %d, Errors = %v, want none", s.Err.Count(), s.Errors)
			}

			// The records' intended times are the schedule's, from start.
			want := make([]int64, 0, limit)
			for k := int64(0); ; k++ {
				off, n := sched.Tick(k)
				if n == 0 {
					break
				}
				for range n {
					want = append(want, start+int64(off))
				}
			}
			if diff := cmp.Diff(want, c.intended); diff != "" {
				t.Errorf("intended times differ from the schedule (-want +got):\n%s", diff)
			}
			// Pacing: the last tick is due at 249 ms.
			if last, _ := sched.Tick(limit/2 - 1); ran < last {
				t.Errorf("Run returned after %v, before the last tick at %v: not paced", ran, last)
			}

			// Latency from the intended time is delay plus service time,
			// record by record, so it can never be the smaller.
			for _, h := range []struct {
				name    string
				clamped int64
			}{{"Ack", s.Ack.Clamped()}, {"Service", s.Service.Clamped()}, {"Delay", s.Delay.Clamped()}} {
				if h.clamped != 0 {
					t.Errorf("%s.Clamped() = %d, want 0 (negative or huge values)", h.name, h.clamped)
				}
			}
			if s.Ack.Sum() != s.Service.Sum()+s.Delay.Sum() {
				t.Errorf("Ack.Sum() = %d, want Service.Sum() + Delay.Sum() = %d", s.Ack.Sum(), s.Service.Sum()+s.Delay.Sum())
			}
			if s.Ack.Mean() < s.Service.Mean() || s.Ack.Mean() < s.Delay.Mean() {
				t.Errorf("means: ack %v, service %v, delay %v; want ack >= service and ack >= delay", s.Ack.Mean(), s.Service.Mean(), s.Delay.Mean())
			}
			if s.Ack.Max() < s.Service.Max() {
				t.Errorf("Ack.Max() = %d < Service.Max() = %d", s.Ack.Max(), s.Service.Max())
			}
			if got := time.Duration(s.Service.Percentiles(0)[0]); got < mode.delay {
				t.Errorf("service time min = %v, want at least the client's ack delay %v", got, mode.delay)
			}
		})
	}
}

func TestUnlimitedWorkerSendsLimit(t *testing.T) {
	t.Parallel()
	const limit = 1000
	for _, mode := range clientModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			clock := NewClock()
			w := NewWorker(pace.New(-1, limit, 0, 0, 1), clock, testSizes, 100)
			c := newFakeClient(t, w, clock, testSizes)
			c.sync, c.delay = mode.sync, mode.delay
			c.start()
			w.Run(context.Background(), clock.Now(), 0)
			s := c.finish(t, w)
			if got := w.Sent(); got != limit {
				t.Errorf("Sent() = %d, want %d", got, limit)
			}
			if got := c.sends.Load(); got != limit {
				t.Errorf("client got %d records, want %d", got, limit)
			}
			if s.Acked != limit || s.Ack.Count() != limit || s.BytesAcked != bytesOf(testSizes, limit) {
				t.Errorf("acked %d (histogram %d), bytes %d, want %d, %d", s.Acked, s.Ack.Count(), s.BytesAcked, limit, bytesOf(testSizes, limit))
			}
			// Unpaced records are intended when they are handed off.
			if s.Delay.Max() != 0 {
				t.Errorf("Delay.Max() = %d, want 0 for an unlimited worker", s.Delay.Max())
			}
			if got := c.allocated.Load(); got > 100 {
				t.Errorf("client made %d records, want at most maxOutstanding 100", got)
			}
		})
	}
}

func TestWorkerBlocksAtMaxOutstanding(t *testing.T) {
	t.Parallel()
	const (
		limit          = 200
		maxOutstanding = 10
		ackDelay       = 20 * time.Millisecond
	)
	clock := NewClock()
	// 2000 records/s asked of a client that can do 10 per 20 ms = 500/s.
	w := NewWorker(pace.New(2000, limit, 0, 0, 1), clock, testSizes, maxOutstanding)
	c := newFakeClient(t, w, clock, testSizes)
	c.sync, c.delay, c.bound = false, ackDelay, maxOutstanding
	c.start()
	start := clock.Now()
	w.Run(context.Background(), start, 0)
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	took := time.Duration(clock.Now() - start)
	var s Stats
	w.Drain(&s)
	c.checkProblems(t)

	if w.Sent() != limit || s.Acked != limit {
		t.Errorf("Sent() = %d, acked %d, want %d", w.Sent(), s.Acked, limit)
	}
	if got := c.maxOut.Load(); got != maxOutstanding {
		t.Errorf("most records outstanding = %d, want %d", got, maxOutstanding)
	}
	if got := c.allocated.Load(); got != maxOutstanding {
		t.Errorf("client made %d records, want %d", got, maxOutstanding)
	}
	// limit/maxOutstanding rounds of at least ackDelay each.
	if minTook := limit / maxOutstanding * ackDelay; took < minTook {
		t.Errorf("run took %v, want at least %v", took, minTook)
	}
	p50 := func(h interface{ Percentiles(...float64) []int64 }) time.Duration {
		return time.Duration(h.Percentiles(50)[0])
	}
	if got := p50(&s.Service); got < ackDelay {
		t.Errorf("service time p50 = %v, want at least the ack delay %v", got, ackDelay)
	}
	// Record i cannot complete before (i/10+1)*20ms but was intended at
	// i*0.5ms, so the median record waited about 170 ms: latency counts the
	// queueing behind the full buffer, not just the 20 ms the client took.
	if got := p50(&s.Ack); got < 5*ackDelay {
		t.Errorf("ack latency p50 = %v, want at least %v: queueing behind the full buffer is missing", got, 5*ackDelay)
	}
	if got := p50(&s.Delay); got < 2*ackDelay {
		t.Errorf("send delay p50 = %v, want at least %v: the generator fell behind its schedule", got, 2*ackDelay)
	}
	if s.Ack.Sum() != s.Service.Sum()+s.Delay.Sum() {
		t.Errorf("Ack.Sum() = %d, want Service.Sum() + Delay.Sum() = %d", s.Ack.Sum(), s.Service.Sum()+s.Delay.Sum())
	}
}

func TestWorkerCountsFailures(t *testing.T) {
	t.Parallel()
	const limit = 300
	boom := errors.New("boom")
	failOf := func(n int64) error {
		switch n % 6 {
		case 1:
			return sarama.ErrNotLeaderForPartition
		case 3:
			return fmt.Errorf("produce: %w", sarama.ErrNotLeaderForPartition)
		case 5:
			return boom
		}
		return nil
	}
	for _, mode := range clientModes[:2] {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			clock := NewClock()
			w := NewWorker(pace.New(-1, limit, 0, 0, 1), clock, testSizes, 16)
			c := newFakeClient(t, w, clock, testSizes)
			c.sync, c.delay, c.fail = mode.sync, mode.delay, failOf
			c.start()
			w.Run(context.Background(), clock.Now(), 0)
			s := c.finish(t, w) // includes: no record comes back with Err still set

			var wantBytes int64
			for n := range int64(limit) {
				if failOf(n) == nil {
					wantBytes += int64(testSizes[n%int64(len(testSizes))])
				}
			}
			type counts struct {
				Sent, Acked, Failed, BytesAcked, AckCount, ServiceCount, ErrCount int64
				Errors                                                            map[string]int64
			}
			got := counts{w.Sent(), s.Acked, s.Failed, s.BytesAcked, s.Ack.Count(), s.Service.Count(), s.Err.Count(), s.Errors}
			want := counts{limit, 150, 150, wantBytes, 150, 150, 150,
				map[string]int64{errorKind(sarama.ErrNotLeaderForPartition): 100, "boom": 50}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("counts mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWorkerStopsAtEnd(t *testing.T) {
	t.Parallel()
	clock := NewClock()
	// 1000/s is one record per ms; ticks at 0..49 ms are before the end.
	w := NewWorker(pace.New(1000, 0, 0, 0, 1), clock, testSizes, 64)
	c := newFakeClient(t, w, clock, testSizes).start()
	start := clock.Now()
	w.Run(context.Background(), start, start+int64(50*time.Millisecond))
	c.Close(context.Background())
	c.checkProblems(t)
	if got := w.Sent(); got != 50 {
		t.Errorf("Sent() = %d, want 50 records intended before the end", got)
	}
}

func TestWorkerWaitsForStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rate float64
	}{{name: "paced", rate: 10_000}, {name: "unlimited", rate: -1}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := NewClock()
			w := NewWorker(pace.New(tc.rate, 100, 0, 0, 1), clock, testSizes, 64)
			c := newFakeClient(t, w, clock, testSizes).start()
			start := clock.Now() + int64(30*time.Millisecond)
			w.Run(context.Background(), start, 0)
			c.Close(context.Background())
			c.checkProblems(t)
			if w.Sent() != 100 || len(c.intended) != 100 {
				t.Fatalf("Sent() = %d, client got %d, want 100", w.Sent(), len(c.intended))
			}
			if first := c.intended[0]; first < start {
				t.Errorf("first record intended %v before the start", time.Duration(start-first))
			}
		})
	}
}

func TestWorkerStopsOnCancel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rate float64
	}{{name: "paced", rate: 100_000}, {name: "unlimited", rate: -1}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := NewClock()
			w := NewWorker(pace.New(tc.rate, 0, 0, 0, 1), clock, testSizes, 32)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := newFakeClient(t, w, clock, testSizes)
			// Acks never come within the test, so the worker ends up waiting
			// for a free record when it is cancelled.
			c.sync, c.delay, c.cancel, c.cancelAt = false, time.Hour, cancel, 32
			c.start()
			w.Run(ctx, clock.Now(), 0) // must return
			if got := w.Sent(); got != c.sends.Load() {
				t.Errorf("Sent() = %d, want the %d records the client accepted", got, c.sends.Load())
			}
			if got := w.Sent(); got != 32 {
				t.Errorf("Sent() = %d with no acks, want maxOutstanding 32", got)
			}
			c.checkProblems(t)
		})
	}
}

func TestWorkerStopsOnCancelWhileSending(t *testing.T) {
	t.Parallel()
	clock := NewClock()
	w := NewWorker(pace.New(-1, 0, 0, 0, 1), clock, testSizes, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newFakeClient(t, w, clock, testSizes)
	c.cancel, c.cancelAt = cancel, 1000
	c.start()
	w.Run(ctx, clock.Now(), 0)
	var s Stats
	w.Drain(&s)
	if got, sends := w.Sent(), c.sends.Load(); got != sends || got < 1000 {
		t.Errorf("Sent() = %d, client accepted %d; want equal and at least 1000", got, sends)
	}
	if s.Acked != w.Sent() {
		t.Errorf("acked %d, want Sent() = %d", s.Acked, w.Sent())
	}
}

func TestDrainStartsNewWindow(t *testing.T) {
	t.Parallel()
	clock := NewClock()
	w := NewWorker(pace.New(-1, 10, 0, 0, 1), clock, testSizes, 8)
	c := newFakeClient(t, w, clock, testSizes).start()
	w.Run(context.Background(), clock.Now(), 0)
	c.Close(context.Background())
	var first Stats
	first.Acked = 5 // Drain adds to what is there
	w.Drain(&first)
	if first.Acked != 15 || first.Ack.Count() != 10 {
		t.Errorf("first Drain: acked %d, histogram %d, want 15, 10", first.Acked, first.Ack.Count())
	}
	var second Stats
	w.Drain(&second)
	if second.Acked != 0 || second.Ack.Count() != 0 || second.BytesAcked != 0 {
		t.Errorf("second Drain: acked %d, histogram %d, bytes %d, want zeros", second.Acked, second.Ack.Count(), second.BytesAcked)
	}
}

func TestStatsAddAndReset(t *testing.T) {
	t.Parallel()
	var a, b Stats
	a.Ack.Record(1000)
	a.Acked, a.Failed, a.BytesAcked = 1, 2, 3
	a.Errors = map[string]int64{"x": 2}
	b.Add(&a)
	b.Add(&a)
	if b.Acked != 2 || b.Failed != 4 || b.BytesAcked != 6 || b.Ack.Count() != 2 || b.Errors["x"] != 4 {
		t.Errorf("Add twice = %+v errors %v, want doubled counts", b.Ack.Count(), b.Errors)
	}
	b.Reset()
	if b.Acked != 0 || b.Failed != 0 || b.BytesAcked != 0 || b.Ack.Count() != 0 || len(b.Errors) != 0 {
		t.Errorf("Reset left acked %d failed %d bytes %d histogram %d errors %v", b.Acked, b.Failed, b.BytesAcked, b.Ack.Count(), b.Errors)
	}
	if a.Errors["x"] != 2 {
		t.Errorf("Add changed its argument's errors to %v", a.Errors)
	}
}

// batchClient completes records synchronously, a batch at a time, like a
// Kafka client acking a produce request.
type batchClient struct {
	w       *Worker
	clock   Clock
	pending []*Record
}

func (c *batchClient) NewRecord() *Record { return &Record{} }

func (c *batchClient) Send(_ context.Context, r *Record) bool {
	c.pending = append(c.pending, r)
	if len(c.pending) == cap(c.pending) {
		c.w.Complete(c.pending, c.clock.Now())
		c.pending = c.pending[:0]
	}
	return true
}

func (c *batchClient) Close(context.Context) error { return nil }

// newBatchWorker returns a worker whose client acks every 64 records, warmed
// up so that every record it will use exists.
func newBatchWorker() (*Worker, Clock) {
	clock := NewClock()
	w := NewWorker(pace.New(-1, 0, 0, 0, 1), clock, testSizes, 256)
	w.SetClient(&batchClient{w: w, clock: clock, pending: make([]*Record, 0, 64)})
	now := clock.Now()
	w.sendBatch(context.Background(), now, now, 1024)
	return w, clock
}

func TestWorkerPerRecordDoesNotAllocate(t *testing.T) {
	w, clock := newBatchWorker()
	ctx := context.Background()
	allocs := testing.AllocsPerRun(10_000, func() {
		now := clock.Now()
		w.sendBatch(ctx, now, now, 1)
	})
	if allocs != 0 {
		t.Errorf("sendBatch+Complete allocates %v times per record, want 0", allocs)
	}
}

// BenchmarkWorkerPerRecord measures the worker's per-record path: take a
// free record, stamp it, hand it to the client, and record its completion.
func BenchmarkWorkerPerRecord(b *testing.B) {
	w, clock := newBatchWorker()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		now := clock.Now()
		if !w.sendBatch(ctx, now, now, 1) {
			b.Fatal("sendBatch = false")
		}
	}
	var s Stats
	w.Drain(&s)
	if s.Acked == 0 {
		b.Fatal("no records acked")
	}
}
