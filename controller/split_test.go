package controller

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

// microUnits is a rate in millionths of a record per second, Split's
// resolution.
func microUnits(rate float64) int64 { return int64(math.Round(rate * 1e6)) }

func mustResolve(t *testing.T, spec *kperfv1.TestPlan) *Plan {
	t.Helper()
	p, err := Resolve(spec)
	if err != nil {
		t.Fatalf("Resolve(%v): %v", spec, err)
	}
	return p
}

func TestSplitSumsExactly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		numRecords int64
		throughput float64
		agents     int
		workers    int32
	}{
		{numRecords: 1000, throughput: 5000, agents: 1, workers: 1},
		{numRecords: 1000, throughput: 1000, agents: 3, workers: 1},
		{numRecords: 1001, throughput: 1000, agents: 3, workers: 7},
		{numRecords: 999_999_999, throughput: 333_333.333333, agents: 7, workers: 13},
		{numRecords: 10, throughput: 0.7, agents: 2, workers: 5}, // one record per worker
		{numRecords: 0, throughput: 1e6 / 3, agents: 3, workers: 3},
		{numRecords: 0, throughput: 1234567.891234, agents: 16, workers: 64},
		{numRecords: 65_537, throughput: 2e6, agents: 1000, workers: 4},
		{numRecords: 17, throughput: 0.000123, agents: 1, workers: 17},
		{numRecords: 0, throughput: 2.0 / 3, agents: 2, workers: 2}, // 666666.67 µrecords/s rounds up
		{numRecords: 0, throughput: 4.35, agents: 3, workers: 1},    // 4.35e6 is 4349999.999... in float64
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d records at %v/s over %dx%d", tc.numRecords, tc.throughput, tc.agents, tc.workers), func(t *testing.T) {
			t.Parallel()
			p := mustResolve(t, &kperfv1.TestPlan{
				NumRecords: proto.Int64(tc.numRecords), Throughput: proto.Float64(tc.throughput), Workers: proto.Int32(tc.workers),
			})
			as, err := Split(p, tc.agents, nil)
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			if len(as) != tc.agents {
				t.Fatalf("Split gave %d assignments, want %d", len(as), tc.agents)
			}
			var records, units int64
			minRec, maxRec := int64(math.MaxInt64), int64(math.MinInt64)
			for a, asg := range as {
				if got := len(asg.GetWorkers()); got != int(tc.workers) {
					t.Fatalf("agent %d has %d workers, want %d", a, got, tc.workers)
				}
				for w, wa := range asg.GetWorkers() {
					if wa.GetRatePerSec() <= 0 {
						t.Errorf("agent %d worker %d rate = %v, want a positive share", a, w, wa.GetRatePerSec())
					}
					if tc.numRecords > 0 && wa.GetNumRecords() < 1 {
						t.Errorf("agent %d worker %d num_records = %d, want at least 1", a, w, wa.GetNumRecords())
					}
					records += wa.GetNumRecords()
					units += microUnits(wa.GetRatePerSec())
					minRec, maxRec = min(minRec, wa.GetNumRecords()), max(maxRec, wa.GetNumRecords())
				}
			}
			if records != tc.numRecords {
				t.Errorf("sum of num_records = %d, want %d", records, tc.numRecords)
			}
			if want := microUnits(tc.throughput); units != want {
				t.Errorf("sum of rates = %d µrecords/s, want %d", units, want)
			}
			if maxRec-minRec > 1 {
				t.Errorf("num_records shares range %d..%d, want them to differ by at most 1", minRec, maxRec)
			}
		})
	}
}

