package producer

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kperf/kperf/internal/hist"
	"github.com/kperf/kperf/internal/pace"
)

// Stats are the measurements of a window. Histograms are in nanoseconds.
type Stats struct {
	// Ack is latency from intended send time to ack.
	Ack hist.Hist
	// Service is latency from hand-off to the client to ack.
	Service hist.Hist
	// Delay is the delay from intended send time to hand-off.
	Delay hist.Hist
	// Err is latency from intended send time to failure.
	Err hist.Hist
	// Acked, Failed and BytesAcked count completions.
	Acked, Failed, BytesAcked int64
	// Errors counts failures by error text.
	Errors map[string]int64
}

// Add adds o to s.
func (s *Stats) Add(o *Stats) {
	s.Ack.Add(&o.Ack)
	s.Service.Add(&o.Service)
	s.Delay.Add(&o.Delay)
	s.Err.Add(&o.Err)
	s.Acked += o.Acked
	s.Failed += o.Failed
	s.BytesAcked += o.BytesAcked
	for k, v := range o.Errors {
		if s.Errors == nil {
			s.Errors = make(map[string]int64)
		}
		s.Errors[k] += v
	}
}

// Reset empties s.
func (s *Stats) Reset() {
	s.Ack.Reset()
	s.Service.Reset()
	s.Delay.Reset()
	s.Err.Reset()
	s.Acked, s.Failed, s.BytesAcked = 0, 0, 0
	clear(s.Errors)
}

// Worker produces one schedule's records through one client.
type Worker struct {
	client   Client
	sched    pace.Schedule
	clock    Clock
	payloads int32 // number of payloads
	sizes    []int32
	next     int32 // next payload index

	free      chan *Record
	allocated int

	sent atomic.Int64
	// clockOffset is this agent's wall clock minus the controller's, for
	// the records' stamps.
	clockOffset int64

	mu  sync.Mutex
	cur Stats
}

// NewWorker returns a worker for sched. payloadSizes are the sizes of the
// payloads the client was given; maxOutstanding bounds the records in
// flight (the worker's share of buffer.memory). The caller connects the
// client's Completer to the worker: see SetClient.
func NewWorker(sched pace.Schedule, clock Clock, payloadSizes []int32, maxOutstanding int) *Worker {
	return &Worker{
		sched:    sched,
		clock:    clock,
		payloads: int32(len(payloadSizes)),
		sizes:    payloadSizes,
		free:     make(chan *Record, max(1, maxOutstanding)),
	}
}

// SetClient gives the worker its client, whose Completer must be w.
func (w *Worker) SetClient(c Client) { w.client = c }

// SetClockOffset sets this agent's wall clock minus the controller's in
// nanoseconds, so that record stamps are on the controller's clock. Call it
// before Run.
func (w *Worker) SetClockOffset(ns int64) { w.clockOffset = ns }

// Sent returns the records handed to the client so far.
func (w *Worker) Sent() int64 { return w.sent.Load() }

// Schedule returns the worker's schedule.
func (w *Worker) Schedule() pace.Schedule { return w.sched }

// unlimitedBatch is how many records an unpaced worker sends per clock read.
const unlimitedBatch = 64

// Run sends records from start (a Clock time) until the schedule is done,
// end (a Clock time; 0 for none) is reached, or ctx is done. It does not
// close the client.
func (w *Worker) Run(ctx context.Context, start, end int64) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	if w.sched.Unlimited() {
		if !w.sleepUntil(ctx, timer, start) {
			return
		}
		w.runUnlimited(ctx, end)
		return
	}
	for k := int64(0); ; k++ {
		off, n := w.sched.Tick(k)
		intended := start + int64(off)
		if n == 0 || (end > 0 && intended >= end) {
			return
		}
		if !w.sleepUntil(ctx, timer, intended) {
			return
		}
		if !w.sendBatch(ctx, intended, w.clock.Now(), n) {
			return
		}
	}
}

// sleepUntil waits until the Clock time t; it returns false when ctx is
// done first.
func (w *Worker) sleepUntil(ctx context.Context, timer *time.Timer, t int64) bool {
	if wait := t - w.clock.Now(); wait > 0 {
		timer.Reset(time.Duration(wait))
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		}
	}
	return ctx.Err() == nil
}

func (w *Worker) runUnlimited(ctx context.Context, end int64) {
	for ctx.Err() == nil {
		now := w.clock.Now()
		if end > 0 && now >= end {
			return
		}
		n := int64(unlimitedBatch)
		if limit := w.sched.Limit(); limit > 0 {
			n = min(n, limit-w.sent.Load())
			if n <= 0 {
				return
			}
		}
		if !w.sendBatch(ctx, now, now, n) {
			return
		}
	}
}

// sendBatch hands n records intended at intended to the client, all
// stamped with hand-off time h. Waiting for a free record (the buffer is
// full) counts as service time, as a blocked send() does in the Java client.
func (w *Worker) sendBatch(ctx context.Context, intended, h, n int64) bool {
	stamp := w.clock.Wall(intended) - w.clockOffset
	for i := int64(0); i < n; i++ {
		r := w.take(ctx)
		if r == nil {
			w.sent.Add(i)
			return false
		}
		r.Intended, r.Handoff, r.Stamp = intended, h, stamp
		r.Payload = w.next
		r.Size = w.sizes[w.next]
		if w.next++; w.next == w.payloads {
			w.next = 0
		}
		if !w.client.Send(ctx, r) {
			w.free <- r
			w.sent.Add(i)
			return false
		}
	}
	w.sent.Add(n)
	return true
}

// take returns a free record, creating one while fewer than the worker's
// limit exist, or nil when ctx is done first.
func (w *Worker) take(ctx context.Context) *Record {
	select {
	case r := <-w.free:
		return r
	default:
	}
	if w.allocated < cap(w.free) {
		w.allocated++
		return w.client.NewRecord()
	}
	select {
	case r := <-w.free:
		return r
	case <-ctx.Done():
		return nil
	}
}

// Complete records completed records; it implements Completer.
func (w *Worker) Complete(recs []*Record, now int64) {
	w.mu.Lock()
	s := &w.cur
	for _, r := range recs {
		if r.Err == nil {
			s.Ack.Record(now - r.Intended)
			s.Service.Record(now - r.Handoff)
			s.Delay.Record(r.Handoff - r.Intended)
			s.Acked++
			s.BytesAcked += int64(r.Size)
			continue
		}
		s.Err.Record(now - r.Intended)
		s.Failed++
		if s.Errors == nil {
			s.Errors = make(map[string]int64)
		}
		s.Errors[errorKind(r.Err)]++
		r.Err = nil
	}
	w.mu.Unlock()
	for _, r := range recs {
		w.free <- r
	}
}

// Drain adds the worker's measurements since the last Drain to into and
// starts a new window.
func (w *Worker) Drain(into *Stats) {
	w.mu.Lock()
	into.Add(&w.cur)
	w.cur.Reset()
	w.mu.Unlock()
}

// errorKind names an error for counting: Kafka errors by their protocol
// name (NOT_ENOUGH_REPLICAS, the same for every driver), anything else by
// its message.
func errorKind(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	var se sarama.KError
	if errors.As(err, &se) {
		if errors.As(kerr.ErrorForCode(int16(se)), &ke) {
			return ke.Message
		}
		return se.Error()
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		inner := ne.Err
		var se *os.SyscallError
		if errors.As(inner, &se) {
			inner = se.Err
		}
		return ne.Op + ": " + inner.Error() // without the connection's addresses
	}
	return err.Error()
}
