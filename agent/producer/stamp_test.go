package producer

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kperf/kperf/internal/pace"
	"github.com/kperf/kperf/internal/stamp"
)

// stampClient keeps the stamps of the records handed to it.
type stampClient struct {
	w      *Worker
	clock  Clock
	stamps []int64
	intent []int64
}

func (c *stampClient) NewRecord() *Record          { return &Record{} }
func (c *stampClient) Close(context.Context) error { return nil }
func (c *stampClient) Send(_ context.Context, r *Record) bool {
	c.stamps = append(c.stamps, r.Stamp)
	c.intent = append(c.intent, r.Intended)
	c.w.Complete([]*Record{r}, c.clock.Now())
	return true
}

func TestWorkerStampsIntendedTimeOnControllerClock(t *testing.T) {
	t.Parallel()
	clock := NewClock()
	// 1000 records/s: ticks every millisecond.
	w := NewWorker(pace.New(1000, 20, 0, 0, 1), clock, []int32{10}, 64)
	c := &stampClient{w: w, clock: clock}
	w.SetClient(c)
	const offset = int64(3 * time.Second) // the agent's clock is 3 s ahead
	w.SetClockOffset(offset)
	w.Run(context.Background(), clock.Now(), 0)
	if len(c.stamps) != 20 {
		t.Fatalf("sent %d records, want 20", len(c.stamps))
	}
	for i, s := range c.stamps {
		if want := clock.Wall(c.intent[i]) - offset; s != want {
			t.Errorf("record %d: stamp %d, want wall(intended) - offset = %d", i, s, want)
		}
	}
}

// chanProducer is a sarama.AsyncProducer whose Input is a buffered channel.
type chanProducer struct {
	sarama.AsyncProducer
	in chan *sarama.ProducerMessage
}

func (p *chanProducer) Input() chan<- *sarama.ProducerMessage { return p.in }

func TestSaramaStampHeader(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{true, false} {
		p := &chanProducer{in: make(chan *sarama.ProducerMessage, 1)}
		c := &saramaClient{p: p, topic: "t", values: []sarama.Encoder{sarama.ByteEncoder("v")}, stamp: on}
		r := c.NewRecord()
		r.Stamp = 1_764_000_000_123_456_789
		if !c.Send(context.Background(), r) {
			t.Fatal("Send = false")
		}
		m := <-p.in
		if !on {
			if len(m.Headers) != 0 {
				t.Errorf("stamping off: headers %v, want none", m.Headers)
			}
			continue
		}
		if len(m.Headers) != 1 || string(m.Headers[0].Key) != stamp.Key {
			t.Fatalf("headers %v, want one %q", m.Headers, stamp.Key)
		}
		if got, ok := stamp.Get(m.Headers[0].Value); !ok || got != r.Stamp {
			t.Errorf("stamp header %d (%v), want %d", got, ok, r.Stamp)
		}
	}
}

func TestSaramaStampedSendDoesNotAllocate(t *testing.T) {
	p := &chanProducer{in: make(chan *sarama.ProducerMessage, 1)}
	c := &saramaClient{p: p, topic: "t", values: []sarama.Encoder{sarama.ByteEncoder("v")}, stamp: true}
	r := c.NewRecord()
	ctx := context.Background()
	allocs := testing.AllocsPerRun(10_000, func() {
		r.Stamp++
		c.Send(ctx, r)
		<-p.in
	})
	if allocs != 0 {
		t.Errorf("stamped Send allocates %v times per record, want 0", allocs)
	}
}
