package agent

import (
	"context"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

// startAgent serves an agent on loopback and returns a client for it.
func startAgent(t *testing.T, opts ...Option) kperfv1.AgentServiceClient {
	client, _ := startAgentServer(t, opts...)
	return client
}

// startAgentServer is startAgent that also returns the server.
func startAgentServer(t *testing.T, opts ...Option) (kperfv1.AgentServiceClient, *Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := New(opts...)
	go func() { done <- Serve(ctx, lis, srv) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		<-done
	})
	return kperfv1.NewAgentServiceClient(conn), srv
}

func startBroker(t *testing.T, topic string) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func assignment(broker string) *kperfv1.Assignment {
	return &kperfv1.Assignment{
		Topic: "t", BootstrapServers: []string{broker}, RecordSize: 50,
		Workers:    []*kperfv1.WorkerAssignment{{RatePerSec: 500}},
		DurationNs: int64(time.Minute), IntervalNs: int64(200 * time.Millisecond),
		LeaseTimeoutNs: int64(time.Second), AgentCount: 1,
	}
}

// prepared opens a Run stream on client, prepares a on it and waits for
// Ready.
func prepared(ctx context.Context, t *testing.T, client kperfv1.AgentServiceClient, a *kperfv1.Assignment) kperfv1.AgentService_RunClient {
	t.Helper()
	stream, err := client.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(prepareMsg(a)); err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != nil || m.GetReady() == nil {
		t.Fatalf("want Ready, got %v, %v", m, err)
	}
	return stream
}

func prepareMsg(a *kperfv1.Assignment) *kperfv1.RunRequest {
	return &kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Prepare{Prepare: &kperfv1.Prepare{RunId: "test", ProtocolVersion: ProtocolVersion, Assignment: a}}}
}

// TestLeaseExpiryStopsTheRun starts a one-minute run and then goes silent:
// the agent must stop on its own after the lease timeout.
func TestLeaseExpiryStopsTheRun(t *testing.T) {
	client := startAgent(t)
	broker := startBroker(t, "t")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream := prepared(ctx, t, client, assignment(broker))
	began := time.Now()
	stream.Send(&kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Start{Start: &kperfv1.Start{AtUnixNano: time.Now().UnixNano()}}})
	var intervals int
	for {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("stream ended without Final: %v", err)
		}
		if m.GetInterval() != nil {
			intervals++
		}
		if f := m.GetFinal(); f != nil {
			if !strings.Contains(f.GetReason(), "lease expired") {
				t.Errorf("Final reason %q, want lease expired", f.GetReason())
			}
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("run stopped %v after the last controller message, lease is 1s", took)
			}
			if f.GetTotals().GetAcked() == 0 || int64(intervals) != f.GetIntervals() {
				t.Errorf("Final totals %v intervals %d, received %d intervals", f.GetTotals(), f.GetIntervals(), intervals)
			}
			return
		}
	}
}

func TestRunRejectsBadPrepare(t *testing.T) {
	client := startAgent(t)
	broker := startBroker(t, "t")
	tooMany := assignment(broker)
	for range 300 {
		tooMany.Workers = append(tooMany.Workers, &kperfv1.WorkerAssignment{RatePerSec: 1})
	}
	noTopic := assignment(broker)
	noTopic.Topic = "missing"
	badProps := assignment(broker)
	badProps.ProducerProps = map[string]string{"acks": "7"}
	bigBuffer := assignment(broker)
	bigBuffer.ProducerProps = map[string]string{"buffer.memory": "5000000000"}
	tooLong := assignment(broker)
	tooLong.DurationNs = int64(25 * time.Hour)
	tooManyRecords := assignment(broker)
	tooManyRecords.DurationNs = 0
	tooManyRecords.Workers[0].NumRecords = 1e9 // at 500/s: 23 days
	infRate := assignment(broker)
	infRate.Workers[0].RatePerSec = math.Inf(1)
	nanJitter := assignment(broker)
	nanJitter.Jitter = math.NaN()
	tests := []struct {
		name string
		req  *kperfv1.RunRequest // nil: close the stream without a message
		code codes.Code
		want string
	}{
		{name: "closed before prepare", req: nil, code: codes.InvalidArgument, want: "before Prepare"},
		{name: "infinite worker rate", req: prepareMsg(infRate), code: codes.InvalidArgument, want: "worker 0 rate"},
		{name: "NaN jitter", req: prepareMsg(nanJitter), code: codes.InvalidArgument, want: "jitter"},
		{name: "other protocol", req: &kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Prepare{Prepare: &kperfv1.Prepare{ProtocolVersion: 99, Assignment: assignment(broker)}}}, code: codes.FailedPrecondition, want: "protocol"},
		{name: "start before prepare", req: &kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Start{Start: &kperfv1.Start{}}}, code: codes.InvalidArgument, want: "Prepare"},
		{name: "over the worker limit", req: prepareMsg(tooMany), code: codes.InvalidArgument, want: "workers"},
		{name: "bad producer property", req: prepareMsg(badProps), code: codes.InvalidArgument, want: "acks"},
		{name: "over the buffer limit", req: prepareMsg(bigBuffer), code: codes.InvalidArgument, want: "buffer.memory"},
		{name: "over the duration limit", req: prepareMsg(tooLong), code: codes.InvalidArgument, want: "duration 25h0m0s is over the agent limit 24h0m0s (kperf-agent --max-duration)"},
		{name: "counted run over the duration limit", req: prepareMsg(tooManyRecords), code: codes.InvalidArgument, want: "1000000000 records at 500 records/s take 555h33m20s, over the agent limit 24h0m0s (kperf-agent --max-duration)"},
		{name: "missing topic", req: prepareMsg(noTopic), code: codes.Unavailable, want: "missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			stream, err := client.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tc.req != nil {
				stream.Send(tc.req)
			} else {
				stream.CloseSend()
			}
			_, err = stream.Recv()
			if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Recv error = %v, want code %v naming %q", err, tc.code, tc.want)
			}
		})
	}
}

