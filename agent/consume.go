package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kperf/kperf/agent/consumer"
	"github.com/kperf/kperf/agent/producer"
	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

// consumers are an agent's consumer workers in one test. A nil *consumers
// is an agent without consumers: every method does nothing.
type consumers struct {
	a       *kperfv1.ConsumerAssignment
	clock   producer.Clock
	log     hclog.Logger
	shared  *consumer.Shared
	workers []*consumer.Worker
	clients []consumer.Client
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	done    chan struct{}

	consuming atomic.Bool
	window    consumer.Window
	// rebalanceAllowance is how long a rebalance may hold the consumers
	// before it counts as idle time: session.timeout.ms.
	rebalanceAllowance int64
	reason             atomic.Value // string: why the consumers stopped
}

// consumerCheckEvery is how often the agent checks whether its consumers
// are done (idle, limit, stopped).
const consumerCheckEvery = 50 * time.Millisecond

// prepareConsumers makes the consumer clients of a and starts them joining
// the group; they consume once start opens their gate. It returns nil when
// a has no consumers.
func prepareConsumers(ctx context.Context, a *kperfv1.Assignment, clock producer.Clock, log hclog.Logger) (*consumers, error) {
	ca := a.GetConsumer()
	if ca.GetWorkers() <= 0 {
		return nil, nil
	}
	settings, err := consumer.Parse(ca.GetConsumerProps())
	if err != nil {
		return nil, err
	}
	mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &consumers{a: ca, clock: clock, log: log.Named("consumer"), shared: consumer.NewShared(ca.GetNumRecords()),
		cancel: cancel, done: make(chan struct{}), rebalanceAllowance: int64(settings.SessionTimeout)}
	for i := range int(ca.GetWorkers()) {
		if err := ctx.Err(); err != nil {
			c.abandon()
			return nil, err
		}
		w := consumer.NewWorker(clock, c.shared)
		o := consumer.Options{Brokers: a.GetBootstrapServers(), Topic: a.GetTopic(), Group: ca.GetGroupId(), Settings: settings,
			Worker: w, JoinAtStart: ca.GetJoinAtStart()}
		var cl consumer.Client
		switch a.GetDriver() {
		case "", "sarama":
			cl, err = consumer.NewSarama(o)
		case "franz":
			cl, err = consumer.NewFranz(o)
		default:
			err = fmt.Errorf("driver %q not supported", a.GetDriver())
		}
		if err != nil {
			c.abandon()
			return nil, fmt.Errorf("consumer %d: %w", i, err)
		}
		c.workers = append(c.workers, w)
		c.clients = append(c.clients, cl)
	}
	for i, cl := range c.clients {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if err := cl.Run(mctx); err != nil {
				c.log.Warn("consumer stopped", "worker", i, "error", err)
			}
			if err := cl.Close(); err != nil {
				c.log.Warn("close consumer", "worker", i, "error", err)
			}
		}()
	}
	go func() { c.wg.Wait(); close(c.done) }()
	return c, nil
}

// close stops the consumers and waits (at most closeBudget) until they
// have committed and left the group.
func (c *consumers) close() {
	if c == nil {
		return
	}
	c.cancel()
	select {
	case <-c.done:
	case <-time.After(closeBudget):
		c.log.Warn("consumers still closing", "after", closeBudget)
	}
}

// closeBudget bounds the wait for consumers to commit and leave the group.
const closeBudget = 30 * time.Second

// abandon closes clients that never ran, after a failed prepare.
func (c *consumers) abandon() {
	c.cancel()
	for _, cl := range c.clients {
		cl.Close()
	}
}