func TestSplitRateFromThroughputBytes(t *testing.T) {
	t.Parallel()
	p := mustResolve(t, &kperfv1.TestPlan{ThroughputBytes: proto.Float64(1 << 20), RecordSize: proto.Int32(1000), Workers: proto.Int32(3)})
	as, err := Split(p, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	var units int64
	for _, a := range as {
		for _, w := range a.GetWorkers() {
			units += microUnits(w.GetRatePerSec())
		}
	}
	if want := microUnits(float64(1<<20) / 1000); units != want {
		t.Errorf("sum of rates = %d µrecords/s, want %d (throughput_bytes / record_size)", units, want)
	}
}

// TestSplitRejectsByteRateAboveMaxRate: throughput_bytes over 1-byte
// records can ask for more than MaxRate records/s, where the split's
// integer units overflow; found by FuzzPlan.
func TestSplitRejectsByteRateAboveMaxRate(t *testing.T) {
	t.Parallel()
	p := mustResolve(t, &kperfv1.TestPlan{ThroughputBytes: proto.Float64(1e15), RecordSize: proto.Int32(1), Throughput: proto.Float64(-1)})
	_, err := Split(p, 1, nil)
	var pe *PlanError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "plan key throughput_bytes") {
		t.Fatalf("Split error = %v, want a *PlanError naming throughput_bytes", err)
	}
}

func TestSplitUnlimited(t *testing.T) {
	t.Parallel()
	p := mustResolve(t, &kperfv1.TestPlan{Throughput: proto.Float64(-1), NumRecords: proto.Int64(100), Workers: proto.Int32(4)})
	as, err := Split(p, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	var records int64
	for a, asg := range as {
		for w, wa := range asg.GetWorkers() {
			if wa.GetRatePerSec() != -1 {
				t.Errorf("agent %d worker %d rate = %v, want -1 (unlimited)", a, w, wa.GetRatePerSec())
			}
			records += wa.GetNumRecords()
		}
	}
	if records != 100 {
		t.Errorf("sum of num_records = %d, want 100", records)
	}
}

func TestSplitFewerRecordsThanWorkers(t *testing.T) {
	t.Parallel()
	p := mustResolve(t, &kperfv1.TestPlan{NumRecords: proto.Int64(5), Workers: proto.Int32(2)})
	as, err := Split(p, 3, nil)
	if err == nil {
		t.Fatalf("Split(5 records, 3 agents x 2 workers) = %v, want an error", as)
	}
	if !strings.Contains(err.Error(), "plan key num_records:") {
		t.Errorf("Split error = %q, want it to name num_records", err)
	}
	if _, err := Split(p, 2, nil); err != nil {
		t.Errorf("Split(5 records, 2 agents x 2 workers): %v", err)
	}
}

func TestSplitNoAgents(t *testing.T) {
	t.Parallel()
	p := mustResolve(t, &kperfv1.TestPlan{})
	if as, err := Split(p, 0, nil); err == nil {
		t.Errorf("Split(0 agents) = %v, want an error", as)
	}
}

func TestSplitAssignmentFields(t *testing.T) {
	t.Parallel()
	p := mustResolve(t, &kperfv1.TestPlan{
		Topic: "t", BootstrapServers: "b1:9092,b2:9092", RecordSize: proto.Int32(64), Duration: "2m",
		Interval: "500ms", LeaseTimeout: "7s", ProducerProps: map[string]string{"acks": "1"},
		Jitter: proto.Float64(0.3), Seed: proto.Int64(42), Workers: proto.Int32(2),
	})
	payloads := [][]byte{[]byte("a"), []byte("bb")}
	as, err := Split(p, 3, payloads)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range as {
		if a.GetAgentIndex() != int32(i) || a.GetAgentCount() != 3 {
			t.Errorf("assignment %d agent_index/agent_count = %d/%d, want %d/3", i, a.GetAgentIndex(), a.GetAgentCount(), i)
		}
		type fields struct {
			Topic                     string
			Servers                   []string
			RecordSize                int32
			Duration, Interval, Lease time.Duration
			Props                     map[string]string
			Payloads                  [][]byte
			Driver                    string
			Jitter                    float64
			Seed                      int64
		}
		got := fields{a.GetTopic(), a.GetBootstrapServers(), a.GetRecordSize(), time.Duration(a.GetDurationNs()),
			time.Duration(a.GetIntervalNs()), time.Duration(a.GetLeaseTimeoutNs()), a.GetProducerProps(), a.GetPayloads(),
			a.GetDriver(), a.GetJitter(), a.GetSeed()}
		want := fields{"t", []string{"b1:9092", "b2:9092"}, 64, 2 * time.Minute, 500 * time.Millisecond, 7 * time.Second,
			map[string]string{"acks": "1"}, payloads, "sarama", 0.3, 42}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("assignment %d mismatch (-want +got):\n%s", i, diff)
		}
	}
}
