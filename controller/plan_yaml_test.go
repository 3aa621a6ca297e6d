package controller

import (
	"strings"
	"testing"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

func TestParsePlanUnquotedMapScalars(t *testing.T) {
	t.Parallel()
	p, err := ParsePlan([]byte("producer_props:\n  acks: 1\n  linger.ms: 5\n  enable.idempotence: false\ntopic_configs: {min.insync.replicas: 2}\n"))
	if err != nil {
		t.Fatalf("ParsePlan: %v", err)
	}
	want := map[string]string{"acks": "1", "linger.ms": "5", "enable.idempotence": "false"}
	for k, v := range want {
		if got := p.GetProducerProps()[k]; got != v {
			t.Errorf("producer_props[%s] = %q, want %q", k, got, v)
		}
	}
	if got := p.GetTopicConfigs()["min.insync.replicas"]; got != "2" {
		t.Errorf("topic_configs[min.insync.replicas] = %q, want 2", got)
	}
}

func TestParsePlanUnquotedSweepValues(t *testing.T) {
	t.Parallel()
	p, err := ParsePlan([]byte("sweep:\n  axes:\n    - key: agents\n      values: [1, 2]\n"))
	if err != nil {
		t.Fatalf("ParsePlan: %v", err)
	}
	if got := p.GetSweep().GetAxes()[0].GetValues(); len(got) != 2 || got[0] != "1" || got[1] != "2" {
		t.Errorf("sweep values = %q, want [1 2]", got)
	}
}

func TestParsePlanErrorsUsePlanKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		plan string
		want string
	}{
		{plan: "num_records: abc\n", want: "plan key num_records"},
		{plan: "numRecords: abc\n", want: "plan key num_records"},
		{plan: "producer_props: 5\n", want: "plan key producer_props"},
		{plan: "producer_props: {acks: [1, 2]}\n", want: "plan key producer_props.acks"},
		{plan: "- 1\n- 2\n", want: "mapping"},
	}
	for _, tc := range tests {
		_, err := ParsePlan([]byte(tc.plan))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "line 1:") {
			t.Errorf("ParsePlan(%q) error = %v, want one naming %q without JSON positions", tc.plan, err, tc.want)
		}
	}
}

func TestThroughputBytesUsesPayloadSizes(t *testing.T) {
	t.Parallel()
	p, err := Resolve(mustParse(t, "throughput_bytes: 1000\nrecord_size: 100\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.RatePerSec(); got != 10 {
		t.Errorf("RatePerSec() = %v with 100-byte records, want 10", got)
	}
	p.SetPayloads([][]byte{[]byte("12345"), []byte("123456789012345")})
	if got := p.RatePerSec(); got != 100 {
		t.Errorf("RatePerSec() = %v with 10-byte mean payloads, want 100", got)
	}
}

func TestSplitRejectsUnsplittableRate(t *testing.T) {
	t.Parallel()
	p, err := Resolve(mustParse(t, "throughput: 0.000001\nworkers: 4\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Split(p, 2, nil); err == nil || !strings.Contains(err.Error(), "throughput") {
		t.Errorf("Split of 1e-6 records/s over 8 workers: error %v, want one naming throughput", err)
	}
}

func TestSplitSpreadsPhases(t *testing.T) {
	t.Parallel()
	p, err := Resolve(mustParse(t, "throughput: 4000\nworkers: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	as, err := Split(p, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 4 workers at 1000/s: 1 ms ticks, phases 0, 250, 500, 750 µs.
	var got []int64
	for _, a := range as {
		for _, w := range a.GetWorkers() {
			got = append(got, w.GetPhaseNs())
		}
	}
	want := []int64{0, 250_000, 500_000, 750_000}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("phases = %v, want %v", got, want)
		}
	}
}

func mustParse(t *testing.T, yaml string) *kperfv1.TestPlan {
	t.Helper()
	p, err := ParsePlan([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