func TestOneRunAtATime(t *testing.T) {
	client := startAgent(t)
	broker := startBroker(t, "t")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, err := client.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first.Send(prepareMsg(assignment(broker)))
	if m, err := first.Recv(); err != nil || m.GetReady() == nil {
		t.Fatalf("want Ready, got %v, %v", m, err)
	}
	if in, _ := client.Info(ctx, &kperfv1.InfoRequest{}); !in.GetBusy() {
		t.Error("Info says not busy during a run")
	}
	second, err := client.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second.Send(prepareMsg(assignment(broker)))
	if _, err := second.Recv(); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("second run: %v, want FailedPrecondition", err)
	}
}

// runToFinal prepares and starts a, then returns the run's Final.
func runToFinal(t *testing.T, client kperfv1.AgentServiceClient, a *kperfv1.Assignment, started func()) *kperfv1.Final {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream := prepared(ctx, t, client, a)
	stream.Send(&kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Start{Start: &kperfv1.Start{AtUnixNano: time.Now().UnixNano()}}})
	// Keep the lease.
	go func() {
		for ctx.Err() == nil {
			stream.Send(&kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Heartbeat{Heartbeat: &kperfv1.Heartbeat{}}})
			time.Sleep(200 * time.Millisecond)
		}
	}()
	for {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("stream ended without Final: %v", err)
		}
		if m.GetStarted() != nil && started != nil {
			started()
		}
		if f := m.GetFinal(); f != nil {
			return f
		}
	}
}

// TestMaxDurationStopsARunOfUnknownLength: an unlimited-rate counted run
// has no known length; the agent stops it at --max-duration.
func TestMaxDurationStopsARunOfUnknownLength(t *testing.T) {
	limits := DefaultLimits()
	limits.MaxDuration = time.Second
	client := startAgent(t, WithLimits(limits))
	a := assignment(startBroker(t, "t"))
	a.DurationNs = 0
	a.Workers[0] = &kperfv1.WorkerAssignment{RatePerSec: 0, NumRecords: 1 << 40}
	began := time.Now()
	f := runToFinal(t, client, a, nil)
	if f.GetReason() != "agent limit reached: ran for --max-duration 1s" || f.GetTotals().GetAcked() == 0 {
		t.Fatalf("Final %v", f)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("stopped after %v, limit 1s", took)
	}
}

// TestDrainEndsTheRunWithFinal: a shutting-down agent ends its run with a
// Final saying so, and refuses new runs.
func TestDrainEndsTheRunWithFinal(t *testing.T) {
	client, srv := startAgentServer(t)
	broker := startBroker(t, "t")
	f := runToFinal(t, client, assignment(broker), func() { time.AfterFunc(500*time.Millisecond, srv.Drain) })
	if f.GetReason() != ReasonShutdown || f.GetTotals().GetAcked() == 0 {
		t.Fatalf("Final %v", f)
	}
	stream, err := client.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(prepareMsg(assignment(broker)))
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("run after drain: %v", err)
	}
}

// TestControllerGivingUpDuringConnectFreesTheAgent: a broker address that
// accepts connections and never answers holds the Kafka clients' dial; a
// controller that gives up meanwhile frees the agent at once, not after
// the clients' own timeouts.
func TestControllerGivingUpDuringConnectFreesTheAgent(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	for _, driver := range []string{"sarama", "franz"} {
		t.Run(driver, func(t *testing.T) {
			client := startAgent(t)
			ctx, cancel := context.WithCancel(context.Background())
			stream, err := client.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			a := assignment(silent.Addr().String())
			a.Driver = driver
			if err := stream.Send(prepareMsg(a)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
			if info, err := client.Info(context.Background(), &kperfv1.InfoRequest{}); err != nil || !info.GetBusy() {
				t.Fatalf("while connecting: busy %v, %v; want busy", info.GetBusy(), err)
			}
			cancel()
			began := time.Now()
			for {
				info, err := client.Info(context.Background(), &kperfv1.InfoRequest{})
				if err != nil {
					t.Fatal(err)
				}
				if !info.GetBusy() {
					break
				}
				if time.Since(began) > 3*time.Second {
					t.Fatalf("agent still busy %v after the controller gave up", time.Since(began))
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("free %v after the controller gave up", time.Since(began).Round(time.Millisecond))
		})
	}
}
