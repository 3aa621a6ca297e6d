package report

import (
	"fmt"
	"io"
	"strconv"
)

// ConsumeInterval is the consume side of one merged interval.
type ConsumeInterval struct {
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	Fetches int64 `json:"fetches"`
	// RebalanceMs is the longest any agent's consumers waited for a
	// rebalance in the interval.
	RebalanceMs float64 `json:"rebalance_ms"`
	// Lag is the records between the consumers' positions and the high
	// watermarks of their last fetches, at the interval end; before the
	// consumers begin (start delay, backlog) the records produced so far.
	Lag        int64 `json:"lag"`
	Partitions int   `json:"partitions"`
	// E2E is the end-to-end latency of the interval's stamped records.
	E2E       Latency `json:"e2e_latency_ms"`
	Unstamped int64   `json:"unstamped"`
	// Consuming counts the agents whose consumers had begun.
	Consuming int `json:"consuming_agents"`
}

// ClockSync is how well the controller knows the agents' clocks.
type ClockSync struct {
	// OffsetsMs are each agent's clock minus the controller's, in agent
	// order.
	OffsetsMs []float64 `json:"offsets_ms"`
	// UncertaintyMs bounds the error of end-to-end latencies between two
	// agents' clocks: the largest half round trip of the samples used.
	UncertaintyMs float64 `json:"uncertainty_ms"`
}

// ConsumeCheck compares the offsets the consumers read with the topic.
type ConsumeCheck struct {
	// Expected are the records the topic held in the consumers' range:
	// from the run's first offsets (from=latest) or the log start
	// (from=earliest) to the end offsets after the run.
	Expected   int64 `json:"expected"`
	Consumed   int64 `json:"consumed"`
	Unique     int64 `json:"unique"`
	Duplicates int64 `json:"duplicates"`
	Missing    int64 `json:"missing"`
	// ExactlyOnce: every expected record consumed once, none twice.
	ExactlyOnce bool   `json:"exactly_once"`
	Error       string `json:"error,omitempty"`
}

// Backlog is the result of a backlog test.
type Backlog struct {
	TargetRecords int64 `json:"target_records,omitempty"`
	TargetBytes   int64 `json:"target_bytes,omitempty"`
	// RecordsAtResume is the backlog when the consumers were let go: the
	// records produced until then.
	RecordsAtResume int64   `json:"records_at_resume"`
	ResumeAtS       float64 `json:"resume_at_s"`
	// Drained says the consumers caught up (lag below one interval's
	// production) before the run ended; DrainS is how long that took.
	Drained            bool    `json:"drained"`
	DrainS             float64 `json:"drain_s"`
	DrainRecordsPerSec float64 `json:"drain_records_per_sec"`
	DrainMBPerSec      float64 `json:"drain_mb_per_sec"`
}

