package consumer

import (
	"strings"
	"testing"
	"time"

	"github.com/kperf/kperf/agent/producer"
	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

func batch(p int32, hwm int64, offsets ...int64) *Batch {
	b := &Batch{}
	b.Reset(p)
	b.HighWatermark = hwm
	for _, o := range offsets {
		b.Add(o, 0, 10)
	}
	return b
}

func TestWorkerCountsRangesLagAndLimit(t *testing.T) {
	t.Parallel()
	clock := producer.NewClock()
	sh := NewShared(5)
	w := NewWorker(clock, sh)
	w.Begin(0)
	w.Assigned([]int32{0, 1}, 0)
	if n := w.Consumed(batch(0, 10, 3, 4, 5), 1); n != 3 {
		t.Fatalf("Consumed = %d, want 3", n)
	}
	// Only 2 more fit under the limit of 5.
	if n := w.Consumed(batch(1, 8, 0, 1, 2), 2); n != 2 {
		t.Fatalf("Consumed at the limit = %d, want 2", n)
	}
	select {
	case <-sh.Full():
	default:
		t.Error("Full not closed at the limit")
	}
	var win Window
	w.Drain(&win, 0, 100)
	if win.Records != 5 || win.Bytes != 50 || win.Fetches != 2 || win.Partitions != 2 || win.Unstamped != 5 {
		t.Errorf("window %+v: want 5 records, 50 bytes, 2 fetches, 2 partitions, 5 unstamped", win)
	}
	// Lag: partition 0 at 6 of 10, partition 1 at 2 of 8.
	if win.Lag != 4+6 {
		t.Errorf("lag %d, want 10", win.Lag)
	}
	var tot kperfv1.ConsumeTotals
	w.Totals(&tot)
	got := map[int32][2]int64{}
	for _, pr := range tot.GetRanges() {
		if len(pr.GetRanges()) != 1 {
			t.Fatalf("partition %d ranges %v, want one", pr.GetPartition(), pr.GetRanges())
		}
		got[pr.GetPartition()] = [2]int64{pr.GetRanges()[0].GetFrom(), pr.GetRanges()[0].GetTo()}
	}
	if got[0] != [2]int64{3, 6} || got[1] != [2]int64{0, 2} || tot.GetRecords() != 5 {
		t.Errorf("ranges %v, records %d; want [3,6) and [0,2), 5", got, tot.GetRecords())
	}
}

func TestWorkerEndToEndOnControllerClock(t *testing.T) {
	t.Parallel()
	clock := producer.NewClock()
	w := NewWorker(clock, NewShared(0))
	const offset = int64(2 * time.Second) // this agent's clock runs 2 s ahead
	w.SetClockOffset(offset)
	now := clock.Now()
	// Stamped 30 ms before now on the controller's clock.
	stampCtl := clock.Wall(now) - offset - int64(30*time.Millisecond)
	b := &Batch{}
	b.Reset(0)
	b.Add(0, stampCtl, 1)
	w.Consumed(b, now)
	var win Window
	w.Drain(&win, now, now+1)
	if win.E2E.Count() != 1 || win.E2E.Max() != int64(30*time.Millisecond) {
		t.Errorf("e2e count %d max %v, want one value of 30ms", win.E2E.Count(), time.Duration(win.E2E.Max()))
	}
}

func TestWorkerRebalanceTime(t *testing.T) {
	t.Parallel()
	w := NewWorker(producer.NewClock(), NewShared(0))
	ms := int64(time.Millisecond)
	w.Assigned([]int32{0}, 50*ms) // the join, before the start
	w.Begin(100 * ms)
	var win Window
	w.Drain(&win, 100*ms, 1100*ms)
	if win.RebalanceNs != 0 {
		t.Errorf("first window rebalance %v, want 0 (the join is not run time)", time.Duration(win.RebalanceNs))
	}
	w.Revoked([]int32{0}, 1300*ms)
	w.Assigned([]int32{0}, 1500*ms)
	w.Revoked([]int32{0}, 1900*ms) // still rebalancing at the window end
	win.Reset()
	w.Drain(&win, 1100*ms, 2100*ms)
	if win.RebalanceNs != 400*ms {
		t.Errorf("window rebalance %v, want 200ms + 200ms", time.Duration(win.RebalanceNs))
	}
	w.Assigned([]int32{0}, 2150*ms)
	w.Closing()
	w.Revoked([]int32{0}, 3000*ms) // leaving the group: not a rebalance
	var tot kperfv1.ConsumeTotals
	w.Drain(&win, 2100*ms, 3100*ms)
	w.Totals(&tot)
	if tot.GetRebalanceNs() != 450*ms || tot.GetJoinNs() != 50*ms-w.created {
		t.Errorf("totals rebalance %v join %v, want 450ms and the join", time.Duration(tot.GetRebalanceNs()), time.Duration(tot.GetJoinNs()))
	}
}

func TestParseSettings(t *testing.T) {
	t.Parallel()
	s, err := Parse(map[string]string{"fetch.max.wait.ms": "100", "auto.offset.reset": "earliest", "max.poll.records": "42", "bootstrap.servers": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxWait != 100*time.Millisecond || !s.Earliest || s.MaxPollRecords != 42 || s.FetchMinBytes != 1 {
		t.Errorf("Parse = %+v", s)
	}
	for _, bad := range []map[string]string{{"auto.offset.reset": "none"}, {"fetch.min.bytes": "x"}, {"nope": "1"},
		{"heartbeat.interval.ms": "50000", "session.timeout.ms": "10000"}} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%v) = nil error, want one", bad)
		}
	}
}

