package controller

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// FuzzPlan parses arbitrary plan text as YAML or JSON, resolves and splits
// it: nothing may panic; a parse error is one line; a Resolve or Split
// error is a *PlanError (exit 2) whose every line names a plan key; and an
// accepted plan splits exactly (per-worker counts and rates sum to the
// plan's totals).
func FuzzPlan(f *testing.F) {
	seeds := []string{
		"",
		"topic: performancetest\nnum_records: 10000000\nrecord_size: 250\nthroughput: -1\nworkers: 4\npartitions: 30\nproducer_props:\n  acks: \"1\"\n  compression.type: lz4\n  batch.size: \"100000\"\n  linger.ms: \"10\"\n",
		"sweep:\n  axes:\n    - {key: agents, values: [\"1\", \"2\", \"3\"]}\n    - {key: record-size, values: [\"100\", \"1024\"]}\n  warmup: 5s\n  cooldown: 10s\n",
		"producer_props:\n  acks: 1\n  linger.ms: 5\n  enable.idempotence: false\ntopic_configs: {min.insync.replicas: 2}\n",
		`{"topic":"t","num_records":"1000","throughput":100.5,"workers":3,"driver":"franz","jitter":0.5}`,
		`{"throughput":-1,"throughput_bytes":1e15,"record_size":1}`,
		"throughput: 1e10\nworkers: 1024\n",
		"duration: 30s\ninterval: 100ms\nlease_timeout: 1s\nbootstrap_servers: a:1, b:2,,\n",
		"num_records: 5\nworkers: 7\n",
		"topic: ..\nrecord_size: 0\nthroughput: 0\nworkers: 0\ninterval: 1ms\njitter: 2\ndriver: x\n",
		"nope: 1\n",
		"- a\n- b\n",
		"topic: [1, 2]\n",
		"producer_props: {acks: [1]}\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), uint8(3), uint16(0))
	}
	f.Add([]byte("throughput: 7\nthroughput_bytes: 3\n"), uint8(1), uint16(1))
	f.Fuzz(func(t *testing.T, text []byte, agents uint8, payloadSize uint16) {
		spec, err := ParsePlan(text)
		if err != nil {
			if msg := err.Error(); msg == "" || strings.Contains(msg, "\n") {
				t.Fatalf("ParsePlan error is not one line: %q", msg)
			}
			return
		}
		p, err := Resolve(spec)
		if err != nil {
			checkPlanError(t, "Resolve", err)
			return
		}
		var payloads [][]byte
		if payloadSize > 0 {
			payloads = [][]byte{make([]byte, payloadSize)}
			p.SetPayloads(payloads)
		}
		n := int(agents % 40)
		as, err := Split(p, n, payloads)
		if err != nil {
			if n == 0 {
				return // no agents: the caller's error, checked before Split
			}
			checkPlanError(t, "Split", err)
			return
		}
		if len(as) != n {
			t.Fatalf("Split into %d agents gave %d assignments", n, len(as))
		}
		var records, units int64
		rate := p.RatePerSec()
		for i, a := range as {
			if int(a.GetAgentIndex()) != i || int(a.GetAgentCount()) != n {
				t.Fatalf("assignment %d says agent %d of %d", i, a.GetAgentIndex(), a.GetAgentCount())
			}
			if len(a.GetWorkers()) != int(p.Spec.GetWorkers()) {
				t.Fatalf("agent %d has %d workers, plan says %d", i, len(a.GetWorkers()), p.Spec.GetWorkers())
			}
			for _, w := range a.GetWorkers() {
				if w.GetNumRecords() < 0 || (p.Spec.GetNumRecords() > 0 && w.GetNumRecords() == 0) {
					t.Fatalf("agent %d worker share of %d records: %d", i, p.Spec.GetNumRecords(), w.GetNumRecords())
				}
				records += w.GetNumRecords()
				if rate > 0 {
					if !(w.GetRatePerSec() > 0) {
						t.Fatalf("agent %d worker rate %v of a limited plan rate %v", i, w.GetRatePerSec(), rate)
					}
					units += int64(math.Round(w.GetRatePerSec() * 1e6))
				} else if w.GetRatePerSec() != rate {
					t.Fatalf("agent %d worker rate %v, unlimited plan rate %v", i, w.GetRatePerSec(), rate)
				}
				if w.GetPhaseNs() < 0 {
					t.Fatalf("agent %d worker phase %d", i, w.GetPhaseNs())
				}
			}
		}
		if records != p.Spec.GetNumRecords() {
			t.Fatalf("worker record counts sum to %d, plan says %d", records, p.Spec.GetNumRecords())
		}
		if want := int64(math.Round(rate * 1e6)); rate > 0 && units != want {
			t.Fatalf("worker rates sum to %d µrecords/s, plan rate %v is %d", units, rate, want)
		}
	})
}

// checkPlanError fails t unless err is a *PlanError whose every line names
// a plan key.
func checkPlanError(t *testing.T, op string, err error) {
	t.Helper()
	var pe *PlanError
	if !errors.As(err, &pe) {
		t.Fatalf("%s error %q is %T, not a *PlanError (exit 2)", op, err, err)
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, "plan key ") {
			t.Fatalf("%s error line %q does not name a plan key (whole error %q)", op, line, err)
		}
	}
}
