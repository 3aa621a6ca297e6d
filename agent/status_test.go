package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

// waitState polls s until it is in state want.
func waitState(t *testing.T, s *Server, want State) Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Status()
		if st.State == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent state %v, want %v within 10s", st.State, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStatusFollowsARun checks the agent's Status through a run that the
// controller stops, and after a rejected one.
func TestStatusFollowsARun(t *testing.T) {
	client, srv := startAgentServer(t)
	broker := startBroker(t, "t")

	if st := srv.Status(); st.State != StateIdle || st.Sent != 0 || len(st.Runs) != 0 {
		t.Fatalf("new agent Status = %+v, want idle with nothing counted", st)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	stream, err := client.Run(rctx)
	if err != nil {
		t.Fatal(err)
	}
	a := assignment(broker)
	a.Workers = append(a.Workers, &kperfv1.WorkerAssignment{RatePerSec: 500})
	stream.Send(prepareMsg(a))
	if m, err := stream.Recv(); err != nil || m.GetReady() == nil {
		t.Fatalf("want Ready, got %v, %v", m, err)
	}
	if st := srv.Status(); st.State != StatePreparing || st.Workers != 2 {
		t.Errorf("after Ready: state %v workers %d, want preparing with 2 workers", st.State, st.Workers)
	}
	stream.Send(&kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Start{Start: &kperfv1.Start{AtUnixNano: time.Now().UnixNano()}}})
	waitState(t, srv, StateRunning)
	// Wait for a full interval with acks (a loaded machine may need a few),
	// then check the counters moved.
	for acked := false; !acked; {
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		iv := m.GetInterval()
		acked = iv != nil && iv.GetSeq() >= 1 && iv.GetCounters().GetAcked() > 0
	}
	if st := srv.Status(); st.Sent == 0 || st.Acked == 0 || st.RatePerSec <= 0 {
		t.Errorf("after an interval with acks: sent %d acked %d rate %v, want all > 0", st.Sent, st.Acked, st.RatePerSec)
	}
	stream.Send(&kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Stop{Stop: &kperfv1.Stop{Reason: "test"}}})
	var final *kperfv1.Final
	for final == nil {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("no Final: %v", err)
		}
		final = m.GetFinal()
	}
	st := waitState(t, srv, StateIdle)
	tot := final.GetTotals()
	if st.Sent != tot.GetSent() || st.Acked != tot.GetAcked() || st.BytesAcked != tot.GetBytesAcked() || st.Failed != tot.GetFailed() {
		t.Errorf("Status sent/acked/bytes/failed %d/%d/%d/%d, Final totals %d/%d/%d/%d",
			st.Sent, st.Acked, st.BytesAcked, st.Failed, tot.GetSent(), tot.GetAcked(), tot.GetBytesAcked(), tot.GetFailed())
	}
	if st.Workers != 0 || st.InFlight != 0 || st.RatePerSec != 0 || st.Runs[EndStopped] != 1 || len(st.Runs) != 1 {
		t.Errorf("after the run: %+v, want no workers, in flight or rate, and one run ended %q", st, EndStopped)
	}

	// A refused plan counts as rejected, and the totals stay.
	bad, err := client.Run(rctx)
	if err != nil {
		t.Fatal(err)
	}
	noTopic := assignment(broker)
	noTopic.Topic = ""
	bad.Send(prepareMsg(noTopic))
	if _, err := bad.Recv(); err == nil {
		t.Fatal("prepare without a topic was accepted")
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.Status().Runs[EndRejected] != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st2 := srv.Status(); st2.Runs[EndRejected] != 1 || st2.Acked != st.Acked || st2.State != StateIdle {
		t.Errorf("after a rejected plan: %+v, want runs[rejected]=1, acked still %d, idle", st2, st.Acked)
	}
}