// Consume is the consume side of a run.
type Consume struct {
	GroupID string `json:"group_id"`
	// Workers are consumer workers per agent.
	Workers int   `json:"workers"`
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	Fetches int64 `json:"fetches"`
	// BeginS is when the consumers began consuming and EndS when the last
	// record was consumed, in seconds from the run's start.
	BeginS float64 `json:"begin_s"`
	EndS   float64 `json:"end_s"`
	// DurationS is EndS - BeginS.
	DurationS     float64 `json:"duration_s"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	// JoinMs is the longest time an agent's consumers took to join the
	// group (before the start); RebalanceMs adds the rebalances during the
	// run.
	JoinMs      float64 `json:"join_ms"`
	RebalanceMs float64 `json:"rebalance_ms"`
	// FetchS is DurationS less the rebalances in it; the fetch rates are
	// over it.
	FetchS             float64 `json:"fetch_s"`
	FetchMBPerSec      float64 `json:"fetch_mb_per_sec"`
	FetchRecordsPerSec float64 `json:"fetch_records_per_sec"`
	MaxLag             int64   `json:"max_lag"`
	FinalLag           int64   `json:"final_lag"`
	// E2ELatencyMs is from each record's intended send time to its
	// consumption, on the controller's clock.
	E2ELatencyMs Latency      `json:"e2e_latency_ms"`
	E2ERecords   int64        `json:"e2e_records"`
	Unstamped    int64        `json:"unstamped"`
	Clock        ClockSync    `json:"clock"`
	Check        ConsumeCheck `json:"check"`
	Backlog      *Backlog     `json:"backlog,omitempty"`
	// EndReasons are why each agent's consumers stopped, in agent order.
	EndReasons []string `json:"end_reasons"`
}

// ConsumeHeader are the consume columns appended to intervals.csv when a
// run had consumers.
var ConsumeHeader = []string{"consumed_records", "consumed_bytes", "consumed_records_per_sec", "consumed_mb_per_sec",
	"fetches", "rebalance_ms", "fetch_records_per_sec", "fetch_mb_per_sec", "lag", "e2e_mean_ms", "e2e_p50_ms", "e2e_p99_ms", "e2e_max_ms"}

// consumeColumns returns iv's consume columns.
func consumeColumns(iv *Interval) []string {
	g := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	d := func(v int64) string { return strconv.FormatInt(v, 10) }
	c := iv.Consume
	if c == nil {
		c = &ConsumeInterval{}
	}
	s := iv.EndS - iv.StartS
	fetchS := max(0, s-c.RebalanceMs/1e3) // the interval outside rebalances
	return []string{d(c.Records), d(c.Bytes), g(perSec(float64(c.Records), s)), g(perSec(float64(c.Bytes)/(1<<20), s)),
		d(c.Fetches), g(c.RebalanceMs), g(perSec(float64(c.Records), fetchS)), g(perSec(float64(c.Bytes)/(1<<20), fetchS)),
		d(c.Lag), g(c.E2E.Mean), g(c.E2E.P50), g(c.E2E.P99), g(c.E2E.Max)}
}

// ConsumeLine formats an interval's consume side for the live output.
func ConsumeLine(iv *Interval) string {
	c := iv.Consume
	s := iv.EndS - iv.StartS
	return fmt.Sprintf("%d records consumed, %.1f records/sec (%.2f MB/sec), lag %d, %.1f ms e2e p50, %.1f ms e2e p99, %.1f ms e2e max.",
		c.Records, perSec(float64(c.Records), s), perSec(float64(c.Bytes)/(1<<20), s), c.Lag, c.E2E.P50, c.E2E.P99, c.E2E.Max)
}

// PrintConsume writes the consume side's summary lines.
func PrintConsume(w io.Writer, c *Consume) {
	if c == nil {
		return
	}
	fmt.Fprintf(w, "consumed %d records (%.2f MB) in %.2f s: %.1f records/sec (%.2f MB/sec); join %.0f ms, rebalance %.0f ms, fetch %.1f records/sec (%.2f MB/sec); max lag %d, final lag %d\n",
		c.Records, float64(c.Bytes)/(1<<20), c.DurationS, c.RecordsPerSec, c.MBPerSec, c.JoinMs, c.RebalanceMs,
		c.FetchRecordsPerSec, c.FetchMBPerSec, c.MaxLag, c.FinalLag)
	l := c.E2ELatencyMs
	if c.E2ERecords == 0 {
		fmt.Fprintf(w, "end-to-end latency: no record carried a kperf stamp (%d unstamped)\n", c.Unstamped)
	} else {
		fmt.Fprintf(w, "%-28s mean %.2f  p50 %.2f  p95 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms (%d records; clocks within ±%.3f ms)\n",
			"end-to-end (intended -> consumed)", l.Mean, l.P50, l.P95, l.P99, l.P999, l.Max, c.E2ERecords, c.Clock.UncertaintyMs)
	}
	if b := c.Backlog; b != nil {
		if b.Drained {
			fmt.Fprintf(w, "backlog: %d records at %.2f s, drained in %.2f s at %.1f records/sec (%.2f MB/sec) while producing\n",
				b.RecordsAtResume, b.ResumeAtS, b.DrainS, b.DrainRecordsPerSec, b.DrainMBPerSec)
		} else {
			fmt.Fprintf(w, "backlog: %d records at %.2f s, NOT drained before the run ended (%.1f records/sec consumed)\n",
				b.RecordsAtResume, b.ResumeAtS, b.DrainRecordsPerSec)
		}
	}
	k := c.Check
	if k.Error != "" {
		fmt.Fprintf(w, "consume check: %d consumed, topic offsets unavailable: %s\n", k.Consumed, k.Error)
		return
	}
	verdict := "exactly once"
	if !k.ExactlyOnce {
		verdict = fmt.Sprintf("%d duplicates, %d missing", k.Duplicates, k.Missing)
	}
	fmt.Fprintf(w, "consume check: %d consumed, %d unique of %d in the topic's range: %s\n", k.Consumed, k.Unique, k.Expected, verdict)
}

// SweepConsume is a sweep step's consume side.
type SweepConsume struct {
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	E2ELatencyMs  Latency `json:"e2e_latency_ms"`
	MaxLag        int64   `json:"max_lag"`
	ExactlyOnce   bool    `json:"exactly_once"`
	// DrainRecordsPerSec is the backlog drain rate, 0 without a backlog.
	DrainRecordsPerSec float64 `json:"drain_records_per_sec,omitempty"`
}

// SweepConsumeHeader are sweep.csv's consume columns, present when a step
// had consumers.
var SweepConsumeHeader = []string{"consumed_records_per_sec", "consumed_mb_per_sec", "e2e_p50_ms", "e2e_p99_ms", "e2e_max_ms",
	"max_lag", "exactly_once", "drain_records_per_sec"}

func sweepConsumeOf(c *Consume) *SweepConsume {
	if c == nil {
		return nil
	}
	s := &SweepConsume{RecordsPerSec: c.RecordsPerSec, MBPerSec: c.MBPerSec, E2ELatencyMs: c.E2ELatencyMs, MaxLag: c.MaxLag,
		ExactlyOnce: c.Check.ExactlyOnce}
	if c.Backlog != nil {
		s.DrainRecordsPerSec = c.Backlog.DrainRecordsPerSec
	}
	return s
}

func sweepHasConsume(rows []SweepRow) bool {
	for _, r := range rows {
		if r.Consume != nil {
			return true
		}
	}
	return false
}

// columns returns the step's sweep.csv consume columns (empty without).
func (c *SweepConsume) columns() []string {
	if c == nil {
		return make([]string, len(SweepConsumeHeader))
	}
	g := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	return []string{g(c.RecordsPerSec), g(c.MBPerSec), g(c.E2ELatencyMs.P50), g(c.E2ELatencyMs.P99), g(c.E2ELatencyMs.Max),
		strconv.FormatInt(c.MaxLag, 10), strconv.FormatBool(c.ExactlyOnce), g(c.DrainRecordsPerSec)}
}

// tableCells returns the step's consume cells of the sweep table.
func (c *SweepConsume) tableCells() string {
	if c == nil {
		return "-\t-\t-\t-\t"
	}
	return fmt.Sprintf("%.1f\t%.2f\t%.2f\t%d\t", c.RecordsPerSec, c.E2ELatencyMs.P50, c.E2ELatencyMs.P99, c.MaxLag)
}