// start opens the consumers' gate at start (a Clock time) plus the start
// delay, or at resume when the test waits for a backlog, and stops them
// when the limit is reached, when stopped closes, or when producersDone is
// closed and no record arrived for the idle timeout.
func (c *consumers) start(ctx context.Context, start, clockOffset int64, producersDone, stopped, resume <-chan struct{}) {
	if c == nil {
		return
	}
	for _, w := range c.workers {
		w.SetClockOffset(clockOffset)
		w.Begin(start)
	}
	openAt := start + c.a.GetStartDelayNs()
	idle := c.a.GetIdleTimeoutNs()
	go func() {
		stop := func(reason string) {
			c.reason.Store(reason)
			for _, w := range c.workers {
				w.Closing()
			}
			c.cancel()
		}
		tick := time.NewTicker(consumerCheckEvery)
		defer tick.Stop()
		gate := c.shared.Gate()
		var openTimer <-chan time.Time
		if c.a.GetWaitForResume() {
			go func() {
				select {
				case <-resume:
					c.open()
				case <-c.done:
				}
			}()
		} else {
			openTimer = time.After(time.Duration(openAt - c.clock.Now()))
		}
		for {
			select {
			case <-openTimer:
				c.open()
				openTimer = nil
			case <-c.shared.Full():
				stop("consumed the record limit")
				return
			case <-stopped:
				stop("stopped by controller")
				return
			case <-ctx.Done():
				stop(context.Cause(ctx).Error())
				return
			case <-c.done:
				stop("every consumer ended")
				return
			case <-tick.C:
				if !isClosed(producersDone) || !c.consuming.Load() {
					continue
				}
				select {
				case <-gate:
				default:
					continue
				}
				now := c.clock.Now()
				least := int64(-1) // the least idle worker's idle time
				for _, w := range c.workers {
					if d := w.Idle(now, c.rebalanceAllowance); least < 0 || d < least {
						least = d
					}
				}
				if least >= idle {
					stop(fmt.Sprintf("no record for %v", time.Duration(idle)))
					return
				}
			}
		}
	}()
}

// open lets the workers consume.
func (c *consumers) open() {
	now := c.clock.Now()
	for _, w := range c.workers {
		w.Opened(now)
	}
	c.consuming.Store(true)
	c.shared.Open()
}

// wait returns when every consumer has closed.
func (c *consumers) wait() {
	if c == nil {
		return
	}
	<-c.done
}

// drain returns the window [winStart, winEnd) (Clock times).
func (c *consumers) drain(winStart, winEnd int64) *kperfv1.ConsumeWindow {
	if c == nil {
		return nil
	}
	c.window.Reset()
	for _, w := range c.workers {
		w.Drain(&c.window, winStart, winEnd)
	}
	return c.window.Proto(c.consuming.Load())
}

// totals returns the whole run; call it after wait.
func (c *consumers) totals() *kperfv1.ConsumeTotals {
	if c == nil {
		return nil
	}
	t := &kperfv1.ConsumeTotals{}
	for _, w := range c.workers {
		w.Totals(t)
	}
	if r, ok := c.reason.Load().(string); ok {
		t.Reason = r
	}
	return t
}

// checkConsumer applies an agent's limits to the consumer part of an
// assignment.
func checkConsumer(a *kperfv1.Assignment, limits Limits) error {
	ca := a.GetConsumer()
	if ca == nil {
		return nil
	}
	switch {
	case ca.GetWorkers() < 0:
		return fmt.Errorf("consumer workers %d is negative", ca.GetWorkers())
	case ca.GetWorkers() > 0 && ca.GetGroupId() == "":
		return errors.New("consumer assignment has no group id")
	case int(ca.GetWorkers())+len(a.GetWorkers()) > limits.MaxWorkers:
		return fmt.Errorf("assignment asks for %d producer and %d consumer workers, agent limit is %d", len(a.GetWorkers()), ca.GetWorkers(), limits.MaxWorkers)
	case ca.GetWorkers() > 0 && !ca.GetWaitForResume() && ca.GetIdleTimeoutNs() <= 0 && ca.GetNumRecords() <= 0:
		return errors.New("consumers have neither an idle timeout nor a record count")
	}
	if _, err := consumer.Parse(ca.GetConsumerProps()); err != nil {
		return err
	}
	return nil
}

// clockProbe is a controller's clock probe with the agent's arrival time.
type clockProbe struct {
	sent, received int64 // Unix ns: controller's send, agent's receipt
}

// echo answers the probe, stamped with the agent's clock now.
func (p clockProbe) echo() *kperfv1.RunResponse {
	return &kperfv1.RunResponse{Msg: &kperfv1.RunResponse_ClockEcho{ClockEcho: &kperfv1.ClockEcho{
		ProbeSentUnixNano: p.sent, ReceivedUnixNano: p.received, SentUnixNano: time.Now().UnixNano()}}}
}
