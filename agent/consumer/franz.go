package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kperf/kperf/agent/producer"
	"github.com/kperf/kperf/internal/stamp"
)

// FranzOpts maps consumer settings onto kgo options for group, topic and
// the worker's rebalance callbacks.
func FranzOpts(s Settings, group, topic string) []kgo.Opt {
	reset := kgo.NewOffset().AtEnd()
	if s.Earliest {
		reset = kgo.NewOffset().AtStart()
	}
	opts := []kgo.Opt{
		kgo.ClientID(s.ClientID),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(reset),
		kgo.FetchMinBytes(s.FetchMinBytes),
		kgo.FetchMaxBytes(s.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(s.PartitionFetchBytes),
		kgo.FetchMaxWait(max(s.MaxWait, 10*time.Millisecond)),
		kgo.SessionTimeout(s.SessionTimeout),
		kgo.HeartbeatInterval(s.Heartbeat),
		kgo.AutoCommitInterval(s.AutoCommitInterval),
	}
	if s.ReadCommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	return opts
}

type franzClient struct {
	cl    *kgo.Client
	opts  []kgo.Opt // to make cl with, when joining at the start
	topic string
	w     *Worker
	max   int
}

// NewFranz connects a franz-go group consumer. It does not fetch until the
// worker's gate opens.
func NewFranz(o Options) (Client, error) {
	c := &franzClient{topic: o.Topic, w: o.Worker, max: o.Settings.MaxPollRecords}
	secOpts, err := producer.FranzSecurityOpts(o.Settings.Security)
	if err != nil {
		return nil, err
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(o.Brokers...)}, FranzOpts(o.Settings, o.Group, o.Topic)...)
	opts = append(opts, secOpts...)
	opts = append(opts,
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.w.Assigned(m[c.topic], c.w.clock.Now())
		}),
		// Replacing franz's default revoke means committing here, as it
		// would: what was polled is committed before another member gets
		// the partitions.
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			c.w.Revoked(m[c.topic], c.w.clock.Now())
			cl.CommitUncommittedOffsets(ctx)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.w.Revoked(m[c.topic], c.w.clock.Now())
		}),
	)
	if o.JoinAtStart {
		c.opts = opts // joined when the gate opens
		return c, nil
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("franz config: %w", err)
	}
	// Join now, fetch once the gate opens.
	cl.PauseFetchTopics(o.Topic)
	c.cl = cl
	return c, nil
}

func (c *franzClient) Run(ctx context.Context) error {
	select {
	case <-c.w.Shared().Gate():
	case <-ctx.Done():
		return nil
	}
	if c.cl == nil {
		cl, err := kgo.NewClient(c.opts...)
		if err != nil {
			return fmt.Errorf("franz config: %w", err)
		}
		c.cl = cl
	}
	c.cl.ResumeFetchTopics(c.topic)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.w.Shared().Full():
			cancel()
		case <-ctx.Done():
		}
	}()
	var b Batch
	for {
		fs := c.cl.PollRecords(ctx, c.max)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		now := c.w.clock.Now()
		var perr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) {
				perr = err
			}
		})
		full := false
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if full || len(p.Records) == 0 {
				return
			}
			b.Reset(p.Partition)
			b.HighWatermark = p.HighWatermark
			for _, r := range p.Records {
				b.Add(r.Offset, franzStamp(r), int32(len(r.Key)+len(r.Value)))
			}
			if n := c.w.Consumed(&b, now); n < len(b.Offsets) {
				full = true
			}
		})
		if full {
			return nil
		}
		if perr != nil {
			// Fetch errors are retried by franz; do not spin on them.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

func (c *franzClient) Close() error {
	if c.cl == nil {
		return nil // never joined
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.cl.CommitUncommittedOffsets(ctx)
	c.cl.Close()
	if err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	return nil
}

func franzStamp(r *kgo.Record) int64 {
	for _, h := range r.Headers {
		if h.Key == stamp.Key {
			if t, ok := stamp.Get(h.Value); ok {
				return t
			}
		}
	}
	return 0
}
