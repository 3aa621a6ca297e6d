package controller

import (
	"sync"

	"github.com/kperf/kperf/controller/report"
)

// RunState is what a controller is doing.
type RunState int

// The states of a controller, in the order a run goes through them.
const (
	// RunIdle: no run (before the first, between sweep steps, after the last).
	RunIdle RunState = iota
	// RunPreparing: dialling agents, preparing the topic and the agents.
	RunPreparing
	// RunRunning: agents are producing and intervals are merged.
	RunRunning
	// RunStopping: the agents were told to stop (interrupted) and their
	// final reports are awaited, or they have finished and the delivery
	// check and results are being written.
	RunStopping
)

// RunStates lists every RunState, for exporters that show each one.
var RunStates = []RunState{RunIdle, RunPreparing, RunRunning, RunStopping}

// String returns the state's lower-case name.
func (s RunState) String() string {
	switch s {
	case RunIdle:
		return "idle"
	case RunPreparing:
		return "preparing"
	case RunRunning:
		return "running"
	case RunStopping:
		return "stopping"
	}
	return "unknown"
}

// Results of a run, as counted in MonitorStatus.Runs.
const (
	ResultOK          = "ok"
	ResultFailed      = "failed"
	ResultInterrupted = "interrupted"
)

// MonitorStatus is a snapshot of a Monitor.
type MonitorStatus struct {
	// State is what the controller is doing now.
	State RunState
	// RunAcked, RunFailed and RunBytes are the current (or last) run's
	// merged counters, as of its last merged interval.
	RunAcked, RunFailed, RunBytes int64
	// Acked, Failed and Bytes are the same summed over every run of this
	// process.
	Acked, Failed, Bytes int64
	// RatePerSec is the acked records per second of the last merged
	// interval; 0 when no run is producing.
	RatePerSec float64
	// P50Ms and P99Ms are the ack latency percentiles of the last merged
	// interval, in milliseconds.
	P50Ms, P99Ms float64
	// AgentsConnected is the number of agents in the current run; 0 when
	// idle.
	AgentsConnected int
	// AgentsLost counts agents lost during runs of this process.
	AgentsLost int64
	// Step and Steps are the current sweep or search step (1-based) and how
	// many there are (at most, for a search); 0 outside sweeps and searches.
	Step, Steps int
	// Runs counts finished runs by result (ResultOK, ...).
	Runs map[string]int64
	// Consumed and RunConsumed count records consumed over every run of
	// this process and in the current (or last) run.
	Consumed, RunConsumed int64
	// ConsumerLag is the consumers' lag at the end of the last merged
	// interval; E2EP50Ms and E2EP99Ms are the end-to-end latency
	// percentiles of the last full one, in milliseconds. 0 without
	// consumers.
	ConsumerLag        int64
	E2EP50Ms, E2EP99Ms float64
}

// Monitor keeps the live state of one controller's runs for monitoring
// (the Prometheus exporter reads it). Run, RunSweep and RunSearch update it
// through Options.Monitor once per event and merged interval. It is safe for
// concurrent use; a nil *Monitor does nothing.
type Monitor struct {
	mu sync.Mutex
	st MonitorStatus
}

// NewMonitor returns an idle Monitor.
func NewMonitor() *Monitor {
	return &Monitor{st: MonitorStatus{Runs: map[string]int64{}}}
}

// Status returns a snapshot; a nil *Monitor's is idle with nothing
// counted.
func (m *Monitor) Status() MonitorStatus {
	if m == nil {
		return MonitorStatus{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.st
	s.Runs = make(map[string]int64, len(m.st.Runs))
	for k, v := range m.st.Runs {
		s.Runs[k] = v
	}
	return s
}

func (m *Monitor) update(f func(s *MonitorStatus)) {
	if m == nil {
		return
	}
	m.mu.Lock()
	f(&m.st)
	m.mu.Unlock()
}

// begin marks a new run: preparing, with its counters at zero.
func (m *Monitor) begin() {
	m.update(func(s *MonitorStatus) {
		s.State = RunPreparing
		s.RunAcked, s.RunFailed, s.RunBytes = 0, 0, 0
		s.RatePerSec, s.P50Ms, s.P99Ms = 0, 0, 0
		s.RunConsumed, s.ConsumerLag, s.E2EP50Ms, s.E2EP99Ms = 0, 0, 0, 0
	})
}

func (m *Monitor) setState(st RunState) { m.update(func(s *MonitorStatus) { s.State = st }) }

func (m *Monitor) agents(n int) { m.update(func(s *MonitorStatus) { s.AgentsConnected = n }) }

func (m *Monitor) agentLost() {
	m.update(func(s *MonitorStatus) {
		s.AgentsLost++
		s.AgentsConnected = max(0, s.AgentsConnected-1)
	})
}

// interval adds one merged interval. Only a full one (not a run's short
// tail) sets the rate and latency.
func (m *Monitor) interval(iv *report.Interval, full bool) {
	m.update(func(s *MonitorStatus) {
		s.RunAcked += iv.Records
		s.RunFailed += iv.Failed
		s.RunBytes += iv.Bytes
		s.Acked += iv.Records
		s.Failed += iv.Failed
		s.Bytes += iv.Bytes
		if c := iv.Consume; c != nil {
			s.RunConsumed += c.Records
			s.Consumed += c.Records
			s.ConsumerLag = c.Lag
			if full && c.Records > 0 {
				s.E2EP50Ms, s.E2EP99Ms = c.E2E.P50, c.E2E.P99
			}
		}
		if !full {
			return
		}
		s.RatePerSec = iv.RecordsPerSec()
		s.P50Ms, s.P99Ms = iv.Latency.P50, iv.Latency.P99
	})
}

// end marks the end of a run with its result.
func (m *Monitor) end(result string) {
	m.update(func(s *MonitorStatus) {
		s.State, s.AgentsConnected, s.RatePerSec = RunIdle, 0, 0
		s.Runs[result]++
	})
}

// step says that step i of total starts.
func (m *Monitor) step(i, total int) {
	m.update(func(s *MonitorStatus) { s.Step, s.Steps = i, total })
}
