package controller

import (
	"math/rand/v2"
	"testing"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/internal/hist"
)

// BenchmarkMergeInterval1000Agents merges one interval from 1000 agents the
// way the controller does: four histograms per agent (ack latency and
// service time spread over milliseconds, a narrow send delay, no errors)
// plus counters, then the percentiles of the emitted window.
func BenchmarkMergeInterval1000Agents(b *testing.B) {
	const agents = 1000
	ivs := make([]*kperfv1.Interval, agents)
	for a := range ivs {
		r := rand.New(rand.NewPCG(uint64(a), 1))
		var ack, svc, delay, fails hist.Hist
		for range 5000 { // 5k records per agent per second: 5M/s in all
			d := int64(r.ExpFloat64() * 4e5)
			s := int64(1e6 + r.ExpFloat64()*2e6)
			if r.IntN(1000) == 0 {
				s *= 20
			}
			ack.Record(s + d)
			svc.Record(s)
			delay.Record(d)
		}
		ivs[a] = &kperfv1.Interval{Counters: &kperfv1.Counters{Acked: 5000, BytesAcked: 500_000},
			AckLatency: ack.Proto(), ServiceTime: svc.Proto(), SendDelay: delay.Proto(), ErrorLatency: fails.Proto()}
	}
	b.ReportAllocs()
	var seq int64
	for b.Loop() {
		var emitted *window
		m := newMerger(agents, func(w *window) error { emitted = w; return nil })
		m.next = seq
		for a, iv := range ivs {
			iv.Seq = seq
			if err := m.add(a, iv); err != nil {
				b.Fatal(err)
			}
		}
		if emitted == nil {
			b.Fatal("window not emitted")
		}
		emitted.ack.Percentiles(50, 95, 99, 99.9)
		emitted.service.Percentiles(99)
		emitted.delay.Percentiles(99)
		seq++
	}
}
