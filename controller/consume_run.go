package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller/report"
	"github.com/kperf/kperf/internal/hist"
)

// consumeWindow is the merge of one interval's consume side over agents.
type consumeWindow struct {
	present                            bool
	records, bytes, fetches, unstamped int64
	rebalanceNs, lag                   int64
	partitions, consuming              int
	e2e                                hist.Hist
}

func (c *consumeWindow) add(m *kperfv1.ConsumeWindow) error {
	if m == nil {
		return nil
	}
	c.present = true
	if err := c.e2e.AddProto(m.GetE2ELatency()); err != nil {
		return err
	}
	c.records += m.GetRecords()
	c.bytes += m.GetBytes()
	c.fetches += m.GetFetches()
	c.unstamped += m.GetUnstamped()
	c.rebalanceNs = max(c.rebalanceNs, m.GetRebalanceNs())
	c.lag += m.GetLag()
	c.partitions += int(m.GetPartitions())
	if m.GetConsuming() {
		c.consuming++
	}
	return nil
}

// consumeRun is the controller's consume side of one run.
type consumeRun struct {
	plan    *Consume
	group   string
	before  map[int32]int64 // the topic's end offsets before the run
	clocks  []ClockEstimate
	e2e     hist.Hist
	finals  []*kperfv1.ConsumeTotals
	started time.Time // when the consumers were to begin (start + delay, or resume)
	// backlog test
	produced, producedBytes int64 // acked so far
	resumed                 bool
	resumeAtS               float64
	backlogAtResume         int64
	drainedAtS              float64
	drained                 bool
	consumedSinceResume     int64
	bytesSinceResume        int64
	consumed                int64
	producedAll             int64 // acked records so far
	stopSent                bool
}

func newConsumeRun(p *Plan, agents int, before map[int32]int64) *consumeRun {
	if p.Consume == nil {
		return nil
	}
	c := &consumeRun{plan: p.Consume, finals: make([]*kperfv1.ConsumeTotals, agents)}
	if p.Spec.GetWorkers() > 0 {
		c.before = before // consumers alone read what is there, as the Java tool
	}
	return c
}

// groupFor fills in the group id of every assignment: the plan's, or one
// made from the run id.
func (c *consumeRun) setGroup(assignments []*kperfv1.Assignment, runID string) {
	if c == nil {
		return
	}
	c.group = c.plan.GroupID
	if c.group == "" {
		c.group = "kperf-" + runID
	}
	for _, a := range assignments {
		if a.Consumer != nil {
			a.Consumer.GroupId = c.group
		}
	}
}

// addConsumers gives every assignment its consumers, and makes producers
// stamp their records.
func addConsumers(p *Plan, out []*kperfv1.Assignment) {
	c := p.Consume
	if c == nil {
		return
	}
	for _, a := range out {
		if p.Spec.GetWorkers() == 0 {
			// Consumers alone: no produce duration bounds the agent's run.
			a.DurationNs = 0
		}
		a.StampRecords = true
		a.Consumer = &kperfv1.ConsumerAssignment{
			Workers:       int32(c.Workers),
			GroupId:       c.GroupID,
			ConsumerProps: c.Props,
			StartDelayNs:  int64(c.StartDelay),
			// Each agent may consume the whole count (the partitions'
			// records are not split evenly); the controller stops the run
			// once the total is reached.
			NumRecords:    c.NumRecords,
			IdleTimeoutNs: int64(c.IdleTimeout),
			WaitForResume: c.Backlog(),
			JoinAtStart:   p.Spec.GetWorkers() == 0,
		}
	}
}

// groupStableTimeout bounds the wait for every consumer to join.
const groupStableTimeout = 60 * time.Second

