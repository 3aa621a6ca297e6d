package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/internal/pace"
	"github.com/kperf/kperf/internal/props"
)

// ProtocolVersion is the controller-agent protocol this agent speaks.
const ProtocolVersion = 1

// Drivers lists the Kafka client drivers an agent runs.
var drivers = []string{"sarama", "franz"}

// Limits are the caps an agent enforces on a plan slice.
type Limits struct {
	MaxWorkers     int
	MaxRecordSize  int
	MaxBufferBytes int64
	// MaxDuration bounds one run: a plan whose length is known to exceed
	// it is refused, and a run of unknown length is stopped when it passes.
	MaxDuration time.Duration
}

// DefaultLimits returns the caps used when none are configured.
func DefaultLimits() Limits {
	return Limits{MaxWorkers: 256, MaxRecordSize: 16 << 20, MaxBufferBytes: 4 << 30, MaxDuration: 24 * time.Hour}
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger; the default discards.
func WithLogger(l hclog.Logger) Option { return func(s *Server) { s.log = l } }

// WithLimits sets the caps on plan slices; the default is DefaultLimits.
func WithLimits(l Limits) Option { return func(s *Server) { s.limits = l } }

// WithVersion sets the build version reported by Info.
func WithVersion(v string) Option { return func(s *Server) { s.version = v } }

// Server implements kperfv1.AgentServiceServer. It runs one test at a time.
type Server struct {
	kperfv1.UnimplementedAgentServiceServer
	log     hclog.Logger
	limits  Limits
	version string
	busy    atomic.Bool
	mon     *monitor
	// draining is closed when the agent shuts down: a running test stops
	// and sends its Final, and new tests are refused.
	draining  chan struct{}
	drainOnce sync.Once
}

// New returns an agent server.
func New(opts ...Option) *Server {
	s := &Server{log: hclog.NewNullLogger(), limits: DefaultLimits(), version: "dev", mon: newMonitor(), draining: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Info describes the agent.
func (s *Server) Info(context.Context, *kperfv1.InfoRequest) (*kperfv1.InfoResponse, error) {
	host, _ := os.Hostname()
	return &kperfv1.InfoResponse{
		Version:         s.version,
		ProtocolVersion: ProtocolVersion,
		Hostname:        host,
		Cores:           int32(runtime.GOMAXPROCS(0)),
		Drivers:         slices.Clone(drivers),
		Limits: &kperfv1.AgentLimits{
			MaxWorkers:     int32(s.limits.MaxWorkers),
			MaxRecordSize:  int32(s.limits.MaxRecordSize),
			MaxBufferBytes: s.limits.MaxBufferBytes,
		},
		Busy: s.busy.Load(),
	}, nil
}

// ReasonShutdown is the end reason of a test stopped because its agent
// shut down (SIGTERM).
const ReasonShutdown = "agent shutting down"

// Drain stops a running test as if the controller had sent Stop (it ends
// with its Final) and refuses new tests.
func (s *Server) Drain() { s.drainOnce.Do(func() { close(s.draining) }) }

// prepareTimeout bounds the wait for the first message of a Run stream.
const prepareTimeout = 30 * time.Second

// Status returns a snapshot of the agent's state and counters for
// monitoring. It is safe for concurrent use and costs the producers
// nothing: it reads what the agent keeps per interval.
func (s *Server) Status() Status { return s.mon.status() }

// Run runs one test: Prepare, Ready, Start, intervals, Final.
func (s *Server) Run(stream kperfv1.AgentService_RunServer) (err error) {
	if isClosed(s.draining) {
		return status.Error(codes.Unavailable, "agent is shutting down")
	}
	if !s.busy.CompareAndSwap(false, true) {
		return status.Error(codes.FailedPrecondition, "agent busy: another test is running")
	}
	defer s.busy.Store(false)
	s.mon.preparing()
	var r *runner
	defer func() { s.mon.finish(endReason(err, r)) }()

	first, err := recvWithin(stream, prepareTimeout)
	if errors.Is(err, io.EOF) {
		return status.Error(codes.InvalidArgument, "stream closed before Prepare")
	}
	if err != nil {
		return err
	}
	prep := first.GetPrepare()
	if prep == nil {
		return status.Error(codes.InvalidArgument, "first message must be Prepare")
	}
	if prep.GetProtocolVersion() != ProtocolVersion {
		return status.Errorf(codes.FailedPrecondition, "controller speaks protocol v%d, agent v%d", prep.GetProtocolVersion(), ProtocolVersion)
	}
	log := s.log.With("run_id", prep.GetRunId())
	a := prep.GetAssignment()
	if err := s.check(a); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	settings, err := props.Parse(a.GetProducerProps())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if need := settings.BufferBytes * int64(len(a.GetWorkers())); need > s.limits.MaxBufferBytes {
		return status.Errorf(codes.InvalidArgument, "buffer.memory %d x %d workers = %d bytes, agent limit is %d (kperf-agent --max-buffer-bytes)",
			settings.BufferBytes, len(a.GetWorkers()), need, s.limits.MaxBufferBytes)
	}

	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	began := time.Now()
	r, err = prepare(ctx, a, settings, log)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	defer r.close()
	s.mon.attach(r)
	log.Info("prepared", "workers", len(r.workers), "took", time.Since(began))
	if err := stream.Send(&kperfv1.RunResponse{Msg: &kperfv1.RunResponse_Ready{Ready: &kperfv1.Ready{PrepareNs: int64(time.Since(began))}}}); err != nil {
		return err
	}

	// From here one goroutine reads the controller (the lease) and this one
	// runs the test and does all the sending.
	lease := time.Duration(a.GetLeaseTimeoutNs())
	starts := make(chan *kperfv1.Start, 1)
	stop := newStopSignal()
	probes := make(chan clockProbe, 16)
	resume := make(chan struct{})
	r.resume = resume
	go readController(stream, lease, controlChans{starts: starts, stop: stop, probes: probes, resume: resume}, cancel, log)
	go func() {
		select {
		case <-s.draining:
			stop.stop(ReasonShutdown)
		case <-ctx.Done():
		}
	}()

	var st *kperfv1.Start
	for st == nil {
		select {
		case st = <-starts:
		case p := <-probes:
			if err := stream.Send(p.echo()); err != nil {
				return err
			}
		case <-stop.ch:
			return status.Errorf(codes.Canceled, "run ended before start: %s", stop.reason)
		case <-ctx.Done():
			return status.Errorf(codes.Canceled, "run ended before start: %v", context.Cause(ctx))
		}
	}
	r.clockOffset = st.GetClockOffsetNs()
	return r.run(ctx, stream, st.GetAtUnixNano(), stop, s.limits.MaxDuration, log)
}

// endReason classifies how a run ended, for Status.Runs: by the runner's
// own reason once it ran, else by the error's gRPC code.
func endReason(err error, r *runner) string {
	switch {
	case r != nil && r.endReason != "":
		return r.endReason
	case err == nil:
		return EndDone
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition:
		return EndRejected
	case codes.Canceled:
		return EndLeaseLost
	}
	return EndFailed
}

// check applies the agent's limits to an assignment.
func (s *Server) check(a *kperfv1.Assignment) error {
	switch {
	case a == nil:
		return errors.New("prepare without assignment")
	case a.GetTopic() == "":
		return errors.New("assignment has no topic")
	case len(a.GetBootstrapServers()) == 0:
		return errors.New("assignment has no bootstrap servers")
	case len(a.GetWorkers()) == 0 && a.GetConsumer().GetWorkers() <= 0:
		return errors.New("assignment has no workers")
	case len(a.GetWorkers()) > s.limits.MaxWorkers:
		return fmt.Errorf("assignment asks for %d workers, agent limit is %d", len(a.GetWorkers()), s.limits.MaxWorkers)
	case len(a.GetPayloads()) == 0 && (a.GetRecordSize() < 1 || int(a.GetRecordSize()) > s.limits.MaxRecordSize):
		return fmt.Errorf("record size %d outside 1..%d", a.GetRecordSize(), s.limits.MaxRecordSize)
	case a.GetIntervalNs() < int64(10*time.Millisecond):
		return fmt.Errorf("interval %v too short", time.Duration(a.GetIntervalNs()))
	case a.GetDriver() != "" && !slices.Contains(drivers, a.GetDriver()):
		return fmt.Errorf("driver %q not supported (agent has %v)", a.GetDriver(), drivers)
	case s.limits.MaxDuration > 0 && time.Duration(a.GetDurationNs()) > s.limits.MaxDuration:
		return fmt.Errorf("duration %v is over the agent limit %v (kperf-agent --max-duration)", time.Duration(a.GetDurationNs()), s.limits.MaxDuration)
	}
	if j := a.GetJitter(); !(j >= 0 && j <= 1) {
		return fmt.Errorf("jitter %v outside 0..1", j)
	}
	if err := checkConsumer(a, s.limits); err != nil {
		return err
	}
	for i, w := range a.GetWorkers() {
		if w.GetNumRecords() <= 0 && a.GetDurationNs() <= 0 {
			return fmt.Errorf("worker %d has neither a record count nor a duration", i)
		}
		if r := w.GetRatePerSec(); math.IsNaN(r) || math.IsInf(r, 0) {
			return fmt.Errorf("worker %d rate %v records/s is not a finite number", i, r)
		}
		// A counted, rate-limited worker's length is known up front.
		if rate := w.GetRatePerSec(); s.limits.MaxDuration > 0 && a.GetDurationNs() <= 0 && rate > 0 {
			if d := time.Duration(float64(w.GetNumRecords()) / rate * float64(time.Second)); d > s.limits.MaxDuration {
				return fmt.Errorf("worker %d: %d records at %g records/s take %v, over the agent limit %v (kperf-agent --max-duration)",
					i, w.GetNumRecords(), rate, d.Round(time.Second), s.limits.MaxDuration)
			}
		}
	}
	return nil
}

// recvWithin receives one message, giving up after d.
func recvWithin(stream kperfv1.AgentService_RunServer, d time.Duration) (*kperfv1.RunRequest, error) {
	type result struct {
		m   *kperfv1.RunRequest
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := stream.Recv()
		ch <- result{m, err}
	}()
	select {
	case r := <-ch:
		return r.m, r.err
	case <-time.After(d):
		return nil, status.Errorf(codes.DeadlineExceeded, "no Prepare within %v", d)
	}
}

// stopSignal stops a run gracefully, once, for the first reason given.
type stopSignal struct {
	once   sync.Once
	ch     chan struct{}
	reason string // set before ch is closed
}

func newStopSignal() *stopSignal { return &stopSignal{ch: make(chan struct{})} }

func (s *stopSignal) stop(reason string) {
	s.once.Do(func() {
		s.reason = reason
		close(s.ch)
	})
}

// controlChans carry the controller's messages from readController: Start,
// Stop (the stop signal), clock probes, and Resume (closes resume).
type controlChans struct {
	starts chan<- *kperfv1.Start
	stop   *stopSignal
	probes chan<- clockProbe
	resume chan<- struct{}
}

// readController reads the controller's messages until the stream ends.
// Every message renews the lease; when the lease expires or the stream
// breaks, the run is cancelled (an expired lease is logged: it is when an
// agent cut off from its controller stops producing). Stop stops the run
// gracefully.
func readController(stream kperfv1.AgentService_RunServer, lease time.Duration, ch controlChans, cancel context.CancelCauseFunc, log hclog.Logger) {
	msgs := make(chan *kperfv1.RunRequest)
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-stream.Context().Done():
				return
			}
		}
	}()
	timer := time.NewTimer(lease)
	defer timer.Stop()
	var resumeOnce sync.Once
	for {
		select {
		case m := <-msgs:
			timer.Reset(lease)
			switch {
			case m.GetStart() != nil:
				select {
				case ch.starts <- m.GetStart():
				default:
				}
			case m.GetStop() != nil:
				ch.stop.stop("stopped by controller")
			case m.GetClockProbe() != nil:
				select {
				case ch.probes <- clockProbe{sent: m.GetClockProbe().GetSentUnixNano(), received: time.Now().UnixNano()}:
				default: // probes come one at a time; a flood is dropped
				}
			case m.GetResume() != nil:
				resumeOnce.Do(func() { close(ch.resume) })
			}
		case err := <-errc:
			if errors.Is(err, io.EOF) {
				err = errors.New("controller closed the stream")
			}
			cancel(fmt.Errorf("lease lost: %w", err))
			return
		case <-timer.C:
			err := fmt.Errorf("lease expired: no controller message for %v", lease)
			log.Warn("stopping the run", "reason", err)
			cancel(err)
			return
		case <-stream.Context().Done():
			cancel(context.Cause(stream.Context()))
			return
		}
	}
}

