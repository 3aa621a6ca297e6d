package producer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kperf/kperf/internal/props"
	"github.com/kperf/kperf/internal/stamp"
)

// FranzOptions configure a franz-go client.
type FranzOptions struct {
	Brokers  []string
	Topic    string
	Settings props.Producer
	// Payloads are the record values; Record.Payload indexes them.
	Payloads [][]byte
	// Clock stamps completions and record timestamps.
	Clock Clock
	// Completer receives completions.
	Completer Completer
	// Opts, when set, are appended to the client options last.
	Opts []kgo.Opt
	// Stamp puts each record's Record.Stamp in a "kperf-ts" header.
	Stamp bool
}

// franzConnectTimeout bounds NewFranz's check that the brokers answer and
// the topic exists.
const franzConnectTimeout = 10 * time.Second

// drainBudget bounds Close's wait for completions once franz has failed or
// flushed everything.
const drainBudget = 5 * time.Second

// franzRecordOverhead is more than a record batch header (61 bytes) plus
// the largest per-record framing (28 bytes): a batch of this much more than
// a value always fits that value.
const franzRecordOverhead = 128

type franzClient struct {
	cl       *kgo.Client
	topic    string
	values   [][]byte
	clock    Clock
	complete Completer
	promise  func(*kgo.Record, error) // c.onPromise, made once

	// maxBuffered is buffer.memory; buffered mirrors the value bytes franz
	// holds (added by Send, removed by the promise), so that Send waits
	// here, where ctx can stop it, instead of inside Produce. waiting is
	// set while Send waits for space, which the promise signals.
	maxBuffered int64
	buffered    atomic.Int64
	waiting     atomic.Bool
	space       chan struct{}

	// Completions: the promise appends to pending and wakes the drainer
	// when pending was empty; the drainer swaps pending out and completes
	// it in bursts.
	mu      sync.Mutex
	pending []*Record
	wake    chan struct{}

	inflight    atomic.Int64 // sent, not yet delivered to the Completer
	closing     atomic.Bool
	drained     chan struct{} // closed by the drainer when closing and inflight is 0
	flushBudget time.Duration
	stamp       bool
}

// franzRecord embeds the kgo.Record franz carries, so one allocation
// serves both for the record's whole life. It is also the record's
// context (never cancelled), which is how the promise finds it.
type franzRecord struct {
	kr  kgo.Record
	rec Record
	// The stamp header and its value live with the record, so stamping
	// does not allocate.
	hdr [1]kgo.RecordHeader
	ts  [stamp.Size]byte
}

func (*franzRecord) Deadline() (time.Time, bool) { return time.Time{}, false }
func (*franzRecord) Done() <-chan struct{}       { return nil }
func (*franzRecord) Err() error                  { return nil }
func (*franzRecord) Value(any) any               { return nil }

// franzBatchBytes returns the kgo.ProducerBatchMaxBytes for settings s
// when the largest record value is largest bytes: batch.size, raised to
// franz's minimum of 512 and to fit the largest record (a Java batch holds
// one record larger than batch.size; franz would fail it), and at most the
// produce request limit (max.request.size, at least franz's 1 KiB).
func franzBatchBytes(s props.Producer, largest int) int32 {
	b := max(s.BatchBytes, 512, largest+franzRecordOverhead)
	return int32(min(b, franzMaxWrite(s)))
}

func franzMaxWrite(s props.Producer) int { return max(s.MaxRequestBytes, 1<<10) }

// FranzOpts maps producer settings onto kgo options. largest is the size
// of the largest record value.
func FranzOpts(s props.Producer, topic string, largest int) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.ClientID(s.ClientID),
		kgo.DefaultProduceTopic(topic),
		// Auto topic creation is off unless kgo.AllowAutoTopicCreation.
		kgo.ProducerLinger(s.Linger),
		kgo.BrokerMaxWriteBytes(int32(franzMaxWrite(s))),
		kgo.ProducerBatchMaxBytes(franzBatchBytes(s, largest)),
		// Java's default partitioner (KIP-794): sticky for batch.size
		// bytes, then a partition picked by inverse backlog; keyed
		// records (kperf sends none) by murmur2.
		kgo.RecordPartitioner(kgo.UniformBytesPartitioner(s.BatchBytes, true, true, nil)),
		kgo.RecordRetries(s.Retries),
		kgo.ProduceRequestTimeout(max(s.RequestTimeout, 100*time.Millisecond)),
		// The client-side deadline of a request is its timeout (produce)
		// plus this overhead; franz's default is 10 s.
		kgo.RequestTimeoutOverhead(min(max(s.RequestTimeout, 100*time.Millisecond), 10*time.Second)),
		kgo.MaxBufferedBytes(int(s.BufferBytes)),
		// Records are bounded by buffer.memory and the worker's free list.
		kgo.MaxBufferedRecords(1 << 30),
	}
	switch s.Acks {
	case props.AcksNone:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	case props.AcksLeader:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	// franz writes idempotently unless told not to, and then needs acks=all
	// and sets the requests in flight itself (1 per broker until the first
	// response, 5 after), rejecting MaxProduceRequestsInflightPerBroker.
	if !s.Idempotent || s.Acks != props.AcksAll {
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(s.MaxInFlight))
	}
	switch s.Compression {
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression())) // franz defaults to snappy
	}
	return opts
}