// prepare runs after every agent is ready and before Start: it estimates
// the agents' clocks and waits until every consumer has joined the group.
// It returns the agents' clock offsets (nil without consumers).
func (c *consumeRun) prepare(ctx context.Context, r *run, ctl []chan *kperfv1.RunRequest, events <-chan event) ([]int64, error) {
	if c == nil {
		return make([]int64, len(ctl)), nil
	}
	var err error
	if c.clocks, err = r.syncClocks(ctx, ctl, events); err != nil {
		return nil, err
	}
	offsets := make([]int64, len(c.clocks))
	for i, e := range c.clocks {
		offsets[i] = int64(e.Offset)
	}
	if r.plan.Spec.GetWorkers() == 0 {
		return offsets, nil // consumers alone join at the start
	}
	members := c.plan.Workers * len(ctl)
	if err := r.adm.waitGroupStable(ctx, c.group, members, groupStableTimeout); err != nil {
		return nil, err
	}
	return offsets, nil
}

// waitGroupStable waits until group is Stable with members members.
func (a *admin) waitGroupStable(ctx context.Context, group string, members int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		gs, err := a.adm.DescribeGroups(ctx, group)
		if err == nil {
			if g, ok := gs[group]; ok && g.Err == nil {
				last = fmt.Sprintf("state %s with %d of %d members", g.State, len(g.Members), members)
				if g.State == "Stable" && len(g.Members) == members {
					return nil
				}
			} else if ok {
				last = g.Err.Error()
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("consumer group %s not stable with %d members after %v (%s)", group, members, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// interval adds a merged window's consume side to iv and to the run.
func (c *consumeRun) interval(r *run, iv *report.Interval, w *window, ctl []chan *kperfv1.RunRequest) error {
	if c == nil {
		return nil
	}
	cw := &w.consume
	iv.Consume = &report.ConsumeInterval{Records: cw.records, Bytes: cw.bytes, Fetches: cw.fetches,
		RebalanceMs: float64(cw.rebalanceNs) / 1e6, Lag: cw.lag, Partitions: cw.partitions, E2E: report.LatencyOf(&cw.e2e),
		Unstamped: cw.unstamped, Consuming: cw.consuming}
	c.e2e.Add(&cw.e2e)
	c.consumed += cw.records
	c.producedAll += w.acked
	if cw.consuming == 0 && r.plan.Spec.GetWorkers() > 0 {
		// Waiting consumers fetch nothing, so they know no lag: the backlog
		// is what was produced since the (pinned) start.
		iv.Consume.Lag = max(0, c.producedAll-c.consumed)
	}
	if n := c.plan.NumRecords; n > 0 && c.consumed >= n && !c.stopSent {
		// Each agent stops at the count on its own; the others stop here.
		c.stopSent = true
		for i := range ctl {
			select {
			case ctl[i] <- &kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Stop{Stop: &kperfv1.Stop{Reason: "consumed the record count"}}}:
			default:
			}
		}
	}
	if err := r.hlog.Add("e2e", time.Unix(0, w.start), time.Unix(0, w.end), &cw.e2e); err != nil {
		return fmt.Errorf("write latency.hlog: %w", err)
	}
	if !c.plan.Backlog() {
		return nil
	}
	c.produced += w.acked
	c.producedBytes += w.bytes
	switch {
	case !c.resumed:
		reached := (c.plan.BacklogRecs > 0 && c.produced >= c.plan.BacklogRecs) || (c.plan.BacklogBytes > 0 && c.producedBytes >= c.plan.BacklogBytes)
		// Producers that stopped short of the backlog: drain what there is.
		stopped := w.acked == 0 && c.produced > 0
		if reached || stopped {
			c.resume(iv.EndS, ctl)
		}
	case !c.drained:
		c.consumedSinceResume += cw.records
		c.bytesSinceResume += cw.bytes
		// Caught up: less than one interval's production behind.
		if cw.consuming > 0 && cw.records > 0 && cw.lag <= max(w.acked, 1) {
			c.drained, c.drainedAtS = true, iv.EndS
		}
	}
	return nil
}

// resume lets the consumers drain the backlog built so far.
func (c *consumeRun) resume(atS float64, ctl []chan *kperfv1.RunRequest) {
	c.resumed, c.resumeAtS, c.backlogAtResume = true, atS, c.produced
	for i := range ctl {
		select {
		case ctl[i] <- &kperfv1.RunRequest{Msg: &kperfv1.RunRequest_Resume{Resume: &kperfv1.Resume{}}}:
		default:
		}
	}
}

// final keeps an agent's consume totals.
func (c *consumeRun) final(agent int, t *kperfv1.ConsumeTotals) {
	if c == nil {
		return
	}
	c.finals[agent] = t
}

// summary returns the consume side of the run.
func (c *consumeRun) summary(start time.Time, intervals []report.Interval) *report.Consume {
	if c == nil {
		return nil
	}
	s := &report.Consume{GroupID: c.group, Workers: c.plan.Workers, E2ELatencyMs: report.LatencyOf(&c.e2e), E2ERecords: c.e2e.Count()}
	for _, e := range c.clocks {
		s.Clock.OffsetsMs = append(s.Clock.OffsetsMs, float64(e.Offset)/1e6)
		s.Clock.UncertaintyMs = max(s.Clock.UncertaintyMs, float64(e.Uncertainty)/1e6)
	}
	var lastRecord int64 // controller clock
	for i, f := range c.finals {
		s.JoinMs = max(s.JoinMs, float64(f.GetJoinNs())/1e6)
		s.EndReasons = append(s.EndReasons, f.GetReason())
		if t := f.GetLastRecordUnixNano(); t != 0 {
			if i < len(c.clocks) {
				t -= int64(c.clocks[i].Offset)
			}
			lastRecord = max(lastRecord, t)
		}
	}
	begin := c.plan.StartDelay.Seconds()
	if c.plan.Backlog() {
		begin = c.resumeAtS
	}
	var end, rebalance float64
	for _, iv := range intervals {
		ci := iv.Consume
		if ci == nil {
			continue
		}
		s.Records += ci.Records
		s.Bytes += ci.Bytes
		s.Fetches += ci.Fetches
		s.Unstamped += ci.Unstamped
		s.MaxLag = max(s.MaxLag, ci.Lag)
		s.FinalLag = ci.Lag
		if ci.Records > 0 {
			end = iv.EndS
		}
		if iv.EndS > begin {
			rebalance += ci.RebalanceMs / 1e3
		}
	}
	s.RebalanceMs = rebalance * 1e3
	if lastRecord > 0 {
		// The last record's own time, not its interval's end.
		end = float64(lastRecord-start.UnixNano()) / 1e9
	}
	s.BeginS, s.EndS = begin, end
	if end > begin {
		s.DurationS = end - begin
		s.RecordsPerSec = float64(s.Records) / s.DurationS
		s.MBPerSec = float64(s.Bytes) / (1 << 20) / s.DurationS
		s.FetchS = max(s.DurationS-rebalance, 0)
		if s.FetchS > 0 {
			s.FetchRecordsPerSec = float64(s.Records) / s.FetchS
			s.FetchMBPerSec = float64(s.Bytes) / (1 << 20) / s.FetchS
		}
	}
	if c.plan.Backlog() {
		b := &report.Backlog{TargetRecords: c.plan.BacklogRecs, TargetBytes: c.plan.BacklogBytes, RecordsAtResume: c.backlogAtResume,
			ResumeAtS: c.resumeAtS, Drained: c.drained}
		drainEnd := c.drainedAtS
		if !c.drained {
			drainEnd = end
		}
		if c.resumed && drainEnd > c.resumeAtS {
			b.DrainS = drainEnd - c.resumeAtS
			b.DrainRecordsPerSec = float64(c.consumedSinceResume) / b.DrainS
			b.DrainMBPerSec = float64(c.bytesSinceResume) / (1 << 20) / b.DrainS
		}
		s.Backlog = b
	}
	return s
}

// partitionOffsets returns the topic's start or end offset per partition.
func (a *admin) partitionOffsets(ctx context.Context, topic string, end bool) (map[int32]int64, error) {
	var lo kadm.ListedOffsets
	err := retryRetriable(ctx, func(ctx context.Context) (err error) {
		if end {
			lo, err = a.adm.ListEndOffsets(ctx, topic)
		} else {
			lo, err = a.adm.ListStartOffsets(ctx, topic)
		}
		if err == nil {
			err = lo.Error()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// CheckRanges compares consumed offset ranges with the offsets [from[p],
// to[p]) each partition held: records consumed more than once, and records
// in the range never consumed. Consumed offsets outside the range count as
// consumed but not expected.
func CheckRanges(ranges map[int32][]*kperfv1.OffsetRange, from, to map[int32]int64) report.ConsumeCheck {
	var k report.ConsumeCheck
	for p, hi := range to {
		if lo := from[p]; hi > lo {
			k.Expected += hi - lo
		}
	}
	for p, rs := range ranges {
		sorted := slices.Clone(rs)
		slices.SortFunc(sorted, func(a, b *kperfv1.OffsetRange) int {
			if a.GetFrom() != b.GetFrom() {
				return int(min(max(a.GetFrom()-b.GetFrom(), -1), 1))
			}
			return int(min(max(a.GetTo()-b.GetTo(), -1), 1))
		})
		lo, hi := from[p], to[p]
		covered := int64(-1 << 62) // highest offset+1 seen so far
		for _, r := range sorted {
			n := r.GetTo() - r.GetFrom()
			k.Consumed += n
			// Unique offsets of r beyond what earlier ranges covered.
			uFrom := max(r.GetFrom(), covered)
			if r.GetTo() > uFrom {
				k.Unique += r.GetTo() - uFrom
				// Of those, the ones within [lo, hi) were expected.
				if a, b := max(uFrom, lo), min(r.GetTo(), hi); b > a {
					k.Missing -= b - a // subtracted from Expected below
				}
				covered = r.GetTo()
			}
		}
	}
	k.Duplicates = k.Consumed - k.Unique
	k.Missing += k.Expected
	k.ExactlyOnce = k.Duplicates == 0 && k.Missing == 0
	return k
}

// check compares the consumers' offset ranges with the topic's offsets.
func (c *consumeRun) check(ctx context.Context, adm *admin, topic string, before map[int32]int64, s *report.Consume) {
	if c == nil || s == nil {
		return
	}
	ranges := map[int32][]*kperfv1.OffsetRange{}
	for _, f := range c.finals {
		for _, pr := range f.GetRanges() {
			ranges[pr.GetPartition()] = append(ranges[pr.GetPartition()], pr.GetRanges()...)
		}
	}
	from := before
	if c.plan.Settings.Earliest {
		var err error
		if from, err = adm.partitionOffsets(ctx, topic, false); err != nil {
			s.Check.Error = err.Error()
			return
		}
	}
	to, err := adm.partitionOffsets(ctx, topic, true)
	if err != nil {
		s.Check.Error = err.Error()
		return
	}
	s.Check = CheckRanges(ranges, from, to)
}

// pinStart commits the run's first offsets (the topic's end offsets before
// the run) for a new group, before any consumer joins, when the plan reads
// from latest with producers: a partition that moves between members
// before its first commit then resumes there instead of at the log end of
// the moment, which would skip records. A group with committed offsets on
// the topic keeps them.
func (c *consumeRun) pinStart(ctx context.Context, adm *admin, topic string) error {
	if c == nil || c.plan.Settings.Earliest || len(c.before) == 0 {
		return nil
	}
	var have kadm.OffsetResponses
	err := retryRetriable(ctx, func(ctx context.Context) (err error) {
		have, err = adm.adm.FetchOffsetsForTopics(ctx, c.group, topic)
		if errors.Is(err, kerr.GroupIDNotFound) {
			err = nil // a new group (some brokers say so rather than answer empty)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("offsets of group %s: %w", c.group, err)
	}
	committed := false
	have.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At >= 0 {
			committed = true
		}
	})
	if committed {
		return nil
	}
	os := kadm.Offsets{}
	for p, at := range c.before {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1})
	}
	err = retryRetriable(ctx, func(ctx context.Context) error {
		resp, err := adm.adm.CommitOffsets(ctx, c.group, os)
		if err == nil {
			err = resp.Error()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("commit the start offsets of group %s: %w", c.group, err)
	}
	return nil
}