// payloadsFor returns the record values of an assignment: the given
// payloads in a seeded random order, or several distinct values of random
// upper-case letters of the record size (the Java tool's alphabet, so
// compression behaves alike).
func payloadsFor(a *kperfv1.Assignment) [][]byte {
	r := rand.New(rand.NewPCG(uint64(a.GetSeed()), uint64(a.GetAgentIndex())))
	if len(a.GetPayloads()) > 0 {
		// Workers cycle through the payloads; shuffled, like the Java
		// tool's random pick.
		out := slices.Clone(a.GetPayloads())
		r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	size := int(a.GetRecordSize())
	n := min(64, max(1, (16<<20)/size))
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, size)
		for j := range b {
			b[j] = byte('A' + r.IntN(26))
		}
		out[i] = b
	}
	return out
}

// schedules builds each worker's schedule at the phase the controller gave
// it, with a distinct jitter seed per worker and agent.
func schedules(a *kperfv1.Assignment) []pace.Schedule {
	ws := a.GetWorkers()
	out := make([]pace.Schedule, len(ws))
	for i, w := range ws {
		seed := a.GetSeed() + int64(i) + int64(a.GetAgentIndex())<<20
		out[i] = pace.New(w.GetRatePerSec(), w.GetNumRecords(), time.Duration(w.GetPhaseNs()), a.GetJitter(), seed)
	}
	return out
}
