package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

// fuzzTopic is the one topic of the fuzz test's in-process broker; every
// fuzzed assignment that names a topic is pointed at it.
const fuzzTopic = "fuzz"

// fuzzLimits keep each fuzzed run small, so an exec takes milliseconds.
var fuzzLimits = Limits{MaxWorkers: 4, MaxRecordSize: 4096, MaxBufferBytes: 64 << 20, MaxDuration: time.Minute}

// encodeRunRequests turns messages into the fuzz input format that
// decodeRunRequests reads: per message a 2-byte length, a pause byte
// (milliseconds before it is sent) and the proto encoding.
func encodeRunRequests(pause byte, msgs ...*kperfv1.RunRequest) []byte {
	var out []byte
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			panic(err)
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(b)))
		out = append(out, pause)
		out = append(out, b...)
	}
	return out
}

// fuzzStep is one controller message and the pause before it is sent.
type fuzzStep struct {
	pause time.Duration
	msg   *kperfv1.RunRequest
}

// decodeRunRequests reads up to 16 messages from fuzz bytes; chunks that
// are not a RunRequest are skipped. Kafka addresses are replaced by broker
// and topics by fuzzTopic, so runs only ever reach the in-process broker.
func decodeRunRequests(b []byte, broker string) []fuzzStep {
	var steps []fuzzStep
	for len(b) >= 3 && len(steps) < 16 {
		n := min(int(binary.BigEndian.Uint16(b)), len(b)-3)
		pause := time.Duration(b[2]%50) * time.Millisecond
		body := b[3 : 3+n]
		b = b[3+n:]
		m := &kperfv1.RunRequest{}
		if err := proto.Unmarshal(body, m); err != nil {
			continue
		}
		if a := m.GetPrepare().GetAssignment(); a != nil {
			if len(a.BootstrapServers) > 0 {
				a.BootstrapServers = []string{broker}
			}
			if a.Topic != "" {
				a.Topic = fuzzTopic
			}
		}
		steps = append(steps, fuzzStep{pause, m})
	}
	return steps
}

// FuzzRunMessages feeds arbitrary sequences of controller messages to a
// real agent over in-process gRPC, against an in-process Kafka broker. The
// agent must not panic, must answer with a well-formed run (Ready,
// Started, intervals 0..n-1, Final with n) or end the stream with an error
// status, and must not be left busy.
func FuzzRunMessages(f *testing.F) {
	a := &kperfv1.Assignment{
		Topic: fuzzTopic, BootstrapServers: []string{"b:9092"}, RecordSize: 100,
		Workers:    []*kperfv1.WorkerAssignment{{RatePerSec: 500}, {RatePerSec: 250, PhaseNs: 1e6}},
		DurationNs: int64(300 * time.Millisecond), IntervalNs: int64(100 * time.Millisecond),
		LeaseTimeoutNs: int64(time.Second), AgentCount: 1, ProducerProps: map[string]string{"acks": "1", "linger.ms": "1"},
	}
	franz := proto.Clone(a).(*kperfv1.Assignment)
	franz.Driver = "franz"
	franz.Workers = []*kperfv1.WorkerAssignment{{NumRecords: 20, RatePerSec: -1}}
	franz.DurationNs = 0
	franz.Payloads = [][]byte{[]byte("a"), []byte("bb")}
	prep := func(a *kperfv1.Assignment) *kperfv1.RunRequest {
		return &kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Prepare{Prepare: &kperfv1.Prepare{RunId: "fuzz", ProtocolVersion: ProtocolVersion, Assignment: a}}}
	}
	start := &kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Start{Start: &kperfv1.Start{AtUnixNano: 0}}}
	stop := &kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Stop{Stop: &kperfv1.Stop{Reason: "fuzz"}}}
	wrongVersion := prep(a)
	wrongVersion.GetPrepare().ProtocolVersion = 99
	f.Add(encodeRunRequests(0, prep(a), start), false)
	f.Add(encodeRunRequests(20, prep(a), start, stop), false)
	f.Add(encodeRunRequests(40, prep(franz), start, start, stop, stop), true)
	f.Add(encodeRunRequests(0, prep(a), prep(a), stop), false)
	f.Add(encodeRunRequests(0, start, prep(a)), false)
	f.Add(encodeRunRequests(0, wrongVersion), false)
	f.Add(encodeRunRequests(0, prep(&kperfv1.Assignment{})), false)
	f.Add([]byte{}, false)
	f.Add([]byte{0, 3, 0, 0xff, 0xff, 0xff}, true)

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, fuzzTopic))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(cluster.Close)
	broker := cluster.ListenAddrs()[0]

	lis := bufconn.Listen(1 << 20)
	srv := New(WithLimits(fuzzLimits))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, lis, srv) }()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		conn.Close()
		cancel()
		<-served
	})
	client := kperfv1.NewAgentServiceClient(conn)

	f.Fuzz(func(t *testing.T, input []byte, abort bool) {
		steps := decodeRunRequests(input, broker)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		stream, err := client.Run(ctx)
		if err != nil {
			t.Fatalf("open stream: %v", err)
		}
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			for _, s := range steps {
				time.Sleep(s.pause)
				if err := stream.Send(s.msg); err != nil {
					return // the agent ended the stream
				}
			}
			if abort {
				cancel() // the controller vanishes
			} else {
				stream.CloseSend()
			}
		}()
		checkRunAnswer(t, stream, ctx)
		<-sent
		cancel()
		// The agent must be ready for the next run.
		deadline := time.Now().Add(10 * time.Second)
		for {
			info, err := client.Info(context.Background(), &kperfv1.InfoRequest{})
			if err != nil {
				t.Fatalf("Info after the run: %v", err)
			}
			if !info.GetBusy() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("agent still busy 10s after the run's stream ended")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// checkRunAnswer reads the agent's answers to the end of the stream and
// fails t unless they are a well-formed run or an error status.
func checkRunAnswer(t *testing.T, stream kperfv1.AgentService_RunClient, ctx context.Context) {
	t.Helper()
	var ready, started, final bool
	var intervals int64
	for {
		m, err := stream.Recv()
		if err != nil {
			if ctx.Err() == context.DeadlineExceeded {
				t.Fatal("the agent neither finished nor failed the run within 20s")
			}
			if errors.Is(err, io.EOF) {
				if !final {
					t.Fatal("stream ended with OK status but without a Final")
				}
				return
			}
			st, ok := status.FromError(err)
			if !ok || st.Code() == codes.OK || st.Code() == codes.Unknown || st.Message() == "" {
				t.Fatalf("stream ended with %v, want an error status with a code and a message", err)
			}
			return
		}
		switch msg := m.GetMsg().(type) {
		case *kperfv1.RunResponse_Ready:
			if ready {
				t.Fatal("Ready sent twice")
			}
			ready = true
		case *kperfv1.RunResponse_Started:
			if !ready || started {
				t.Fatalf("Started out of order (ready %v, started %v)", ready, started)
			}
			started = true
		case *kperfv1.RunResponse_Interval:
			if !started || final {
				t.Fatalf("interval out of order (started %v, final %v)", started, final)
			}
			if got := msg.Interval.GetSeq(); got != intervals {
				t.Fatalf("interval %d, want %d", got, intervals)
			}
			intervals++
		case *kperfv1.RunResponse_Final:
			if !started || final {
				t.Fatalf("Final out of order (started %v, final %v)", started, final)
			}
			if got := msg.Final.GetIntervals(); got != intervals {
				t.Fatalf("Final says %d intervals, sent %d", got, intervals)
			}
			final = true
		default:
			t.Fatalf("unexpected answer %T", msg)
		}
	}
}
