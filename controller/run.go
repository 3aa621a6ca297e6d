package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/kperf/kperf/agent"
	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller/report"
	"github.com/kperf/kperf/internal/hist"
	"github.com/kperf/kperf/internal/props"
)

// ErrDeliveryMismatch means the acked records and the growth of the
// topic's end offsets differ, or some records sent were never resolved.
var ErrDeliveryMismatch = errors.New("delivery check failed: acked records do not match the broker's end-offset growth, or records were left unresolved (see the delivery check line)")

// ErrPartial means some agent did not run its share to the end (lost
// mid-run, or shut down) and the plan does not set allow_partial. The
// summary says which agent and when.
var ErrPartial = errors.New("partial result: not every agent ran its share to the end (see the partial lines; plan key allow_partial accepts such results)")

// Options configure Run.
type Options struct {
	// Agents are the agents' host:port addresses.
	Agents []string
	// OutDir receives the results; "" makes results/<timestamp>.
	OutDir string
	// Stdout receives the report lines; nil discards them.
	Stdout io.Writer
	// Details receives the lines after the final line (latency kinds,
	// agents, delivery check, results directory) and the interrupt notice;
	// nil sends them to Stdout.
	Details io.Writer
	// Progress, when set, is told about every merged interval, and its live
	// line is cleared before each interval line is printed.
	Progress *Progress
	// Log receives lifecycle logs; nil discards them.
	Log hclog.Logger
	// DialTimeout bounds reaching each agent; default 10 s.
	DialTimeout time.Duration
	// DialOptions add transport security and credentials for reaching
	// agents (see internal/grpcauth); plaintext without them.
	DialOptions []grpc.DialOption
	// ReadyTimeout bounds preparing the agents; default 60 s.
	ReadyTimeout time.Duration
	// Version is the controller's build version.
	Version string
	// Intervals, when set, is given every merged interval as it is
	// reported.
	Intervals func(*report.Interval)
	// Monitor, when set, is kept up to date with the run's state and merged
	// counters (for the Prometheus exporter).
	Monitor *Monitor
}