func TestParseSecurity(t *testing.T) {
	t.Parallel()
	s, err := Parse(map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
		"sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="secret-pw";`})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Security.SASL() || s.Security.Username != "u" || s.Security.Mechanism != "SCRAM-SHA-256" {
		t.Errorf("security %+v, want SCRAM-SHA-256 as u", s.Security)
	}
	_, err = Parse(map[string]string{"sasl.mechanism": "PLAIN", "sasl.jaas.config": "x password=\"secret-pw\""})
	if err == nil || !strings.Contains(err.Error(), "consumer property") || strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("SASL property without a SASL protocol: %v, want a consumer property error without the password", err)
	}
}

func TestWorkerIdleCountsFromTheLatestOfGateAssignmentAndRecord(t *testing.T) {
	t.Parallel()
	w := NewWorker(producer.NewClock(), NewShared(0))
	w.Opened(10)
	w.Assigned([]int32{0}, 50) // joined after the gate opened
	if got := w.LastConsume(); got != 50 {
		t.Errorf("LastConsume after a late join = %d, want 50", got)
	}
	w.Consumed(batch(0, -1, 0), 60)
	w.Assigned([]int32{1}, 55)
	if got := w.LastConsume(); got != 60 {
		t.Errorf("LastConsume = %d, want the record's 60", got)
	}
}

func TestWorkerIsNotIdleWhileRebalancing(t *testing.T) {
	t.Parallel()
	w := NewWorker(producer.NewClock(), NewShared(0))
	w.Opened(0)
	w.Assigned([]int32{0}, 10)
	w.Consumed(batch(0, -1, 0), 20)
	if got := w.Idle(120, 1000); got != 100 {
		t.Errorf("Idle 100 after the last record = %d, want 100", got)
	}
	w.Revoked([]int32{0}, 130) // a rebalance begins
	if got := w.Idle(1000, 1000); got != 0 {
		t.Errorf("Idle during a rebalance within the allowance = %d, want 0", got)
	}
	if got := w.Idle(1630, 1000); got != 500 {
		t.Errorf("Idle 500 past the allowance = %d, want 500", got)
	}
	w.Assigned([]int32{0}, 1700)
	if got := w.Idle(1750, 1000); got != 50 {
		t.Errorf("Idle after the new assignment = %d, want 50", got)
	}
}
