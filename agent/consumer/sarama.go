package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/kperf/kperf/agent/producer"
	"github.com/kperf/kperf/internal/stamp"
)

// SaramaConfig maps consumer settings onto a sarama config.
func SaramaConfig(s Settings) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = s.ClientID
	cfg.Version = sarama.V3_6_0_0
	cfg.Metadata.Full = false
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Fetch.Min = s.FetchMinBytes
	cfg.Consumer.Fetch.Default = s.PartitionFetchBytes
	cfg.Consumer.Fetch.Max = s.FetchMaxBytes
	cfg.Consumer.MaxWaitTime = s.MaxWait
	cfg.Consumer.Offsets.Initial = sarama.OffsetNewest
	if s.Earliest {
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	}
	cfg.Consumer.Offsets.AutoCommit.Enable = true
	cfg.Consumer.Offsets.AutoCommit.Interval = s.AutoCommitInterval
	cfg.Consumer.Group.Session.Timeout = s.SessionTimeout
	cfg.Consumer.Group.Heartbeat.Interval = s.Heartbeat
	if s.ReadCommitted {
		cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	}
	return cfg
}

type saramaClient struct {
	cg          sarama.ConsumerGroup
	topic       string
	w           *Worker
	max         int
	errs        chan struct{}
	joinAtStart bool

	// Partitions claimed before the gate opens are paused, so that sarama
	// does not fetch ahead of the measurement; opening resumes them.
	mu     sync.Mutex
	opened bool
}

// NewSarama connects a sarama consumer group member.
func NewSarama(o Options) (Client, error) {
	cfg := SaramaConfig(o.Settings)
	if err := producer.SaramaSecurity(cfg, o.Settings.Security); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sarama config: %w", err)
	}
	cg, err := sarama.NewConsumerGroup(o.Brokers, o.Group, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to kafka %v: %w", o.Brokers, err)
	}
	c := &saramaClient{cg: cg, topic: o.Topic, w: o.Worker, max: o.Settings.MaxPollRecords, errs: make(chan struct{}), joinAtStart: o.JoinAtStart}
	go func() {
		// Errors are counted nowhere else; drain them so sarama never blocks.
		defer close(c.errs)
		for range cg.Errors() {
		}
	}()
	return c, nil
}

func (c *saramaClient) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.w.Shared().Gate():
			c.mu.Lock()
			c.opened = true
			c.cg.ResumeAll()
			c.mu.Unlock()
		case <-ctx.Done():
		}
	}()
	if c.joinAtStart {
		select {
		case <-c.w.Shared().Gate():
		case <-ctx.Done():
			return nil
		}
	}
	go func() {
		select {
		case <-c.w.Shared().Full():
			cancel()
		case <-ctx.Done():
		}
	}()
	for ctx.Err() == nil {
		err := c.cg.Consume(ctx, []string{c.topic}, &saramaHandler{c: c, ctx: ctx})
		if err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				return nil
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func (c *saramaClient) Close() error {
	err := c.cg.Close()
	<-c.errs
	return err
}

// saramaHandler is one Consume call's group session handler.
type saramaHandler struct {
	c   *saramaClient
	ctx context.Context
}

func claimed(sess sarama.ConsumerGroupSession, topic string) []int32 {
	return sess.Claims()[topic]
}

func (h *saramaHandler) Setup(sess sarama.ConsumerGroupSession) error {
	h.c.w.Assigned(claimed(sess, h.c.topic), h.c.w.clock.Now())
	return nil
}

func (h *saramaHandler) Cleanup(sess sarama.ConsumerGroupSession) error {
	h.c.w.Revoked(claimed(sess, h.c.topic), h.c.w.clock.Now())
	sess.Commit()
	return nil
}

func (h *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	w := h.c.w
	h.c.mu.Lock()
	if !h.c.opened {
		h.c.cg.Pause(map[string][]int32{h.c.topic: {claim.Partition()}})
	}
	h.c.mu.Unlock()
	select {
	case <-w.Shared().Gate():
	case <-sess.Context().Done():
		return nil
	}
	var b Batch
	msgs := claim.Messages()
	for {
		var m *sarama.ConsumerMessage
		select {
		case m = <-msgs:
		case <-sess.Context().Done():
			return nil
		}
		if m == nil {
			return nil // the claim ended
		}
		now := w.clock.Now()
		b.Reset(claim.Partition())
		last := m
		add := func(m *sarama.ConsumerMessage) {
			b.Add(m.Offset, saramaStamp(m), int32(len(m.Key)+len(m.Value)))
		}
		add(m)
	more:
		for len(b.Offsets) < h.c.max {
			select {
			case m, ok := <-msgs:
				if !ok {
					break more
				}
				add(m)
				last = m
			default:
				break more
			}
		}
		b.HighWatermark = claim.HighWaterMarkOffset()
		n := w.Consumed(&b, now)
		if n == len(b.Offsets) {
			sess.MarkMessage(last, "")
			continue
		}
		// The limit is reached: mark what was counted only.
		if n > 0 {
			sess.MarkOffset(h.c.topic, claim.Partition(), b.Offsets[n-1]+1, "")
		}
		return nil
	}
}

func saramaStamp(m *sarama.ConsumerMessage) int64 {
	for _, h := range m.Headers {
		if h != nil && string(h.Key) == stamp.Key {
			if t, ok := stamp.Get(h.Value); ok {
				return t
			}
		}
	}
	return 0
}