func (o *Options) defaults() {
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Details == nil {
		o.Details = o.Stdout
	}
	if o.Log == nil {
		o.Log = hclog.NewNullLogger()
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	if o.OutDir == "" {
		o.OutDir = DefaultOutDir(time.Now())
	}
}

// DefaultOutDir is the results directory used when none is given:
// results/<timestamp> under the working directory.
func DefaultOutDir(now time.Time) string {
	return filepath.Join("results", now.Format("20060102-150405"))
}

// finalGrace is how long agents get to send their Final after Stop or after
// the planned end: longer than the clients' own close budget
// (request.timeout.ms + 10 s) and the agents' stall limit.
func (p *Plan) finalGrace() time.Duration {
	return p.Producer.RequestTimeout + 30*time.Second
}

// Run runs spec on the agents and returns the summary. It prints interval
// lines and the final lines to o.Stdout and writes the results directory.
// When ctx is cancelled the agents are stopped, and the partial results are
// reported as interrupted. A delivery mismatch returns the summary and
// ErrDeliveryMismatch.
func Run(ctx context.Context, spec *kperfv1.TestPlan, o Options) (s *report.Summary, err error) {
	o.defaults()
	o.Monitor.begin()
	defer func() { o.Monitor.end(resultOf(ctx, s, err)) }()
	p, err := Resolve(spec)
	if err != nil {
		return nil, err
	}
	if len(p.BootstrapServer) == 0 {
		return nil, &PlanError{errors.New("plan key bootstrap_servers is not set (flag --bootstrap-servers)")}
	}
	if len(o.Agents) == 0 {
		return nil, &PlanError{errors.New("no agents: give --agents host:port,... or --local N")}
	}
	agents := o.Agents
	if n := int(p.Spec.GetAgentCount()); n > 0 {
		if n > len(agents) {
			return nil, &PlanError{fmt.Errorf("plan key agent_count: plan asks for %d agents, only %d given", n, len(agents))}
		}
		agents = agents[:n]
	}
	var payloads [][]byte
	if f := p.Spec.GetPayloadFile(); f != "" {
		if payloads, err = ReadPayloads(f, p.Spec.GetPayloadDelimiter()); err != nil {
			return nil, err
		}
		p.SetPayloads(payloads)
	}
	assignments, err := Split(p, len(agents), payloads)
	if err != nil {
		return nil, err
	}

	conns, err := dialAll(ctx, agents, o.DialTimeout, o.DialOptions...)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range conns {
			c.conn.Close()
		}
	}()
	infos := make([]*kperfv1.InfoResponse, len(conns))
	for i, c := range conns {
		infos[i] = c.info
	}
	if err := SameVersion(agents, infos); err != nil {
		return nil, err
	}
	for _, c := range conns {
		if c.info.GetBusy() {
			return nil, &AgentError{c.addr, errors.New("busy with another test")}
		}
		if d := p.Spec.GetDriver(); !slices.Contains(c.info.GetDrivers(), d) {
			return nil, &AgentError{c.addr, fmt.Errorf("has no driver %q (it has %v)", d, c.info.GetDrivers())}
		}
	}

	adm, err := newAdmin(p.BootstrapServer, p.kafkaSecurity())
	if err != nil {
		return nil, err
	}
	defer adm.close()
	partitions, maxBytes, err := adm.ensureTopic(ctx, p.Spec.GetTopic(), p.Spec.GetPartitions(), int16(p.Spec.GetReplicationFactor()), p.Spec.GetTopicConfigs())
	if err != nil {
		return nil, fmt.Errorf("kafka %v: %w", p.BootstrapServer, err)
	}
	if largest := largestRecord(p, payloads); largest+recordOverhead > maxBytes {
		return nil, fmt.Errorf("plan key record_size: %d-byte records do not fit topic %s's max.message.bytes %d", largest, p.Spec.GetTopic(), maxBytes)
	}
	before, err := adm.endOffsets(ctx, p.Spec.GetTopic())
	if err != nil {
		return nil, fmt.Errorf("kafka %v: %w", p.BootstrapServer, err)
	}
	for _, k := range p.Producer.Ignored {
		fmt.Fprintf(o.Details, "producer property %s: accepted, not applied (%s)\n", k, props.IgnoredWhy(k))
	}
	o.Log.Info("topic ready", "topic", p.Spec.GetTopic(), "partitions", partitions, "end_offsets", before)
	var consumeBefore map[int32]int64
	if p.Consume != nil {
		if consumeBefore, err = adm.partitionOffsets(ctx, p.Spec.GetTopic(), true); err != nil {
			return nil, fmt.Errorf("kafka %v: %w", p.BootstrapServer, err)
		}
	}

	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("results directory: %w", err)
	}
	r := &run{o: o, plan: p, conns: conns, runID: newRunID(), adm: adm, cons: newConsumeRun(p, len(conns), consumeBefore)}
	s, err = r.execute(ctx, assignments)
	if err != nil {
		return nil, err
	}
	o.Monitor.setState(RunStopping)
	s.Partitions = partitions
	after, offErr := adm.settledEndOffsets(context.WithoutCancel(ctx), p.Spec.GetTopic(), before, s.Records)
	s.DeliveryCheck = report.Delivery{Acked: s.Records, BrokerOffsetDelta: after - before}
	anyLost := false
	for _, a := range s.Agents {
		if a.Lost {
			anyLost = true
			continue // its records in flight when it was lost are in no count
		}
		s.DeliveryCheck.Unresolved += a.Sent - a.Records - a.Failed
	}
	if anyLost {
		// A lost agent's last acks never arrived: every acked record must
		// be on the broker, and more may be.
		s.DeliveryCheck.Unaccounted = max(0, after-before-s.Records)
		s.DeliveryCheck.OK = offErr == nil && s.Records <= after-before && s.DeliveryCheck.Unresolved == 0
	} else {
		s.DeliveryCheck.OK = offErr == nil && s.Records == after-before && s.DeliveryCheck.Unresolved == 0
	}
	if offErr != nil {
		s.DeliveryCheck.BrokerOffsetDelta = 0
		s.DeliveryCheck.Error = offErr.Error()
	}
	r.cons.check(context.WithoutCancel(ctx), adm, p.Spec.GetTopic(), consumeBefore, s.Consume)
	if err := report.WriteSummary(o.OutDir, s); err != nil {
		return nil, fmt.Errorf("write results: %w", err)
	}
	o.Progress.Clear()
	if p.Spec.GetWorkers() > 0 {
		fmt.Fprintln(o.Stdout, report.FinalLine(s))
		report.PrintDetails(o.Details, s)
	} else { // consumers alone: no produce lines
		for _, r := range s.PartialReasons {
			fmt.Fprintf(o.Details, "partial: %s\n", r)
		}
	}
	report.PrintConsume(o.Details, s.Consume)
	fmt.Fprintf(o.Details, "results in %s\n", o.OutDir)
	switch {
	case offErr != nil:
		return s, fmt.Errorf("delivery check: kafka %v: %w", p.BootstrapServer, offErr)
	case !s.DeliveryCheck.OK && p.Spec.GetWorkers() > 0: // consumers alone produce nothing to check
		return s, ErrDeliveryMismatch
	case s.Partial && !p.Spec.GetAllowPartial():
		return s, ErrPartial
	}
	return s, nil
}

