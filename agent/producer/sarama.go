package producer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/kperf/kperf/internal/props"
	"github.com/kperf/kperf/internal/stamp"
)

// SaramaOptions configure a sarama client.
type SaramaOptions struct {
	Brokers  []string
	Topic    string
	Settings props.Producer
	// Payloads are the record values; Record.Payload indexes them.
	Payloads [][]byte
	// Seed picks the sticky partitioner's first partition.
	Seed int64
	// Clock stamps completions.
	Clock Clock
	// Completer receives completions.
	Completer Completer
	// Tune, when set, adjusts the sarama config last.
	Tune func(*sarama.Config)
	// Stamp puts each record's Record.Stamp in a "kperf-ts" header.
	Stamp bool
}

type saramaClient struct {
	p        sarama.AsyncProducer
	client   sarama.Client
	topic    string
	values   []sarama.Encoder // payloads boxed once, so Send does not allocate
	clock    Clock
	complete Completer
	done     chan struct{}
	// closeBudget bounds Close's wait for the last acks.
	closeBudget time.Duration
	// inflight counts records sent and not yet completed.
	inflight atomic.Int64
	stamp    bool
}

// stampKey is the stamp header's name, shared by every record.
var stampKey = []byte(stamp.Key)

// saramaRecord embeds the message sarama carries, so one allocation serves
// both for the record's whole life.
type saramaRecord struct {
	rec Record
	msg sarama.ProducerMessage
	// The stamp header and its value live with the record, so stamping
	// does not allocate.
	hdr [1]sarama.RecordHeader
	ts  [stamp.Size]byte
}

// SaramaConfig maps producer settings onto a sarama config.
func SaramaConfig(s props.Producer, seed int64) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = s.ClientID
	cfg.Version = sarama.V3_6_0_0
	cfg.Metadata.Full = false
	cfg.Metadata.AllowAutoTopicCreation = false
	cfg.ChannelBufferSize = 4096
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	switch s.Acks {
	case props.AcksNone:
		cfg.Producer.RequiredAcks = sarama.NoResponse
	case props.AcksLeader:
		cfg.Producer.RequiredAcks = sarama.WaitForLocal
	default:
		cfg.Producer.RequiredAcks = sarama.WaitForAll
	}
	// linger.ms=0 sends at once: sarama only does that when every flush
	// trigger is 0; with a byte trigger alone it would hold records until
	// the bytes fill up.
	if s.Linger > 0 {
		cfg.Producer.Flush.Bytes = s.BatchBytes // per broker; NewSarama widens it to the topic's partitions
		cfg.Producer.Flush.Frequency = s.Linger
	}
	cfg.Producer.MaxMessageBytes = s.MaxRequestBytes
	cfg.Producer.Timeout = s.RequestTimeout
	cfg.Producer.Retry.Max = s.Retries
	cfg.Net.MaxOpenRequests = s.MaxInFlight
	if s.Idempotent {
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1 // sarama's requirement for idempotence
	}
	switch s.Compression {
	case "gzip":
		cfg.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		cfg.Producer.Compression = sarama.CompressionSnappy
	case "lz4":
		cfg.Producer.Compression = sarama.CompressionLZ4
	case "zstd":
		cfg.Producer.Compression = sarama.CompressionZSTD
	default:
		cfg.Producer.Compression = sarama.CompressionNone
	}
	batch := s.BatchBytes
	cfg.Producer.Partitioner = func(string) sarama.Partitioner {
		return &stickyPartitioner{batchBytes: batch, r: rand.New(rand.NewPCG(uint64(seed), 11))}
	}
	return cfg
}

// NewSarama connects a sarama async producer and starts draining its
// completions into o.Completer.
func NewSarama(o SaramaOptions) (Client, error) {
	cfg := SaramaConfig(o.Settings, o.Seed)
	if err := saramaSecurity(cfg, o.Settings.Security); err != nil {
		return nil, err
	}
	if o.Tune != nil {
		o.Tune(cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sarama config: %w", err)
	}
	client, err := sarama.NewClient(o.Brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to kafka %v: %w", o.Brokers, err)
	}
	parts, err := client.Partitions(o.Topic)
	if err != nil {
		client.Close()
		if errors.Is(err, sarama.ErrOutOfBrokers) { // no broker answered: not the topic's fault
			return nil, fmt.Errorf("connect to kafka %v: %w", o.Brokers, err)
		}
		return nil, fmt.Errorf("topic %s: %w", o.Topic, err)
	}
	// sarama's flush trigger counts a whole broker's pending records, where
	// Java's batch.size is per partition: let a request carry up to a batch
	// per partition, within max.request.size.
	if cfg.Producer.Flush.Bytes > 0 {
		cfg.Producer.Flush.Bytes = min(o.Settings.MaxRequestBytes, o.Settings.BatchBytes*max(1, len(parts)))
	}
	p, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("sarama producer: %w", err)
	}
	c := &saramaClient{p: p, client: client, topic: o.Topic, clock: o.Clock, complete: o.Completer, done: make(chan struct{}),
		closeBudget: o.Settings.RequestTimeout + 10*time.Second, stamp: o.Stamp}
	c.values = make([]sarama.Encoder, len(o.Payloads))
	for i, v := range o.Payloads {
		c.values[i] = sarama.ByteEncoder(v)
	}
	successes, errs := make(chan struct{}), make(chan struct{})
	go c.drainSuccesses(successes)
	go c.drainErrors(errs)
	go func() { <-successes; <-errs; close(c.done) }()
	return c, nil
}

