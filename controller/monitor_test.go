package controller

import (
	"testing"

	"github.com/kperf/kperf/controller/report"
)

// TestMonitorAcrossRuns checks that a run's counters restart with each run
// while the totals keep counting, and that a short tail window does not set
// the rate or latency.
func TestMonitorAcrossRuns(t *testing.T) {
	t.Parallel()
	m := NewMonitor()
	for run := 1; run <= 2; run++ {
		m.begin()
		if st := m.Status(); st.State != RunPreparing || st.RunAcked != 0 {
			t.Fatalf("run %d begun: state %v run acked %d, want preparing and 0", run, st.State, st.RunAcked)
		}
		m.agents(3)
		m.setState(RunRunning)
		m.interval(&report.Interval{StartS: 0, EndS: 1, Records: 1000, Bytes: 100_000, Failed: 2, Latency: report.Latency{P50: 4, P99: 20}}, true)
		m.interval(&report.Interval{StartS: 1, EndS: 1.01, Records: 10, Latency: report.Latency{P50: 90, P99: 900}}, false)
		st := m.Status()
		if st.RunAcked != 1010 || st.RunFailed != 2 || st.RunBytes != 100_000 || st.Acked != int64(run)*1010 || st.Failed != int64(run)*2 {
			t.Errorf("run %d: run acked/failed/bytes %d/%d/%d, totals %d/%d; want 1010/2/100000 and %d/%d",
				run, st.RunAcked, st.RunFailed, st.RunBytes, st.Acked, st.Failed, run*1010, run*2)
		}
		if st.RatePerSec != 1000 || st.P50Ms != 4 || st.P99Ms != 20 || st.AgentsConnected != 3 {
			t.Errorf("run %d: rate %v p50 %v p99 %v agents %d; want the full window's 1000/s, 4 ms, 20 ms and 3 agents",
				run, st.RatePerSec, st.P50Ms, st.P99Ms, st.AgentsConnected)
		}
		m.agentLost()
		m.end(ResultFailed)
	}
	st := m.Status()
	if st.State != RunIdle || st.AgentsConnected != 0 || st.RatePerSec != 0 || st.AgentsLost != 2 || st.Runs[ResultFailed] != 2 || st.RunAcked != 1010 {
		t.Errorf("after two runs: %+v; want idle, no agents or rate, 2 lost, 2 failed runs, last run's 1010 acked kept", st)
	}
	var nilMon *Monitor
	nilMon.begin()
	nilMon.interval(&report.Interval{Records: 1}, true)
	if st := nilMon.Status(); st.Acked != 0 || st.State != RunIdle {
		t.Errorf("nil Monitor Status = %+v, want zero", st)
	}
}

func TestMonitorConsumeSide(t *testing.T) {
	t.Parallel()
	m := NewMonitor()
	for run := 1; run <= 2; run++ {
		m.begin()
		m.interval(&report.Interval{StartS: 0, EndS: 1, Consume: &report.ConsumeInterval{Records: 900, Lag: 100, E2E: report.Latency{P50: 3, P99: 30}}}, true)
		m.interval(&report.Interval{StartS: 1, EndS: 1.01, Consume: &report.ConsumeInterval{Records: 100, Lag: 0, E2E: report.Latency{P50: 99, P99: 999}}}, false)
		st := m.Status()
		if st.RunConsumed != 1000 || st.Consumed != int64(run)*1000 || st.ConsumerLag != 0 || st.E2EP50Ms != 3 || st.E2EP99Ms != 30 {
			t.Errorf("run %d: %+v; want 1000 consumed this run, %d in all, the last lag 0, the full window's e2e 3/30 ms", run, st, run*1000)
		}
	}
}