// resultOf classifies a run's outcome for Monitor.
func resultOf(ctx context.Context, s *report.Summary, err error) string {
	switch {
	case ctx.Err() != nil || (s != nil && s.Interrupted):
		return ResultInterrupted
	case err != nil:
		return ResultFailed
	}
	return ResultOK
}

// recordOverhead is a generous bound on the record batch and record headers
// around one value.
const recordOverhead = 128

func largestRecord(p *Plan, payloads [][]byte) int {
	if len(payloads) == 0 {
		return int(p.Spec.GetRecordSize())
	}
	n := 0
	for _, b := range payloads {
		n = max(n, len(b))
	}
	return n
}

func newRunID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// run is one test across agents in progress.
type run struct {
	o     Options
	plan  *Plan
	conns []*agentConn
	runID string

	intervals                     []report.Interval
	ack, service, delay, failures hist.Hist
	hlog                          *report.Hlog
	start                         time.Time
	// producersEnd is the latest time an agent's producers finished
	// (Unix ns, agent clocks), from the finals.
	producersEnd int64
	behind       int
	clamped      int64
	errors       map[string]int64

	adm  *admin
	cons *consumeRun // nil without consumers
	ctl  []chan *kperfv1.RunRequest
}

// event is one message or error from one agent's stream.
type event struct {
	agent int
	msg   *kperfv1.RunResponse
	err   error
}