// NewFranz connects a franz-go client, checks that the topic exists, and
// starts delivering its completions to o.Completer.
func NewFranz(o FranzOptions) (Client, error) {
	largest := 0
	for _, p := range o.Payloads {
		largest = max(largest, len(p))
	}
	sec, err := FranzSecurityOpts(o.Settings.Security)
	if err != nil {
		return nil, err
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(o.Brokers...)}, FranzOpts(o.Settings, o.Topic, largest)...)
	opts = append(opts, sec...)
	opts = append(opts, o.Opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("franz config: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), franzConnectTimeout)
	md, err := kadm.NewClient(cl).Metadata(ctx, o.Topic)
	cancel()
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("connect to kafka %v: %w", o.Brokers, err)
	}
	if td, ok := md.Topics[o.Topic]; !ok {
		err = errors.New("not in the metadata")
	} else if td.Err != nil {
		err = td.Err
	} else if len(td.Partitions) == 0 {
		err = errors.New("no partitions")
	}
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("topic %s: %w", o.Topic, err)
	}
	c := &franzClient{
		cl:          cl,
		topic:       o.Topic,
		values:      o.Payloads,
		clock:       o.Clock,
		complete:    o.Completer,
		maxBuffered: o.Settings.BufferBytes,
		space:       make(chan struct{}, 1),
		wake:        make(chan struct{}, 1),
		drained:     make(chan struct{}),
		flushBudget: o.Settings.RequestTimeout + 10*time.Second, // as sarama's closeBudget
		stamp:       o.Stamp,
	}
	c.promise = c.onPromise
	go c.drain()
	return c, nil
}

func (c *franzClient) NewRecord() *Record {
	fr := &franzRecord{}
	fr.rec.slot = fr
	fr.hdr[0] = kgo.RecordHeader{Key: stamp.Key, Value: fr.ts[:]}
	return &fr.rec
}

// Send hands r to franz. franz's Produce blocks without a way out when its
// buffer is full, and a context given to it would also cancel the record
// once buffered (failing records at the end of every run), so Send waits
// for buffer space itself and produces with contexts that are never done.
func (c *franzClient) Send(ctx context.Context, r *Record) bool {
	fr := r.slot.(*franzRecord)
	v := c.values[r.Payload]
	if !c.reserve(ctx, int64(len(v))) {
		return false
	}
	c.inflight.Add(1)
	fr.kr = kgo.Record{
		Topic: c.topic,
		Value: v,
		// The hand-off time, so franz does not read the clock per record.
		Timestamp: time.Unix(0, c.clock.Wall(r.Handoff)),
		Context:   fr,
	}
	if c.stamp {
		stamp.Put(fr.ts[:], r.Stamp)
		fr.kr.Headers = fr.hdr[:]
	}
	c.cl.Produce(context.Background(), &fr.kr, c.promise)
	return true
}

// reserve waits until n more value bytes fit in buffer.memory, or until
// ctx is done (false). A value larger than buffer.memory goes through:
// franz fails it at once with MESSAGE_TOO_LARGE. Only Send calls reserve.
func (c *franzClient) reserve(ctx context.Context, n int64) bool {
	for {
		if b := c.buffered.Load(); b+n <= c.maxBuffered || n > c.maxBuffered {
			c.buffered.Add(n)
			c.waiting.Store(false)
			return true
		}
		if !c.waiting.Load() {
			c.waiting.Store(true)
			continue // recheck: a promise may have freed space before it saw waiting
		}
		select {
		case <-ctx.Done():
			c.waiting.Store(false)
			return false
		case <-c.space:
		}
	}
}

// onPromise is franz's promise for every record. franz calls promises one
// at a time, possibly from different goroutines over time.
func (c *franzClient) onPromise(kr *kgo.Record, err error) {
	fr := kr.Context.(*franzRecord)
	fr.rec.Err = err
	c.buffered.Add(-int64(len(kr.Value)))
	if c.waiting.Load() {
		select {
		case c.space <- struct{}{}:
		default:
		}
	}
	c.mu.Lock()
	c.pending = append(c.pending, &fr.rec)
	first := len(c.pending) == 1
	c.mu.Unlock()
	if first {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// drain delivers completions to the Completer: each burst with one clock
// read, at most completionBatch records per Complete call.
func (c *franzClient) drain() {
	defer close(c.drained)
	var spare []*Record
	for {
		<-c.wake
		for {
			c.mu.Lock()
			batch := c.pending
			c.pending = spare[:0]
			c.mu.Unlock()
			if len(batch) == 0 {
				spare = batch
				break
			}
			now := c.clock.Now()
			for i := 0; i < len(batch); i += completionBatch {
				c.complete.Complete(batch[i:min(i+completionBatch, len(batch))], now)
			}
			c.inflight.Add(-int64(len(batch)))
			spare = batch
		}
		if c.closing.Load() && c.inflight.Load() == 0 {
			return
		}
	}
}

// Close flushes for at most request.timeout.ms + 10 s, then fails what is
// still buffered, waits (at most drainBudget more) until every record sent
// has been completed, and closes the client. When ctx is done the flush
// ends at once.
func (c *franzClient) Close(ctx context.Context) error {
	// A done ctx ends the flush at once; closing the client then fails the
	// records still buffered, so none is delivered late.
	fctx, cancel := context.WithTimeout(ctx, c.flushBudget)
	ferr := c.cl.Flush(fctx)
	cancel()
	closed := false
	if ferr != nil {
		c.cl.Close() // fails the records still buffered
		closed = true
		if cause := context.Cause(ctx); cause != nil {
			ferr = fmt.Errorf("flush: let go of the records in flight: %w", cause)
		} else {
			ferr = fmt.Errorf("flush: %w", ferr)
		}
	}
	c.closing.Store(true)
	select {
	case c.wake <- struct{}{}:
	default:
	}
	var err error
	select {
	case <-c.drained:
	case <-time.After(drainBudget):
		err = fmt.Errorf("%d records never completed", c.inflight.Load())
	}
	if !closed {
		c.cl.Close()
	}
	return errors.Join(ferr, err)
}