// TestMonitorBoundsErrorKinds checks that failures are counted by kind, and
// kinds past MaxErrorKinds under OtherErrorKind, with none lost.
func TestMonitorBoundsErrorKinds(t *testing.T) {
	t.Parallel()
	m := newMonitor()
	r := &runner{interval: int64(time.Second)}
	m.attach(r)
	errs := map[string]int64{}
	for i := range MaxErrorKinds + 5 {
		errs[fmt.Sprintf("KIND_%d", i)] = 2
	}
	m.interval(r, &kperfv1.Interval{Counters: &kperfv1.Counters{Acked: 10, Failed: 2 * int64(len(errs)), Errors: errs}, InFlight: 3}, 100*time.Millisecond)
	st := m.status()
	var sum int64
	for _, v := range st.Errors {
		sum += v
	}
	if len(st.Errors) != MaxErrorKinds+1 || st.Errors[OtherErrorKind] != 10 || sum != st.Failed || st.Failed != 2*int64(len(errs)) {
		t.Errorf("%d kinds, other %d, sum %d, failed %d; want %d kinds, other 10, sum = failed = %d",
			len(st.Errors), st.Errors[OtherErrorKind], sum, st.Failed, MaxErrorKinds+1, 2*len(errs))
	}
	if st.RatePerSec != 0 || st.InFlight != 3 || st.Acked != 10 {
		t.Errorf("short window: rate %v in flight %d acked %d; want rate unset (0), in flight 3, acked 10", st.RatePerSec, st.InFlight, st.Acked)
	}
	m.interval(r, &kperfv1.Interval{Counters: &kperfv1.Counters{Acked: 500}}, 500*time.Millisecond)
	if st := m.status(); st.RatePerSec != 1000 || st.Acked != 510 {
		t.Errorf("full window: rate %v acked %d, want 1000/s and 510", st.RatePerSec, st.Acked)
	}
}

func TestEndReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		r    *runner
		want string
	}{
		{"runner's reason wins", fmt.Errorf("send final: broken"), &runner{endReason: EndStalled}, EndStalled},
		{"bad plan", status.Error(codes.InvalidArgument, "no topic"), nil, EndRejected},
		{"protocol", status.Error(codes.FailedPrecondition, "v2"), nil, EndRejected},
		{"cancelled before start", status.Error(codes.Canceled, "lease"), &runner{}, EndLeaseLost},
		{"kafka unreachable", status.Error(codes.Unavailable, "dial"), nil, EndFailed},
	} {
		if got := endReason(tc.err, tc.r); got != tc.want {
			t.Errorf("%s: endReason(%v) = %q, want %q", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestStopEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		reason string
		max    time.Duration
		want   string
	}{
		{"stopped by controller", time.Hour, EndStopped},
		{ReasonShutdown, time.Hour, EndShutdown},
		{maxDurationReason(time.Hour), time.Hour, EndMaxDuration},
		{maxDurationReason(time.Minute), time.Hour, EndStopped},
	} {
		if got := stopEnd(tc.reason, tc.max); got != tc.want {
			t.Errorf("stopEnd(%q, %v) = %q, want %q", tc.reason, tc.max, got, tc.want)
		}
	}
}

// TestStatusCountsCapsAndShutdown checks the end reasons of runs stopped by
// --max-duration and by the agent shutting down.
func TestStatusCountsCapsAndShutdown(t *testing.T) {
	limits := DefaultLimits()
	limits.MaxDuration = time.Second
	client, srv := startAgentServer(t, WithLimits(limits))
	broker := startBroker(t, "t")
	a := assignment(broker)
	a.DurationNs = 0
	a.Workers[0] = &kperfv1.WorkerAssignment{RatePerSec: 0, NumRecords: 1 << 40} // unlimited: length unknown up front
	f := runToFinal(t, client, a, nil)
	waitState(t, srv, StateIdle)
	if st := srv.Status(); st.Runs[EndMaxDuration] != 1 || st.Acked != f.GetTotals().GetAcked() {
		t.Errorf("after --max-duration stopped the run: runs %v acked %d, want max_duration 1 and the Final's %d", st.Runs, st.Acked, f.GetTotals().GetAcked())
	}
	client2, srv2 := startAgentServer(t)
	runToFinal(t, client2, assignment(broker), func() { time.AfterFunc(300*time.Millisecond, srv2.Drain) })
	waitState(t, srv2, StateIdle)
	if st := srv2.Status(); st.Runs[EndShutdown] != 1 || len(st.Runs) != 1 {
		t.Errorf("after a drained run: runs %v, want shutdown 1", st.Runs)
	}
}