func (c *saramaClient) NewRecord() *Record {
	sr := &saramaRecord{}
	sr.rec.slot = sr
	sr.hdr[0] = sarama.RecordHeader{Key: stampKey, Value: sr.ts[:]}
	return &sr.rec
}

func (c *saramaClient) Send(ctx context.Context, r *Record) bool {
	sr := r.slot.(*saramaRecord)
	sr.msg = sarama.ProducerMessage{Topic: c.topic, Value: c.values[r.Payload], Metadata: sr}
	if c.stamp {
		stamp.Put(sr.ts[:], r.Stamp)
		sr.msg.Headers = sr.hdr[:]
	}
	c.inflight.Add(1)
	select {
	case c.p.Input() <- &sr.msg:
		return true
	case <-ctx.Done():
		c.inflight.Add(-1)
		return false
	}
}

// Close waits until every record sent has completed, then shuts sarama
// down. Shutting down with records in flight makes sarama fail some of them
// with ErrShuttingDown when it routes them again (seen with v1.61.1), which
// would count records as failed that Kafka may have stored. When ctx is
// done it stops waiting and closes the connections under the records still
// in flight.
func (c *saramaClient) Close(ctx context.Context) error {
	deadline := time.Now().Add(c.closeBudget)
	for c.inflight.Load() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
	if err := ctx.Err(); err != nil && c.inflight.Load() > 0 {
		// Nobody waits for these records any more (the run's controller is
		// gone): close the connections so none is delivered late.
		n := c.inflight.Load()
		c.p.AsyncClose()
		c.client.Close()
		return fmt.Errorf("let go of %d records in flight: %w", n, context.Cause(ctx))
	}
	c.p.AsyncClose()
	select {
	case <-c.done:
	case <-time.After(max(time.Until(deadline), time.Second)):
		// A dead broker can hold sarama's pipeline for much longer; give up
		// on the records still in it rather than hang the run. They stay
		// counted as sent and never acked.
		c.client.Close()
		return fmt.Errorf("kafka client still had records in flight %v after the run", c.closeBudget)
	}
	return c.client.Close()
}

// completionBatch bounds how many completions are recorded under one lock.
const completionBatch = 256

func (c *saramaClient) drainSuccesses(done chan<- struct{}) {
	defer close(done)
	batch := make([]*Record, 0, completionBatch)
	for m := range c.p.Successes() {
		now := c.clock.Now()
		batch = append(batch[:0], &m.Metadata.(*saramaRecord).rec)
	more:
		for len(batch) < completionBatch {
			select {
			case m, ok := <-c.p.Successes():
				if !ok {
					break more
				}
				batch = append(batch, &m.Metadata.(*saramaRecord).rec)
			default:
				break more
			}
		}
		c.complete.Complete(batch, now)
		c.inflight.Add(-int64(len(batch)))
	}
}

func (c *saramaClient) drainErrors(done chan<- struct{}) {
	defer close(done)
	batch := make([]*Record, 1)
	for pe := range c.p.Errors() {
		now := c.clock.Now()
		r := &pe.Msg.Metadata.(*saramaRecord).rec
		r.Err = pe.Err
		batch[0] = r
		c.complete.Complete(batch, now)
		c.inflight.Add(-1)
	}
}

// stickyPartitioner sends records to one partition until about a batch of
// bytes went there, then moves to the next, like the Java client's default
// for records without keys: full batches, spread over all partitions.
// sarama calls it from one goroutine per topic.
type stickyPartitioner struct {
	batchBytes int
	filled     int
	cur        int32
	started    bool
	r          *rand.Rand
}

func (p *stickyPartitioner) Partition(m *sarama.ProducerMessage, n int32) (int32, error) {
	if !p.started {
		p.cur, p.started = p.r.Int32N(n), true
	}
	if p.filled >= p.batchBytes {
		p.cur, p.filled = p.cur+1, 0
	}
	if p.cur >= n {
		p.cur = 0
	}
	p.filled += m.Value.Length()
	return p.cur, nil
}

func (p *stickyPartitioner) RequiresConsistency() bool { return false }
