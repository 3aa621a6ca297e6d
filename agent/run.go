package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kperf/kperf/agent/producer"
	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/internal/props"
)

// runner is one prepared test on this agent.
type runner struct {
	a        *kperfv1.Assignment
	clock    producer.Clock
	workers  []*producer.Worker
	clients  []producer.Client
	minTick  time.Duration
	interval int64
	wg       sync.WaitGroup
	started  bool
	prevSent int64 // records sent up to the last interval
	end      int64 // planned end (Clock time), 0 for none
	// stallLimit is how long records may stay in flight without any
	// completing before the agent gives up on the run.
	stallLimit time.Duration
	// cons are the agent's consumers; nil without.
	cons *consumers
	// clockOffset is this agent's clock minus the controller's (from
	// Start); resume closes when the controller lets consumers drain a
	// backlog. Both are set before run.
	clockOffset int64
	resume      <-chan struct{}
	// mon, when set, is told the run's state and interval counters.
	mon *monitor
	// endReason says why the run ended (EndDone, ...), once it has.
	endReason string
}

// prepare connects one client per worker and builds payloads. On error
// everything made so far is closed.
func prepare(ctx context.Context, a *kperfv1.Assignment, settings props.Producer, log hclog.Logger) (*runner, error) {
	payloads := payloadsFor(a)
	sizes := make([]int32, len(payloads))
	var total int64
	for i, p := range payloads {
		sizes[i] = int32(len(p))
		total += int64(len(p))
	}
	if largest := int(slicesMax(sizes)); largest > settings.MaxRequestBytes {
		return nil, fmt.Errorf("record of %d bytes is larger than max.request.size %d", largest, settings.MaxRequestBytes)
	}
	avg := max(1, total/int64(len(payloads)))
	// Each worker is one producer with its own buffer.memory, as each Java
	// producer is: it may have buffer.memory / record size records
	// outstanding, at least 64 and at most maxOutstanding (each record also
	// costs a few hundred bytes of client state).
	outstanding := int(min(max(settings.BufferBytes/avg, 64), maxOutstanding))

	r := &runner{a: a, clock: producer.NewClock(), interval: a.GetIntervalNs(), minTick: time.Second,
		stallLimit: settings.RequestTimeout + stallGrace}
	for i, s := range schedules(a) {
		if err := ctx.Err(); err != nil {
			r.close()
			return nil, err
		}
		w := producer.NewWorker(s, r.clock, sizes, outstanding)
		c, err := connect(ctx, func() (producer.Client, error) { return newClient(a, i, settings, payloads, r.clock, w) })
		if err != nil {
			r.close()
			return nil, fmt.Errorf("worker %d: %w", i, err)
		}
		w.SetClient(c)
		r.workers = append(r.workers, w)
		r.clients = append(r.clients, c)
		if p := s.Period(); p > 0 {
			r.minTick = min(r.minTick, p)
		}
	}
	var err error
	if r.cons, err = prepareConsumers(ctx, a, r.clock, log); err != nil {
		r.close()
		return nil, err
	}
	log.Debug("workers ready", "outstanding_per_worker", outstanding, "payloads", len(payloads))
	return r, nil
}

// newClient makes worker i's Kafka client for the assignment's driver.
func newClient(a *kperfv1.Assignment, i int, settings props.Producer, payloads [][]byte, clock producer.Clock, w *producer.Worker) (producer.Client, error) {
	switch a.GetDriver() {
	case "", "sarama":
		return producer.NewSarama(producer.SaramaOptions{
			Brokers:   a.GetBootstrapServers(),
			Topic:     a.GetTopic(),
			Settings:  settings,
			Payloads:  payloads,
			Seed:      a.GetSeed() + int64(a.GetAgentIndex())*1000 + int64(i),
			Clock:     clock,
			Completer: w,
			Stamp:     a.GetStampRecords(),
		})
	case "franz":
		return producer.NewFranz(producer.FranzOptions{
			Brokers:   a.GetBootstrapServers(),
			Topic:     a.GetTopic(),
			Settings:  settings,
			Payloads:  payloads,
			Clock:     clock,
			Completer: w,
			Stamp:     a.GetStampRecords(),
		})
	}
	return nil, fmt.Errorf("driver %q not supported", a.GetDriver())
}

// connect runs a client constructor (the drivers' take no context: a
// broker that accepts connections and never answers holds them for their
// own timeouts) and gives up when ctx is done, so a controller that gives
// up frees the agent at once. A client made after that is closed.
func connect(ctx context.Context, newClient func() (producer.Client, error)) (producer.Client, error) {
	type result struct {
		c   producer.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := newClient()
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.err == nil {
				r.c.Close(context.Background())
			}
		}()
		return nil, fmt.Errorf("connect to kafka: %w", context.Cause(ctx))
	}
}

