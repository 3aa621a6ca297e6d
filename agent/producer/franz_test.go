package producer

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kperf/kperf/internal/pace"
	"github.com/kperf/kperf/internal/props"
)

const franzTestTopic = "t"

func franzCluster(t testing.TB) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, franzTestTopic))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func franzSettings(t testing.TB, m map[string]string) props.Producer {
	t.Helper()
	s, err := props.Parse(m)
	if err != nil {
		t.Fatalf("props.Parse(%v): %v", m, err)
	}
	return s
}

func franzPayloads(sizes []int32) [][]byte {
	out := make([][]byte, len(sizes))
	for i, n := range sizes {
		out[i] = []byte(strings.Repeat(string(rune('A'+i%26)), int(n)))
	}
	return out
}

// franzEndOffsets sums the topic's end offsets.
func franzEndOffsets(t testing.TB, brokers []string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lo, err := kadm.NewClient(cl).ListEndOffsets(ctx, franzTestTopic)
	if err == nil {
		err = lo.Error()
	}
	if err != nil {
		t.Fatalf("end offsets: %v", err)
	}
	var sum int64
	lo.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	return sum
}

// franzChecker sits between the worker and the franz client: it follows
// every record through Send and Complete and reports a record completed
// while not in the client (twice, or after Send returned false).
type franzChecker struct {
	Client
	w *Worker

	mu       sync.Mutex
	inClient map[*Record]bool
	problems []string

	sent, refused, completed atomic.Int64
}

func (c *franzChecker) NewRecord() *Record {
	r := c.Client.NewRecord()
	c.mu.Lock()
	c.inClient[r] = false
	c.mu.Unlock()
	return r
}

func (c *franzChecker) Send(ctx context.Context, r *Record) bool {
	c.mu.Lock()
	if c.inClient[r] {
		c.problems = append(c.problems, "record sent while still in the client")
	}
	c.inClient[r] = true // before Send: the promise may run before it returns
	c.mu.Unlock()
	if c.Client.Send(ctx, r) {
		c.sent.Add(1)
		return true
	}
	c.refused.Add(1)
	c.mu.Lock()
	c.inClient[r] = false
	c.mu.Unlock()
	return false
}

func (c *franzChecker) Complete(recs []*Record, now int64) {
	c.mu.Lock()
	for _, r := range recs {
		if !c.inClient[r] {
			c.problems = append(c.problems, "record completed while not in the client")
		}
		c.inClient[r] = false
	}
	c.mu.Unlock()
	c.completed.Add(int64(len(recs)))
	c.w.Complete(recs, now)
}

// newFranzWorker makes a worker for sched and a checked franz client.
func newFranzWorker(t testing.TB, brokers []string, sched pace.Schedule, s props.Producer, sizes []int32, maxOutstanding int) (*Worker, *franzChecker) {
	t.Helper()
	clock := NewClock()
	w := NewWorker(sched, clock, sizes, maxOutstanding)
	chk := &franzChecker{w: w, inClient: map[*Record]bool{}}
	c, err := NewFranz(FranzOptions{
		Brokers: brokers, Topic: franzTestTopic, Settings: s, Payloads: franzPayloads(sizes),
		Clock: clock, Completer: chk,
	})
	if err != nil {
		t.Fatalf("NewFranz: %v", err)
	}
	chk.Client = c
	w.SetClient(chk)
	return w, chk
}

