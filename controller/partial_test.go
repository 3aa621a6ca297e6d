package controller

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/kperf/kperf/agent"
	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller/local"
	"github.com/kperf/kperf/controller/report"
)

// freezer forwards TCP connections to target until frozen; then it stops
// moving bytes without closing anything, like a network cut.
type freezer struct {
	lis    net.Listener
	mu     sync.Mutex
	frozen bool
	conns  []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{lis: lis}
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, u)
			f.mu.Unlock()
			go f.pipe(c, u)
			go f.pipe(u, c)
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.conns {
			c.Close()
		}
	})
	return f
}

func (f *freezer) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		for {
			f.mu.Lock()
			frozen := f.frozen
			f.mu.Unlock()
			if !frozen {
				break
			}
			time.Sleep(50 * time.Millisecond) // hold the bytes, close nothing
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (f *freezer) freeze() {
	f.mu.Lock()
	f.frozen = true
	f.mu.Unlock()
}

// cutAfter calls cut after d and returns when it was called.
func cutAfter(d time.Duration, cut func()) func() time.Time {
	var mu sync.Mutex
	var at time.Time
	time.AfterFunc(d, func() {
		mu.Lock()
		defer mu.Unlock()
		at = time.Now()
		cut()
	})
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return at
	}
}

// partialPlan runs 3 s at 3,000 records/s with a 2 s lease.
func partialPlan(bootstrap string) *kperfv1.TestPlan {
	return &kperfv1.TestPlan{
		BootstrapServers: bootstrap, Topic: "partial", Duration: "3s", Throughput: proto.Float64(3000),
		RecordSize: proto.Int32(100), Interval: "500ms", LeaseTimeout: "2s", Partitions: proto.Int32(3),
	}
}

// TestLostAgent stops one of three agents abruptly mid-run: the run
// finishes with the other two, says which agent was lost and when, keeps
// the totals consistent, and returns ErrPartial unless allow_partial.
func TestLostAgent(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "allow_partial"}[allow], func(t *testing.T) {
			env, err := local.Start(2, true, "test", hclog.NewNullLogger())
			if err != nil {
				t.Fatal(err)
			}
			defer env.Close()
			// The third agent on a server this test can kill.
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			gs := grpc.NewServer()
			kperfv1.RegisterAgentServiceServer(gs, agent.New(agent.WithVersion("test")))
			go gs.Serve(lis)
			defer gs.Stop()
			killed := cutAfter(1500*time.Millisecond, gs.Stop)

			spec := partialPlan(env.Bootstrap)
			spec.AllowPartial = allow
			var details strings.Builder
			s, err := Run(context.Background(), spec, Options{
				Agents: append(env.Agents, lis.Addr().String()), OutDir: t.TempDir(), Stdout: io.Discard, Details: &details,
			})
			checkPartial(t, s, err, allow, lis.Addr().String(), killed(), 0, details.String())
		})
	}
}

// TestSilentAgent cuts one agent off without closing its connection: the
// controller counts it lost after the lease timeout, and the agent, not
// hearing from the controller, stops producing on its own.
func TestSilentAgent(t *testing.T) {
	env, err := local.Start(3, true, "test", hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	f := newFreezer(t, env.Agents[2])
	killed := cutAfter(1500*time.Millisecond, f.freeze)
	var details strings.Builder
	began := time.Now()
	s, err := Run(context.Background(), partialPlan(env.Bootstrap), Options{
		Agents: []string{env.Agents[0], env.Agents[1], f.lis.Addr().String()}, OutDir: t.TempDir(), Stdout: io.Discard, Details: &details,
	})
	checkPartial(t, s, err, false, f.lis.Addr().String(), killed(), 2*time.Second, details.String())
	if !strings.Contains(s.Agents[2].EndReason, "silent for 2s") {
		t.Errorf("end reason %q; want silent for 2s", s.Agents[2].EndReason)
	}
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("run took %v", took)
	}
	// The cut-off agent stopped on its own when its lease ran out.
	deadline := time.Now().Add(5 * time.Second)
	for {
		infos, err := Info(context.Background(), env.Agents[2:], time.Second)
		if err == nil && !infos[0].GetBusy() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cut-off agent still busy 5s after the run: %v %v", infos, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkPartial checks a run that lost the agent at lostAddr, cut off at
// killed and detectable detect later.
func checkPartial(t *testing.T, s *report.Summary, err error, allow bool, lostAddr string, killed time.Time, detect time.Duration, details string) {
	t.Helper()
	if allow && err != nil || !allow && !errors.Is(err, ErrPartial) {
		t.Fatalf("allow_partial %v: err %v\n%s", allow, err, details)
	}
	if s == nil || !s.Partial || len(s.PartialReasons) != 1 || !strings.Contains(s.PartialReasons[0], "agent "+lostAddr+" lost at ") {
		t.Fatalf("summary partial %v reasons %q\n%s", s != nil && s.Partial, s.PartialReasons, details)
	}
	start, perr := time.Parse(time.RFC3339Nano, s.StartedAt)
	if perr != nil {
		t.Fatal(perr)
	}
	cut := killed.Sub(start).Seconds()
	var sum int64
	for i, a := range s.Agents {
		sum += a.Records
		if (a.Address == lostAddr) != a.Lost {
			t.Errorf("agent %d %s: lost %v", i, a.Address, a.Lost)
		}
		if a.Lost {
			// Noticed at once (broken stream), or the silence limit after
			// the last message (up to one 500 ms interval before the cut),
			// give or take one check of the controller.
			if want := cut + detect.Seconds(); a.LostAtS < want-0.55 || a.LostAtS > want+1 {
				t.Errorf("lost at %.2fs, cut at %.2fs; want about %.2fs", a.LostAtS, cut, want)
			}
			if a.LastIntervalEndS > cut+0.01 || a.Records == 0 {
				t.Errorf("lost agent: last interval ends %.2fs (cut at %.2fs), %d records", a.LastIntervalEndS, cut, a.Records)
			}
		} else if a.EndReason != "done" || a.Records < 2900 {
			t.Errorf("agent %s: %q, %d records; want done with its 3,000", a.Address, a.EndReason, a.Records)
		}
	}
	d := s.DeliveryCheck
	if sum != s.Records || !d.OK || d.Acked != s.Records || d.BrokerOffsetDelta < d.Acked || d.Unaccounted != d.BrokerOffsetDelta-d.Acked {
		t.Errorf("records %d, agents sum %d, delivery %+v", s.Records, sum, d)
	}
}