// execute drives the Run streams: prepare all, start together, merge, and
// collect finals.
func (r *run) execute(ctx context.Context, assignments []*kperfv1.Assignment) (*report.Summary, error) {
	// Streams live in their own context: cancelling it closes every stream,
	// which stops every agent at once.
	sctx, closeStreams := context.WithCancel(context.WithoutCancel(ctx))
	defer closeStreams()
	n := len(r.conns)
	events := make(chan event, 16*n)
	ctl := make([]chan *kperfv1.RunRequest, n)
	r.ctl = ctl
	r.cons.setGroup(assignments, r.runID)
	if err := r.cons.pinStart(ctx, r.adm, r.plan.Spec.GetTopic()); err != nil {
		return nil, fmt.Errorf("kafka %v: %w", r.plan.BootstrapServer, err)
	}
	// Each stream also has its own context, to let go of one lost agent.
	drop := make([]context.CancelFunc, n)
	for i, c := range r.conns {
		actx, cancel := context.WithCancel(sctx)
		drop[i] = cancel
		defer cancel()
		stream, err := c.client.Run(actx)
		if err != nil {
			return nil, &AgentError{c.addr, fmt.Errorf("open run: %w", err)}
		}
		ctl[i] = make(chan *kperfv1.RunRequest, 4)
		go sendLoop(actx, stream, ctl[i], r.plan.LeaseTimeout/4, i, events)
		go recvLoop(actx, stream, i, events)
		r.o.Monitor.agents(i + 1)
		ctl[i] <- &kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Prepare{Prepare: &kperfv1.Prepare{
			RunId: r.runID, ProtocolVersion: agent.ProtocolVersion, Assignment: assignments[i]}}}
	}

	// Every agent must be ready before anyone starts.
	readyBy := time.NewTimer(r.o.ReadyTimeout)
	defer readyBy.Stop()
	var maxRTT time.Duration
	for _, c := range r.conns {
		maxRTT = max(maxRTT, c.rtt)
	}
	for ready := 0; ready < n; {
		select {
		case ev := <-events:
			if ev.err != nil {
				return nil, &AgentError{r.conns[ev.agent].addr, fmt.Errorf("prepare: %w", ev.err)}
			}
			if ev.msg.GetReady() == nil {
				return nil, &AgentError{r.conns[ev.agent].addr, fmt.Errorf("prepare: unexpected %T", ev.msg.GetMsg())}
			}
			ready++
		case <-readyBy.C:
			return nil, fmt.Errorf("agents not ready after %v", r.o.ReadyTimeout)
		case <-ctx.Done():
			return nil, fmt.Errorf("interrupted while preparing agents: %w", context.Cause(ctx))
		}
	}

	offsets, err := r.cons.prepare(ctx, r, ctl, events)
	if err != nil {
		return nil, err
	}

	// Start together, far enough ahead that the Start message reaches all.
	margin := max(300*time.Millisecond, 5*maxRTT)
	r.start = time.Now().Add(margin)
	for i := range ctl {
		ctl[i] <- &kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Start{Start: &kperfv1.Start{AtUnixNano: r.start.UnixNano(), ClockOffsetNs: offsets[i]}}}
	}
	r.o.Log.Info("starting", "agents", n, "at", r.start.Format(time.RFC3339Nano), "run_id", r.runID)
	r.o.Monitor.setState(RunRunning)
	if r.hlog, err = report.CreateHlog(r.o.OutDir, r.start); err != nil {
		return nil, fmt.Errorf("write results: %w", err)
	}
	defer r.hlog.Close()

	agentsOut := make([]report.Agent, n)
	started := make([]int64, n)
	for i, c := range r.conns {
		agentsOut[i] = report.Agent{Address: c.addr, Hostname: c.info.GetHostname(), Version: c.info.GetVersion(), Workers: int(r.plan.Spec.GetWorkers())}
	}
	m := newMerger(n, r.emit)
	interrupted := false
	var stopTimeout <-chan time.Time
	stopAll := func() {
		for i := range ctl {
			select {
			case ctl[i] <- &kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Stop{Stop: &kperfv1.Stop{Reason: "controller interrupted"}}}:
			default:
			}
		}
		stopTimeout = time.After(r.plan.finalGrace())
		r.o.Monitor.setState(RunStopping)
	}
	done := ctx.Done()
	// Agents bound their own runs; this bounds the controller's wait for
	// them, should an agent stay silent without breaking its stream.
	var overdue <-chan time.Time
	// Consumers run until they are idle or done, however long that takes;
	// their agents' streams and leases still end a run whose agent is lost.
	if planned := r.plan.PlannedLength(); planned > 0 && r.cons == nil {
		t := time.NewTimer(time.Until(r.start.Add(planned + r.plan.LeaseTimeout + 2*r.plan.finalGrace())))
		defer t.Stop()
		overdue = t.C
	}
	// An agent whose stream breaks, or that says nothing for the lease
	// timeout (agents report every interval), is lost: the run goes on with
	// the others and its counts stop at its last interval.
	silence := max(r.plan.LeaseTimeout, 2*r.plan.Interval)
	lastHeard := make([]time.Time, n)
	for i := range lastHeard {
		lastHeard[i] = time.Now()
	}
	lost := make([]bool, n)
	ended := make([]bool, n) // sent its Final or was lost
	var partial []string
	lose := func(i int, why string) error {
		a := &agentsOut[i]
		at := time.Since(r.start).Seconds()
		a.Lost, a.LostAtS, a.EndReason = true, at, "lost: "+why
		lost[i], ended[i] = true, true
		drop[i]()
		partial = append(partial, fmt.Sprintf("agent %s lost at %.1fs (%s); its counts end with its last report at %.1fs",
			r.conns[i].addr, at, why, a.LastIntervalEndS))
		fmt.Fprintf(r.o.Details, "agent %s lost: %s; going on with the others\n", r.conns[i].addr, why)
		r.o.Log.Warn("agent lost", "agent", r.conns[i].addr, "reason", why)
		r.o.Monitor.agentLost()
		return m.finish(i, m.received(i))
	}
	check := time.NewTicker(max(100*time.Millisecond, min(time.Second, silence/4)))
	defer check.Stop()
	endedCount := func() int {
		k := 0
		for _, e := range ended {
			if e {
				k++
			}
		}
		return k
	}
	for endedCount() < n || !m.allDone() {
		select {
		case <-overdue:
			return nil, fmt.Errorf("%d of %d agents sent no final report by %v after the planned end", n-endedCount(), n, r.plan.LeaseTimeout+2*r.plan.finalGrace())
		case <-check.C:
			for i := range r.conns {
				if !ended[i] && time.Since(lastHeard[i]) > silence {
					if err := lose(i, fmt.Sprintf("silent for %v", silence)); err != nil {
						return nil, &AgentError{r.conns[i].addr, err}
					}
				}
			}
		case ev := <-events:
			addr := r.conns[ev.agent].addr
			if lost[ev.agent] {
				continue // what a lost agent's stream says after we let go
			}
			lastHeard[ev.agent] = time.Now()
			if ev.err != nil {
				if ended[ev.agent] {
					continue
				}
				if err := lose(ev.agent, ev.err.Error()); err != nil {
					return nil, &AgentError{addr, err}
				}
				continue
			}
			switch msg := ev.msg.GetMsg().(type) {
			case *kperfv1.RunResponse_Started:
				started[ev.agent] = msg.Started.GetStartedUnixNano()
			case *kperfv1.RunResponse_Interval:
				iv := msg.Interval
				a := &agentsOut[ev.agent]
				c := iv.GetCounters()
				a.Records += c.GetAcked()
				a.Bytes += c.GetBytesAcked()
				a.Failed += c.GetFailed()
				a.Sent = iv.GetSentTotal()
				a.LastIntervalEndS = float64(iv.GetEndUnixNano()-r.start.UnixNano()) / 1e9
				if err := m.add(ev.agent, iv); err != nil {
					return nil, &AgentError{addr, err}
				}
			case *kperfv1.RunResponse_Final:
				f := msg.Final
				t := f.GetTotals()
				a := &agentsOut[ev.agent]
				if a.Records != t.GetAcked() {
					return nil, &AgentError{addr, fmt.Errorf("final count %d acked differs from its intervals' %d", t.GetAcked(), a.Records)}
				}
				r.producersEnd = max(r.producersEnd, f.GetEndUnixNano())
				a.Records, a.Bytes, a.Failed, a.Sent, a.EndReason = t.GetAcked(), t.GetBytesAcked(), t.GetFailed(), t.GetSent(), f.GetReason()
				ended[ev.agent] = true
				r.cons.final(ev.agent, f.GetConsume())
				if f.GetReason() == agent.ReasonShutdown && !interrupted {
					partial = append(partial, fmt.Sprintf("agent %s shut down at %.1fs, before the end of the run; its final report is included",
						addr, float64(f.GetEndUnixNano()-r.start.UnixNano())/1e9))
				}
				if err := m.finish(ev.agent, f.GetIntervals()); err != nil {
					return nil, &AgentError{addr, err}
				}
			default:
				return nil, &AgentError{addr, fmt.Errorf("unexpected %T during the run", msg)}
			}
		case <-done:
			interrupted, done = true, nil
			fmt.Fprintln(r.o.Details, "interrupted: stopping agents")
			stopAll()
		case <-stopTimeout:
			return nil, fmt.Errorf("agents sent no final report within %v of stop", r.plan.finalGrace())
		}
	}
	s, err := r.summary(agentsOut, started, interrupted)
	if err != nil {
		return nil, err
	}
	s.Partial, s.PartialReasons = len(partial) > 0, partial
	return s, nil
}