func TestFranzSendsExactlyN(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		props map[string]string
		rate  float64
	}{
		{"defaults unlimited", nil, -1},
		{"acks=1 lz4 paced", map[string]string{"acks": "1", "compression.type": "lz4", "linger.ms": "5", "batch.size": "65536"}, 20000},
		{"acks=0", map[string]string{"acks": "0", "max.in.flight.requests.per.connection": "1"}, -1},
		{"idempotent zstd", map[string]string{"enable.idempotence": "true", "compression.type": "zstd"}, -1},
		{"small buffer.memory", map[string]string{"buffer.memory": "4096", "batch.size": "100", "linger.ms": "0"}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const n = 20000
			brokers := franzCluster(t)
			s := franzSettings(t, tc.props)
			before := franzEndOffsets(t, brokers)
			w, chk := newFranzWorker(t, brokers, pace.New(tc.rate, n, 0, 0, 1), s, testSizes, 4096)
			w.Run(context.Background(), w.clock.Now(), 0)
			if err := chk.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			var st Stats
			w.Drain(&st)
			if w.Sent() != n || st.Acked != n || st.Failed != 0 {
				t.Errorf("sent %d, acked %d, failed %d (errors %v), want %d, %d, 0", w.Sent(), st.Acked, st.Failed, st.Errors, n, n)
			}
			if want := bytesOf(testSizes, n); st.BytesAcked != want {
				t.Errorf("bytes acked %d, want %d", st.BytesAcked, want)
			}
			// With acks=0 the broker may still be appending after Close.
			got := franzEndOffsets(t, brokers) - before
			for deadline := time.Now().Add(5 * time.Second); got != n && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
				got = franzEndOffsets(t, brokers) - before
			}
			if got != n {
				t.Errorf("end offsets grew by %d, want %d", got, n)
			}
			if len(chk.problems) > 0 {
				t.Errorf("problems: %v", chk.problems[:min(5, len(chk.problems))])
			}
			if len(w.free) != w.allocated {
				t.Errorf("free list holds %d of %d records after Close", len(w.free), w.allocated)
			}
		})
	}
}

func TestFranzMissingTopic(t *testing.T) {
	t.Parallel()
	brokers := franzCluster(t)
	_, err := NewFranz(FranzOptions{
		Brokers: brokers, Topic: "no-such-topic", Settings: franzSettings(t, nil),
		Payloads: franzPayloads(testSizes), Clock: NewClock(), Completer: NewWorker(pace.New(1, 1, 0, 0, 1), NewClock(), testSizes, 1),
	})
	if err == nil || !strings.Contains(err.Error(), "no-such-topic") {
		t.Fatalf("NewFranz(missing topic) error = %v, want one naming the topic", err)
	}
}

func TestFranzUnreachableBroker(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	began := time.Now()
	_, err = NewFranz(FranzOptions{
		Brokers: []string{addr}, Topic: franzTestTopic, Settings: franzSettings(t, nil),
		Payloads: franzPayloads(testSizes), Clock: NewClock(), Completer: NewWorker(pace.New(1, 1, 0, 0, 1), NewClock(), testSizes, 1),
	})
	took := time.Since(began)
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("NewFranz(%s) error = %v, want one naming the broker", addr, err)
	}
	if took > franzConnectTimeout+5*time.Second {
		t.Errorf("NewFranz(%s) took %v", addr, took)
	}
	t.Logf("error after %v: %v", took.Round(time.Millisecond), err)
}

// TestFranzCancelMidRun stops a worker mid-run, in even rounds while its
// sends block on a small buffer.memory: no record may be completed twice,
// or after Send refused it, none may fail (records franz holds are
// delivered, not cancelled), and every record must be back in the free
// list after Close.
func TestFranzCancelMidRun(t *testing.T) {
	t.Parallel()
	brokers := franzCluster(t)
	for i := range 6 {
		blocking := i%2 == 0
		m := map[string]string{"buffer.memory": "2048", "linger.ms": "20", "batch.size": "512"}
		if !blocking {
			m = map[string]string{"linger.ms": "20", "acks": "1"}
		}
		s := franzSettings(t, m)
		before := franzEndOffsets(t, brokers)
		w, chk := newFranzWorker(t, brokers, pace.New(-1, 0, 0, 0, 1), s, testSizes, 1000)
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(50+30*i)*time.Millisecond)
		w.Run(ctx, w.clock.Now(), 0)
		cancel()
		if err := chk.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		var st Stats
		w.Drain(&st)
		taken := chk.sent.Load() + chk.refused.Load()
		if st.Acked+st.Failed+chk.refused.Load() != taken {
			t.Errorf("acked %d + failed %d + refused %d != taken %d", st.Acked, st.Failed, chk.refused.Load(), taken)
		}
		if st.Failed != 0 || w.Sent() != chk.sent.Load() || chk.completed.Load() != chk.sent.Load() {
			t.Errorf("failed %d (%v), worker sent %d, client sent %d, completed %d", st.Failed, st.Errors, w.Sent(), chk.sent.Load(), chk.completed.Load())
		}
		if got := franzEndOffsets(t, brokers) - before; got != st.Acked {
			t.Errorf("end offsets grew by %d, acked %d", got, st.Acked)
		}
		if len(chk.problems) > 0 {
			t.Errorf("problems: %v", chk.problems[:min(5, len(chk.problems))])
		}
		if len(w.free) != w.allocated {
			t.Errorf("free list holds %d of %d records after Close", len(w.free), w.allocated)
		}
		if blocking && chk.refused.Load() == 0 {
			t.Errorf("round %d: no Send was refused: the test did not cancel a blocked Send", i)
		}
		t.Logf("round %d: sent %d, refused %d", i, chk.sent.Load(), chk.refused.Load())
	}
}