// maxOutstanding caps the records one worker keeps in flight.
const maxOutstanding = 1 << 18

func slicesMax(s []int32) int32 {
	var m int32
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

// close releases the clients of a runner that never started; a started
// runner's workers close their own clients.
func (r *runner) close() {
	defer r.cons.close()
	if r.started {
		r.wg.Wait()
		return
	}
	for _, c := range r.clients {
		c.Close(context.Background())
	}
}

// stallGrace is added to request.timeout.ms for the stall limit: past it a
// record is neither acked nor failed by any client's own retry rules.
const stallGrace = 10 * time.Second

// graceAfterEnd is how long past the planned end an agent waits for the
// controller before giving up on its own.
const graceAfterEnd = 60 * time.Second

// run starts the workers at the wall-clock time at, reports every interval,
// and ends with Final. It returns when every worker has stopped and its
// client is closed.
func (r *runner) run(ctx context.Context, stream kperfv1.AgentService_RunServer, at int64, stop *stopSignal, maxDuration time.Duration, log hclog.Logger) error {
	start := r.clock.FromWall(at)
	if maxDuration > 0 {
		// The agent's own cap on a run's length, whatever the plan says.
		t := time.AfterFunc(time.Duration(start-r.clock.Now())+maxDuration, func() {
			stop.stop(maxDurationReason(maxDuration))
		})
		defer t.Stop()
	}
	var end int64
	if d := r.a.GetDurationNs(); d > 0 {
		end = start + d
		r.end = end
		// A hard deadline backs up the lease.
		deadline := time.Duration(end-r.clock.Now()) + time.Duration(r.a.GetLeaseTimeoutNs()) + graceAfterEnd
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, deadline, errHardDeadline)
		defer cancel()
	}
	sendCtx, stopSending := context.WithCancel(ctx)
	defer stopSending()
	if end > 0 {
		// A send blocked on a stuck client (a dead broker) ends with the run.
		var cancel context.CancelFunc
		sendCtx, cancel = context.WithDeadline(sendCtx, time.Unix(0, r.clock.Wall(end)))
		defer cancel()
	}
	go func() {
		select {
		case <-stop.ch:
			stopSending()
		case <-sendCtx.Done():
		}
		r.mon.setState(r, StateStopping)
	}()

	r.started = true
	done := make(chan struct{})
	producersDone := make(chan struct{})
	r.cons.start(ctx, start, r.clockOffset, producersDone, stop.ch, r.resume)
	for i, w := range r.workers {
		w.SetClockOffset(r.clockOffset)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			w.Run(sendCtx, start, end)
			// A run whose controller is gone (lease lost) or past its hard
			// deadline lets go of its records in flight at once.
			if err := r.clients[i].Close(ctx); err != nil {
				log.Warn("close kafka client", "worker", i, "error", err)
			}
		}()
	}
	// When the producers finished: their last record completed (clients
	// close after their records in flight), whatever the consumers do.
	var producersEnd atomic.Int64
	go func() {
		r.wg.Wait()
		producersEnd.Store(r.clock.Now())
		close(producersDone)
		r.cons.wait()
		close(done)
	}()
	defer r.wg.Wait()

	// Wait for the start, then say when it was.
	if wait := time.Duration(start - r.clock.Now()); wait > 0 {
		select {
		case <-time.After(wait):
		case <-done:
		}
	}
	if err := stream.Send(&kperfv1.RunResponse{Msg: &kperfv1.RunResponse_Started{Started: &kperfv1.Started{StartedUnixNano: r.clock.Wall(r.clock.Now())}}}); err != nil {
		stopSending()
		return err
	}
	log.Info("started", "late", time.Duration(r.clock.Now()-start))
	r.mon.setState(r, StateRunning)

	var window, totals producer.Stats
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var seq int64
	var sendErr error
	lastProgress := r.clock.Now()
	var stalled error
	for finished := false; !finished; seq++ {
		boundary := start + (seq+1)*r.interval
		timer.Reset(time.Duration(boundary - r.clock.Now()))
		select {
		case <-timer.C:
		case <-done:
			finished = true
			r.mon.setState(r, StateStopping)
		}
		winEnd := boundary
		if finished {
			winEnd = r.clock.Now()
		}
		for _, w := range r.workers {
			w.Drain(&window)
		}
		totals.Acked += window.Acked
		totals.Failed += window.Failed
		totals.BytesAcked += window.BytesAcked
		// Records sent but none acked (a dead broker that the client keeps
		// retrying, failing records one by one) end the run instead of
		// holding it for as long as the retries last.
		now := r.clock.Now()
		if window.Acked > 0 || (window.Failed == 0 && r.sent() == totals.Acked+totals.Failed) {
			lastProgress = now
		} else if stalled == nil && time.Duration(now-lastProgress) > r.stallLimit {
			stalled = fmt.Errorf("stalled: no record acked for %v", r.stallLimit)
			log.Warn("stopping", "reason", stalled)
			stopSending()
		}
		iv := r.intervalMsg(seq, start, winEnd, &window, &totals)
		r.mon.interval(r, iv, time.Duration(winEnd-(start+seq*r.interval)))
		if sendErr == nil {
			sendErr = stream.Send(&kperfv1.RunResponse{Msg: &kperfv1.RunResponse_Interval{Interval: iv}})
			if sendErr != nil {
				stopSending() // nobody is listening: stop producing now
			}
		}
		for k, v := range window.Errors {
			if totals.Errors == nil {
				totals.Errors = map[string]int64{}
			}
			totals.Errors[k] += v
		}
		window.Reset()
	}
	if sendErr != nil {
		log.Warn("finished without a final report: the controller is gone", "error", sendErr, "cause", context.Cause(ctx), "acked", totals.Acked, "failed", totals.Failed)
		r.endReason = EndLeaseLost
		return sendErr
	}
	reason := "done"
	r.endReason = EndDone
	switch {
	case stalled != nil:
		reason, r.endReason = stalled.Error(), EndStalled
	case ctx.Err() != nil:
		reason, r.endReason = context.Cause(ctx).Error(), EndLeaseLost
		if errors.Is(context.Cause(ctx), errHardDeadline) {
			r.endReason = EndDeadline
		}
	case isClosed(stop.ch):
		reason, r.endReason = stop.reason, stopEnd(stop.reason, maxDuration)
	}
	log.Info("finished", "reason", reason, "acked", totals.Acked, "failed", totals.Failed)
	return stream.Send(&kperfv1.RunResponse{Msg: &kperfv1.RunResponse_Final{Final: &kperfv1.Final{
		Totals:      &kperfv1.Counters{Sent: r.sent(), Acked: totals.Acked, Failed: totals.Failed, BytesAcked: totals.BytesAcked, Errors: totals.Errors},
		EndUnixNano: r.clock.Wall(producersEnd.Load()),
		Intervals:   seq,
		Reason:      reason,
		Consume:     r.cons.totals(),
	}}})
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (r *runner) sent() int64 {
	var n int64
	for _, w := range r.workers {
		n += w.Sent()
	}
	return n
}

