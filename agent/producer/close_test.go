package producer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kperf/kperf/internal/pace"
)

// TestCloseWithDoneContextLetsGo checks, for every driver, that Close with
// a done context returns at once, with an error, while records are stuck
// in flight (a broker that never answers a produce request), rather than
// waiting out its close budget (here request.timeout.ms 20 s + 10 s) and
// maybe delivering them late.
func TestCloseWithDoneContextLetsGo(t *testing.T) {
	t.Parallel()
	for _, driver := range []string{"sarama", "franz"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, franzTestTopic))
			if err != nil {
				t.Fatalf("kfake: %v", err)
			}
			t.Cleanup(cluster.Close)
			release := make(chan struct{})
			t.Cleanup(func() { close(release) }) // before the cluster closes
			stuck := make(chan struct{}, 1)
			cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
				cluster.KeepControl()
				select {
				case stuck <- struct{}{}:
				default:
				}
				cluster.SleepControl(func() { <-release })
				return nil, nil, false
			})

			s := franzSettings(t, map[string]string{"request.timeout.ms": "20000", "linger.ms": "0"})
			clock := NewClock()
			w := NewWorker(pace.New(-1, 20, 0, 0, 1), clock, testSizes, 64)
			var c Client
			if driver == "sarama" {
				c, err = NewSarama(SaramaOptions{Brokers: cluster.ListenAddrs(), Topic: franzTestTopic, Settings: s,
					Payloads: franzPayloads(testSizes), Seed: 1, Clock: clock, Completer: w})
			} else {
				c, err = NewFranz(FranzOptions{Brokers: cluster.ListenAddrs(), Topic: franzTestTopic, Settings: s,
					Payloads: franzPayloads(testSizes), Clock: clock, Completer: w})
			}
			if err != nil {
				t.Fatalf("new %s client: %v", driver, err)
			}
			w.SetClient(c)
			w.Run(context.Background(), clock.Now(), 0)
			select {
			case <-stuck:
			case <-time.After(10 * time.Second):
				t.Fatal("no produce request reached the broker")
			}
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(errors.New("lease expired"))
			began := time.Now()
			err = c.Close(ctx)
			took := time.Since(began)
			var st Stats
			w.Drain(&st)
			t.Logf("Close took %v: %v; sent %d, acked %d, failed %d", took.Round(time.Millisecond), err, w.Sent(), st.Acked, st.Failed)
			if err == nil || took > 3*time.Second {
				t.Errorf("Close(done ctx) = %v after %v; want an error at once", err, took)
			}
			if st.Acked != 0 {
				t.Errorf("%d records acked by a broker that never answered", st.Acked)
			}
		})
	}
}