// sendLoop owns the sending side of one agent's stream: controller
// messages and heartbeats.
func sendLoop(ctx context.Context, stream kperfv1.AgentService_RunClient, ctl <-chan *kperfv1.RunRequest, every time.Duration, agent int, events chan<- event) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		var m *kperfv1.RunRequest
		select {
		case <-ctx.Done():
			return
		case m = <-ctl:
		case <-tick.C:
			m = &kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Heartbeat{Heartbeat: &kperfv1.Heartbeat{SentUnixNano: time.Now().UnixNano()}}}
		}
		if err := stream.Send(m); err != nil {
			return // the receiving side reports the stream's error
		}
	}
}

// recvLoop forwards one agent's messages until its stream ends.
func recvLoop(ctx context.Context, stream kperfv1.AgentService_RunClient, agent int, events chan<- event) {
	for {
		m, err := stream.Recv()
		ev := event{agent: agent, msg: m}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return // the agent ended the stream after its Final
			}
			ev = event{agent: agent, err: errors.New(status.Convert(err).Message())}
		}
		select {
		case events <- ev:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// emit reports one merged window.
func (r *run) emit(w *window) error {
	startS := float64(w.start-r.start.UnixNano()) / 1e9
	iv := report.Interval{
		Seq: w.seq, StartS: max(0, startS), EndS: float64(w.end-r.start.UnixNano()) / 1e9,
		Records: w.acked, Bytes: w.bytes, Failed: w.failed, Sent: w.sent, Agents: w.agents, GeneratorBehind: w.behind,
		InFlight: w.inFlight, Latency: report.LatencyOf(&w.ack),
		ServiceP99Ms: float64(w.service.Percentiles(99)[0]) / 1e6, SendDelayP99Ms: float64(w.delay.Percentiles(99)[0]) / 1e6,
		Errors: maps.Clone(w.errors),
	}
	if err := r.cons.interval(r, &iv, w, r.ctl); err != nil {
		return err
	}
	r.intervals = append(r.intervals, iv)
	// Like kafka-producer-perf-test, print full windows only: a short tail
	// window (the run's last moments) is in intervals.csv and the summary.
	if r.o.Intervals != nil {
		r.o.Intervals(&iv)
	}
	full := iv.EndS-iv.StartS >= r.plan.Interval.Seconds()/2
	if full {
		r.o.Progress.Clear()
		if r.plan.Spec.GetWorkers() > 0 {
			fmt.Fprintln(r.o.Stdout, report.IntervalLine(&iv))
		}
		if iv.Consume != nil {
			fmt.Fprintln(r.o.Stdout, report.ConsumeLine(&iv))
		}
	}
	r.o.Monitor.interval(&iv, full)
	r.o.Progress.Interval(&iv)
	r.ack.Add(&w.ack)
	r.service.Add(&w.service)
	r.delay.Add(&w.delay)
	r.failures.Add(&w.fails)
	r.clamped += w.clamped
	if w.behind > 0 {
		r.behind++
	}
	for k, v := range w.errors {
		if r.errors == nil {
			r.errors = map[string]int64{}
		}
		r.errors[k] += v
	}
	ws, we := time.Unix(0, w.start), time.Unix(0, w.end)
	for _, h := range []struct {
		tag string
		h   *hist.Hist
	}{{"", &w.ack}, {"service", &w.service}, {"send_delay", &w.delay}} {
		if err := r.hlog.Add(h.tag, ws, we, h.h); err != nil {
			return fmt.Errorf("write latency.hlog: %w", err)
		}
	}
	return nil
}

func (r *run) summary(agents []report.Agent, started []int64, interrupted bool) (*report.Summary, error) {
	s := &report.Summary{
		RunID: r.runID, StartedAt: r.start.UTC().Format(time.RFC3339Nano), Topic: r.plan.Spec.GetTopic(),
		TargetRecordsPerSec: r.plan.RatePerSec(), LatencyMs: report.LatencyOf(&r.ack),
		ServiceTimeMs: report.LatencyOf(&r.service), SendDelayMs: report.LatencyOf(&r.delay),
		Errors: r.errors, Clamped: r.clamped, Intervals: len(r.intervals), GeneratorBehindIntervals: r.behind,
		Agents: agents, Interrupted: interrupted, ControllerVersion: r.o.Version,
	}
	if r.failures.Count() > 0 {
		l := report.LatencyOf(&r.failures)
		s.ErrorLatencyMs = &l
	}
	// The run lasts until the end of the last interval in which records were
	// acked: failures that trickle in after a broker died do not stretch the
	// window of the records that were delivered.
	var end int64
	for _, iv := range r.intervals {
		if iv.Records > 0 {
			end = max(end, int64(iv.EndS*1e9))
		}
	}
	// With consumers the agents go on reporting after their producers
	// finish, so the last window with acks can be a full interval that
	// ends well after the last ack: end with the producers instead.
	if pe := r.producersEnd - r.start.UnixNano(); r.producersEnd > 0 && pe > 0 && pe < end {
		end = pe
	}
	lo, hi := int64(0), int64(0)
	for i, a := range agents {
		s.Records += a.Records
		s.Bytes += a.Bytes
		s.Failed += a.Failed
		s.Sent += a.Sent
		if started[i] != 0 {
			agents[i].StartOffsetMs = float64(started[i]-r.start.UnixNano()) / 1e6
			if lo == 0 || started[i] < lo {
				lo = started[i]
			}
			hi = max(hi, started[i])
		}
	}
	s.StartSkewMs = float64(hi-lo) / 1e6
	s.DurationS = float64(end) / 1e9
	if s.DurationS > 0 {
		s.RecordsPerSec = float64(s.Records) / s.DurationS
		s.MBPerSec = float64(s.Bytes) / (1 << 20) / s.DurationS
	}
	if s.Records != r.ack.Count() {
		return nil, fmt.Errorf("agents' final counts (%d acked) differ from their intervals (%d)", s.Records, r.ack.Count())
	}
	recorded := proto.Clone(r.plan.Spec).(*kperfv1.TestPlan)
	recorded.ProducerProps = props.Redact(recorded.ProducerProps) // the results never hold secrets
	if c := recorded.GetConsumer(); c != nil {
		c.ConsumerProps = props.Redact(c.ConsumerProps)
	}
	plan, err := protojson.Marshal(recorded)
	if err != nil {
		return nil, fmt.Errorf("encode plan: %w", err)
	}
	s.Plan = plan
	s.Consume = r.cons.summary(r.start, r.intervals)
	if err := report.WriteIntervals(r.o.OutDir, r.intervals); err != nil {
		return nil, fmt.Errorf("write results: %w", err)
	}
	return s, nil
}
