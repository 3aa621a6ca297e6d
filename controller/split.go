package controller

import (
	"fmt"
	"math"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/internal/pace"
)

// Split divides a plan across agents and their workers: record counts and
// rates are split exactly (the shares sum to the plan's totals), every
// worker gets its own share, and each agent gets one Assignment.
func Split(p *Plan, agents int, payloads [][]byte) ([]*kperfv1.Assignment, error) {
	if agents < 1 {
		return nil, fmt.Errorf("no agents to split the plan across")
	}
	s := p.Spec
	perAgent := int(s.GetWorkers())
	total := agents * perAgent
	counts := pace.SplitCount(s.GetNumRecords(), total)
	if n := s.GetNumRecords(); n > 0 && n < int64(total) {
		return nil, &PlanError{fmt.Errorf("plan key num_records: %d is fewer than the %d workers (%d agents x %d)", n, total, agents, perAgent)}
	}
	rate := p.RatePerSec()
	if rate > MaxRate {
		// Only throughput_bytes over small records gets here (throughput
		// itself is capped by Resolve); beyond MaxRate the split's integer
		// units overflow.
		return nil, &PlanError{fmt.Errorf("plan key throughput_bytes: %v bytes/s of %v-byte records is %v records/s, above the maximum %g",
			s.GetThroughputBytes(), p.ValueBytes, rate, float64(MaxRate))}
	}
	if rate > 0 && math.Round(rate*1e6) < float64(total) {
		return nil, &PlanError{fmt.Errorf("plan key throughput: %v records/s is too low to split across %d workers", rate, total)}
	}
	rates := pace.SplitRate(rate, total)
	out := make([]*kperfv1.Assignment, agents)
	for a := range out {
		ws := make([]*kperfv1.WorkerAssignment, perAgent)
		for w := range ws {
			i := a*perAgent + w
			// Phase offsets spread all workers of all agents evenly over one
			// tick, so they do not send in lockstep.
			period := pace.New(rates[i], 0, 0, 0, 0).Period()
			ws[w] = &kperfv1.WorkerAssignment{NumRecords: counts[i], RatePerSec: rates[i],
				PhaseNs: int64(period) * int64(i) / int64(total)}
		}
		out[a] = &kperfv1.Assignment{
			Topic:            s.GetTopic(),
			BootstrapServers: p.BootstrapServer,
			RecordSize:       s.GetRecordSize(),
			Workers:          ws,
			DurationNs:       int64(p.Duration),
			IntervalNs:       int64(p.Interval),
			ProducerProps:    s.GetProducerProps(),
			Payloads:         payloads,
			Driver:           s.GetDriver(),
			Jitter:           s.GetJitter(),
			Seed:             s.GetSeed(),
			LeaseTimeoutNs:   int64(p.LeaseTimeout),
			AgentIndex:       int32(a),
			AgentCount:       int32(agents),
		}
	}
	return out, nil
}
