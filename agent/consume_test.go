package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

// TestClockProbeEcho probes a prepared agent: it echoes each probe with its
// own receive and send times, between the probe's sending and the echo's
// arrival (one host, one clock).
func TestClockProbeEcho(t *testing.T) {
	client := startAgent(t)
	broker := startBroker(t, "t")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream := prepared(ctx, t, client, assignment(broker))
	for range 3 {
		t0 := time.Now().UnixNano()
		if err := stream.Send(&kperfv1.RunRequest{Msg: &kperfv1.RunRequest_ClockProbe{ClockProbe: &kperfv1.ClockProbe{SentUnixNano: t0}}}); err != nil {
			t.Fatal(err)
		}
		m, err := stream.Recv()
		t3 := time.Now().UnixNano()
		e := m.GetClockEcho()
		if err != nil || e == nil {
			t.Fatalf("want ClockEcho, got %v, %v", m, err)
		}
		if e.GetProbeSentUnixNano() != t0 || e.GetReceivedUnixNano() < t0 || e.GetSentUnixNano() < e.GetReceivedUnixNano() || t3 < e.GetSentUnixNano() {
			t.Errorf("echo %v for a probe sent at %d and answered by %d: want t0 <= t1 <= t2 <= t3", e, t0, t3)
		}
	}
}

// TestConsumerAssignmentChecks refuses consumer slices the agent cannot run.
func TestConsumerAssignmentChecks(t *testing.T) {
	client := startAgent(t)
	for _, tc := range []struct {
		name string
		c    *kperfv1.ConsumerAssignment
		want string
	}{
		{"no group", &kperfv1.ConsumerAssignment{Workers: 1, IdleTimeoutNs: 1e9}, "no group id"},
		{"bad property", &kperfv1.ConsumerAssignment{Workers: 1, GroupId: "g", IdleTimeoutNs: 1e9, ConsumerProps: map[string]string{"fetch.min.bytes": "x"}}, "fetch.min.bytes"},
		{"no end", &kperfv1.ConsumerAssignment{Workers: 1, GroupId: "g"}, "neither an idle timeout nor a record count"},
		{"too many", &kperfv1.ConsumerAssignment{Workers: 1000, GroupId: "g", IdleTimeoutNs: 1e9}, "agent limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stream, err := client.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			a := assignment("127.0.0.1:1")
			a.Consumer = tc.c
			if err := stream.Send(prepareMsg(a)); err != nil {
				t.Fatal(err)
			}
			_, err = stream.Recv()
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Prepare = %v, want InvalidArgument naming %q", err, tc.want)
			}
		})
	}
}

// TestConsumersAloneStopWhenIdle runs an assignment without producers on
// the embedded broker's empty topic: the consumers join at the start and
// stop after the idle timeout, with a Final that says why.
func TestConsumersAloneStopWhenIdle(t *testing.T) {
	client := startAgent(t)
	broker := startBroker(t, "t")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := assignment(broker)
	a.Workers, a.DurationNs = nil, 0
	a.Consumer = &kperfv1.ConsumerAssignment{Workers: 1, GroupId: "g", IdleTimeoutNs: int64(500 * time.Millisecond), JoinAtStart: true,
		ConsumerProps: map[string]string{"auto.offset.reset": "earliest"}}
	stream := prepared(ctx, t, client, a)
	if err := stream.Send(&kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Start{Start: &kperfv1.Start{AtUnixNano: time.Now().UnixNano()}}}); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("stream ended before Final: %v", err)
		}
		if iv := m.GetInterval(); iv != nil && iv.GetConsume() == nil {
			t.Fatalf("interval %d has no consume window", iv.GetSeq())
		}
		if f := m.GetFinal(); f != nil {
			if r := f.GetConsume().GetReason(); !strings.Contains(r, "no record for 500ms") {
				t.Errorf("consumers stopped because %q, want the idle timeout", r)
			}
			return
		}
	}
}