// TestFranzRecordTooLarge checks that a record franz fails before
// buffering (larger than buffer.memory) is completed once, with an error.
func TestFranzRecordTooLarge(t *testing.T) {
	t.Parallel()
	brokers := franzCluster(t)
	sizes := []int32{100, 5000}
	s := franzSettings(t, map[string]string{"buffer.memory": "4096"})
	w, chk := newFranzWorker(t, brokers, pace.New(-1, 100, 0, 0, 1), s, sizes, 64)
	w.Run(context.Background(), w.clock.Now(), 0)
	if err := chk.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var st Stats
	w.Drain(&st)
	if st.Acked != 50 || st.Failed != 50 {
		t.Errorf("acked %d, failed %d (%v), want 50, 50", st.Acked, st.Failed, st.Errors)
	}
	if len(chk.problems) > 0 {
		t.Errorf("problems: %v", chk.problems[:min(5, len(chk.problems))])
	}
}

func TestFranzOptsValidate(t *testing.T) {
	t.Parallel()
	for _, m := range []map[string]string{
		nil,
		{"batch.size": "1", "max.request.size": "1"},
		{"batch.size": "1000000", "max.request.size": "2000"},
		{"request.timeout.ms": "1", "linger.ms": "0", "retries": "0"},
		{"enable.idempotence": "true", "max.in.flight.requests.per.connection": "1"},
		{"acks": "0", "max.in.flight.requests.per.connection": "50"},
		{"batch.size": "1073741824", "max.request.size": "1073741824", "linger.ms": "60000",
			"request.timeout.ms": "3600000", "buffer.memory": "1099511627776", "retries": "2147483647"},
	} {
		s := franzSettings(t, m)
		opts := append([]kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}, FranzOpts(s, "t", 100)...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Errorf("props %v: kgo.NewClient: %v", m, err)
			continue
		}
		cl.Close()
	}
}

func TestFranzBatchBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		batch, maxReq, largest int
		want                   int32
	}{
		{16384, 1 << 20, 100, 16384},
		{1, 1 << 20, 100, 512},
		{16384, 1 << 20, 100000, 100000 + franzRecordOverhead},
		{1 << 21, 1 << 20, 100, 1 << 20},
		{16384, 100, 50, 1024},
	} {
		s := props.Defaults()
		s.BatchBytes, s.MaxRequestBytes = tc.batch, tc.maxReq
		if got := franzBatchBytes(s, tc.largest); got != tc.want {
			t.Errorf("franzBatchBytes(batch %d, max request %d, largest %d) = %d, want %d", tc.batch, tc.maxReq, tc.largest, got, tc.want)
		}
	}
}

// BenchmarkFranzClient sends b.N records through a worker and the franz
// client to kfake, unpaced. kfake, not the client, dominates the time; the
// allocations are franz's own (per batch and request) and kfake's.
func BenchmarkFranzClient(b *testing.B) {
	brokers := franzCluster(b)
	s := franzSettings(b, map[string]string{"acks": "1", "linger.ms": "5", "batch.size": "65536"})
	sizes := []int32{100}
	clock := NewClock()
	w := NewWorker(pace.New(-1, int64(b.N), 0, 0, 1), clock, sizes, 1<<16)
	c, err := NewFranz(FranzOptions{
		Brokers: brokers, Topic: franzTestTopic, Settings: s, Payloads: franzPayloads(sizes),
		Clock: clock, Completer: w,
	})
	if err != nil {
		b.Fatal(err)
	}
	w.SetClient(c)
	b.ReportAllocs()
	b.ResetTimer()
	w.Run(context.Background(), clock.Now(), 0)
	if err := c.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	var st Stats
	w.Drain(&st)
	if st.Acked != int64(b.N) {
		b.Fatalf("acked %d of %d", st.Acked, b.N)
	}
}
