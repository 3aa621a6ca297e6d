package agent

import (
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

// State is what an agent is doing.
type State int

// The states of an agent, in the order a run goes through them.
const (
	// StateIdle: no run.
	StateIdle State = iota
	// StatePreparing: a controller opened a run; the agent is connecting to
	// Kafka, building payloads or waiting for the start time.
	StatePreparing
	// StateRunning: workers are producing.
	StateRunning
	// StateStopping: producing has ended (plan done, stop, lease lost); the
	// agent awaits records in flight and sends its final report.
	StateStopping
)

// States lists every State, for exporters that show each one.
var States = []State{StateIdle, StatePreparing, StateRunning, StateStopping}

// String returns the state's lower-case name.
func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StatePreparing:
		return "preparing"
	case StateRunning:
		return "running"
	case StateStopping:
		return "stopping"
	}
	return "unknown"
}

// Reasons a run ends, as counted in Status.Runs.
const (
	// EndDone: the plan's records or duration were produced.
	EndDone = "done"
	// EndStopped: the controller sent Stop.
	EndStopped = "stopped"
	// EndShutdown: the agent shut down (SIGTERM) during the run, which
	// stopped it gracefully.
	EndShutdown = "shutdown"
	// EndMaxDuration: the agent's --max-duration cap stopped the run.
	EndMaxDuration = "max_duration"
	// EndStalled: records stayed in flight with none acked past the stall
	// limit.
	EndStalled = "stalled"
	// EndLeaseLost: the controller's stream broke or went quiet (or the
	// run was cancelled before it started).
	EndLeaseLost = "lease_lost"
	// EndDeadline: the hard deadline (planned end plus grace) passed.
	EndDeadline = "deadline"
	// EndRejected: the plan was refused (bad assignment, over a limit,
	// protocol mismatch).
	EndRejected = "rejected"
	// EndFailed: preparing failed (Kafka unreachable) or the stream could
	// not be written.
	EndFailed = "failed"
)

// MaxErrorKinds bounds the distinct error kinds Status keeps; failures of
// further kinds are counted under OtherErrorKind.
const MaxErrorKinds = 32

// OtherErrorKind counts failures beyond MaxErrorKinds distinct kinds.
const OtherErrorKind = "other"

// Status is a snapshot of an agent for monitoring. Counters are totals
// since the agent started, over all runs. Acked, Failed, BytesAcked,
// Errors, InFlight and RatePerSec change once per reporting interval of a
// run (the values sent to the controller); Sent is read live.
type Status struct {
	// State is what the agent is doing now.
	State State
	// Workers is the current run's number of producer workers; 0 when idle.
	Workers int
	// Sent counts records handed to Kafka clients.
	Sent int64
	// Acked, Failed and BytesAcked count completed records.
	Acked, Failed, BytesAcked int64
	// Errors counts failed records by error kind (at most MaxErrorKinds
	// kinds, then OtherErrorKind).
	Errors map[string]int64
	// InFlight is the records sent and not yet completed at the last
	// interval; 0 when idle.
	InFlight int64
	// RatePerSec is the acked records per second of the last full
	// interval; 0 when idle.
	RatePerSec float64
	// Runs counts finished runs by end reason (EndDone, EndStopped, ...).
	Runs map[string]int64
}

// monitor keeps an agent's Status. It is safe for concurrent use; the
// running test updates it once per interval, never per record.
type monitor struct {
	mu   sync.Mutex
	st   Status // Sent excludes the current run's records
	cur  *runner
	runs map[string]int64
}

func newMonitor() *monitor {
	return &monitor{st: Status{Errors: map[string]int64{}}, runs: map[string]int64{}}
}

// status returns a snapshot.
func (m *monitor) status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.st
	if m.cur != nil {
		s.Sent += m.cur.sent()
	}
	s.Errors = maps.Clone(m.st.Errors)
	s.Runs = maps.Clone(m.runs)
	return s
}

// preparing marks the start of a run.
func (m *monitor) preparing() {
	m.mu.Lock()
	m.st.State = StatePreparing
	m.mu.Unlock()
}

// attach makes r the current run, once its workers exist.
func (m *monitor) attach(r *runner) {
	m.mu.Lock()
	m.cur = r
	m.st.Workers = len(r.workers)
	m.mu.Unlock()
	r.mon = m
}

// setState sets the state of run r, unless r is no longer current.
func (m *monitor) setState(r *runner, s State) {
	if m == nil {
		return
	}
	m.mu.Lock()
	if m.cur == r {
		m.st.State = s
	}
	m.mu.Unlock()
}

// interval adds one interval's counters of run r; d is the window's length.
// A window shorter than half the interval (a run's tail) does not set the
// rate.
func (m *monitor) interval(r *runner, iv *kperfv1.Interval, d time.Duration) {
	if m == nil {
		return
	}
	c := iv.GetCounters()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st.Acked += c.GetAcked()
	m.st.Failed += c.GetFailed()
	m.st.BytesAcked += c.GetBytesAcked()
	for k, v := range c.GetErrors() {
		if _, ok := m.st.Errors[k]; !ok && len(m.st.Errors) >= MaxErrorKinds {
			k = OtherErrorKind
		}
		m.st.Errors[k] += v
	}
	m.st.InFlight = iv.GetInFlight()
	if d > 0 && 2*d >= time.Duration(r.interval) {
		m.st.RatePerSec = float64(c.GetAcked()) / d.Seconds()
	}
}

// finish ends the current run (if any) with reason.
func (m *monitor) finish(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur != nil {
		m.st.Sent += m.cur.sent()
		m.cur = nil
	}
	m.st.State, m.st.Workers, m.st.InFlight, m.st.RatePerSec = StateIdle, 0, 0, 0
	m.runs[reason]++
}

// Ends lists every end reason, for exporters that show each one.
var Ends = []string{EndDone, EndStopped, EndShutdown, EndMaxDuration, EndStalled, EndLeaseLost, EndDeadline, EndRejected, EndFailed}

// maxDurationReason is the Final reason of a run stopped by the
// --max-duration cap d.
func maxDurationReason(d time.Duration) string {
	return fmt.Sprintf("agent limit reached: ran for --max-duration %v", d)
}

// stopEnd classifies a graceful stop by its reason.
func stopEnd(reason string, maxDuration time.Duration) string {
	switch {
	case reason == ReasonShutdown:
		return EndShutdown
	case maxDuration > 0 && reason == maxDurationReason(maxDuration):
		return EndMaxDuration
	}
	return EndStopped
}

// errHardDeadline is the cause of a run cancelled by its hard deadline.
var errHardDeadline = errors.New("hard deadline passed")