// intervalMsg builds the message of window seq ending at winEnd.
func (r *runner) intervalMsg(seq, start, winEnd int64, w, totals *producer.Stats) *kperfv1.Interval {
	var scheduled int64
	for _, wk := range r.workers {
		upTo := winEnd
		if r.end > 0 {
			upTo = min(upTo, r.end) // nothing is scheduled past the planned end
		}
		scheduled += wk.Schedule().Due(time.Duration(upTo - start))
	}
	sent := r.sent()
	windowSent := sent - r.prevSent
	r.prevSent = sent
	clamped := w.Ack.Clamped() + w.Service.Clamped() + w.Delay.Clamped() + w.Err.Clamped()
	behind := scheduled > 0 && float64(sent) < 0.99*float64(scheduled)
	if !behind && w.Delay.Count() > 0 {
		limit := max(10*r.minTick, 10*time.Millisecond)
		behind = w.Delay.Percentiles(99)[0] > int64(limit)
	}
	return &kperfv1.Interval{
		Seq:           seq,
		StartUnixNano: r.clock.Wall(start + seq*r.interval),
		EndUnixNano:   r.clock.Wall(winEnd),
		Counters: &kperfv1.Counters{
			Sent: windowSent, Acked: w.Acked, Failed: w.Failed, BytesAcked: w.BytesAcked, Clamped: clamped, Errors: w.Errors,
		},
		AckLatency:      w.Ack.Proto(),
		ServiceTime:     w.Service.Proto(),
		SendDelay:       w.Delay.Proto(),
		ErrorLatency:    w.Err.Proto(),
		ScheduledTotal:  scheduled,
		SentTotal:       sent,
		GeneratorBehind: behind,
		InFlight:        sent - totals.Acked - totals.Failed,
		Consume:         r.cons.drain(start+seq*r.interval, winEnd),
	}
}
