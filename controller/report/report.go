// Package report is the result model of a kperf run and its writers:
// summary.json, intervals.csv, an HdrHistogram interval log (latency.hlog),
// and the text lines in kafka-producer-perf-test's format.
package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"

	"github.com/kperf/kperf/internal/hist"
)

// Latency holds latency statistics in milliseconds.
type Latency struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// LatencyOf summarises a histogram of nanoseconds: exact mean and max,
// HdrHistogram percentiles.
func LatencyOf(h *hist.Hist) Latency {
	ps := h.Percentiles(50, 95, 99, 99.9)
	// A bucket's highest equivalent value can pass the exact maximum.
	for i := range ps {
		ps[i] = min(ps[i], h.Max())
	}
	return Latency{Mean: h.Mean() / 1e6, P50: ms(ps[0]), P95: ms(ps[1]), P99: ms(ps[2]), P999: ms(ps[3]), Max: ms(h.Max())}
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// Agent is one agent's part of a run.
type Agent struct {
	Address  string `json:"address"`
	Hostname string `json:"hostname"`
	Version  string `json:"version"`
	Workers  int    `json:"workers"`
	Records  int64  `json:"records"`
	Bytes    int64  `json:"bytes"`
	Failed   int64  `json:"failed"`
	Sent     int64  `json:"sent"`
	// StartOffsetMs is when the agent began, relative to the common start.
	StartOffsetMs float64 `json:"start_offset_ms"`
	EndReason     string  `json:"end_reason"`
	// Lost means the agent's stream broke or went silent mid-run: its
	// counts are those of the intervals it reported before, and records
	// it had in flight then are in no count.
	Lost bool `json:"lost,omitempty"`
	// LostAtS is when the controller gave up on it, from the common start.
	LostAtS float64 `json:"lost_at_s,omitempty"`
	// LastIntervalEndS is the end of its last reported interval.
	LastIntervalEndS float64 `json:"last_interval_end_s,omitempty"`
}

// Delivery compares what the producers were told with what the broker
// stored.
type Delivery struct {
	Acked             int64 `json:"acked"`
	BrokerOffsetDelta int64 `json:"broker_offset_delta"`
	// Unresolved are records sent that were neither acked nor failed when
	// the clients closed (a broker that stopped answering).
	Unresolved int64 `json:"unresolved"`
	// Unaccounted are records on the broker beyond the acked ones when
	// agents were lost: acks that never reached the controller.
	Unaccounted int64 `json:"unaccounted,omitempty"`
	OK          bool  `json:"ok"`
	// Error says why the broker's end offsets could not be read.
	Error string `json:"error,omitempty"`
}

// Summary is the result of one run.
type Summary struct {
	RunID     string `json:"run_id"`
	StartedAt string `json:"started_at"`
	Topic     string `json:"topic"`
	// Partitions is the topic's partition count during the run.
	Partitions int `json:"partitions"`
	// Records are acknowledged records over all agents.
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	Failed  int64 `json:"failed"`
	Sent    int64 `json:"sent"`
	// DurationS runs from the common start to the last completion.
	DurationS     float64 `json:"duration_s"`
	RecordsPerSec float64 `json:"records_per_sec"`
	// MBPerSec is in MiB/s, as kafka-producer-perf-test reports it.
	MBPerSec float64 `json:"mb_per_sec"`
	// TargetRecordsPerSec is the plan's rate; -1 when unlimited.
	TargetRecordsPerSec float64 `json:"target_records_per_sec"`
	// LatencyMs is from each record's intended send time to its ack.
	LatencyMs Latency `json:"latency_ms"`
	// ServiceTimeMs is from hand-off to the Kafka client to ack.
	ServiceTimeMs Latency `json:"service_time_ms"`
	// SendDelayMs is from intended send time to hand-off.
	SendDelayMs    Latency          `json:"send_delay_ms"`
	ErrorLatencyMs *Latency         `json:"error_latency_ms,omitempty"`
	Errors         map[string]int64 `json:"errors,omitempty"`
	// Clamped counts latency values outside the histogram range.
	Clamped int64 `json:"clamped"`
	// StartSkewMs is the spread of the agents' actual start times.
	StartSkewMs float64 `json:"start_skew_ms"`
	Intervals   int     `json:"intervals"`
	// GeneratorBehindIntervals counts intervals where some agent could not
	// keep its schedule: those measure the load generator, not Kafka.
	GeneratorBehindIntervals int      `json:"generator_behind_intervals"`
	Agents                   []Agent  `json:"agents"`
	DeliveryCheck            Delivery `json:"delivery_check"`
	Interrupted              bool     `json:"interrupted"`
	// Partial means some agent did not run its share to the end: lost
	// mid-run or shut down. PartialReasons say which and when.
	Partial           bool            `json:"partial"`
	PartialReasons    []string        `json:"partial_reasons,omitempty"`
	Plan              json.RawMessage `json:"plan"`
	ControllerVersion string          `json:"controller_version"`
	// Consume is the consume side; nil without consumers.
	Consume *Consume `json:"consume,omitempty"`
}

// Interval is one merged reporting interval.
type Interval struct {
	Seq             int64
	StartS, EndS    float64 // relative to the common start
	Records         int64
	Bytes           int64
	Failed          int64
	Sent            int64
	Agents          int
	GeneratorBehind int
	InFlight        int64
	Latency         Latency
	ServiceP99Ms    float64
	SendDelayP99Ms  float64
	// Errors counts the interval's failed records by kind.
	Errors map[string]int64
	// Consume is the consume side; nil without consumers.
	Consume *ConsumeInterval
}

// RecordsPerSec returns the interval's acked records per second.
func (iv *Interval) RecordsPerSec() float64 { return perSec(float64(iv.Records), iv.EndS-iv.StartS) }

// MBPerSec returns the interval's acked MiB per second.
func (iv *Interval) MBPerSec() float64 { return perSec(float64(iv.Bytes)/(1<<20), iv.EndS-iv.StartS) }

func perSec(v, s float64) float64 {
	if s <= 0 {
		return 0
	}
	return v / s
}

// WriteSummary writes summary.json into dir.
func WriteSummary(dir string, s *Summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "summary.json"), append(b, '\n'), 0o644)
}

// IntervalHeader is the header row of intervals.csv.
var IntervalHeader = []string{"seq", "start_s", "end_s", "records", "bytes", "failed", "records_per_sec", "mb_per_sec",
	"mean_ms", "p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms", "service_p99_ms", "send_delay_p99_ms",
	"in_flight", "agents", "generator_behind_agents", "errors"}

// WriteIntervals writes intervals.csv into dir.
func WriteIntervals(dir string, ivs []Interval) error {
	f, err := os.Create(filepath.Join(dir, "intervals.csv"))
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	consumed := len(ivs) > 0 && ivs[0].Consume != nil
	header := IntervalHeader
	if consumed {
		header = append(slices.Clone(header), ConsumeHeader...)
	}
	w.Write(header)
	g := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	d := func(v int64) string { return strconv.FormatInt(v, 10) }
	for i := range ivs {
		iv := &ivs[i]
		row := []string{d(iv.Seq), g(iv.StartS), g(iv.EndS), d(iv.Records), d(iv.Bytes), d(iv.Failed),
			g(iv.RecordsPerSec()), g(iv.MBPerSec()), g(iv.Latency.Mean), g(iv.Latency.P50), g(iv.Latency.P95),
			g(iv.Latency.P99), g(iv.Latency.P999), g(iv.Latency.Max), g(iv.ServiceP99Ms), g(iv.SendDelayP99Ms),
			d(iv.InFlight), strconv.Itoa(iv.Agents), strconv.Itoa(iv.GeneratorBehind), errorsCell(iv.Errors)}
		if consumed {
			row = append(row, consumeColumns(iv)...)
		}
		w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// errorsCell is the errors column of intervals.csv: the failed records by
// kind as a JSON object (keys sorted), or empty when none failed.
func errorsCell(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(m) // a map of strings to numbers always encodes
	return string(b)
}

// IntervalLine formats an interval like kafka-producer-perf-test's
// periodic line.
func IntervalLine(iv *Interval) string {
	return fmt.Sprintf("%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.",
		iv.Records, iv.RecordsPerSec(), iv.MBPerSec(), iv.Latency.Mean, iv.Latency.Max)
}

// FinalLine formats a summary like kafka-producer-perf-test's last line
// (percentiles in whole milliseconds, as the Java tool prints them).
func FinalLine(s *Summary) string {
	l := s.LatencyMs
	return fmt.Sprintf("%d records sent, %f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, %d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.",
		s.Records, s.RecordsPerSec, s.MBPerSec, l.Mean, l.Max, int64(l.P50), int64(l.P95), int64(l.P99), int64(l.P999))
}

// PrintDetails writes the lines after the final line: latency kinds, agents,
// the delivery check.
func PrintDetails(w io.Writer, s *Summary) {
	p := func(name string, l Latency) {
		fmt.Fprintf(w, "%-28s mean %.2f  p50 %.2f  p95 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms\n", name, l.Mean, l.P50, l.P95, l.P99, l.P999, l.Max)
	}
	p("latency (intended -> ack)", s.LatencyMs)
	p("service time (send -> ack)", s.ServiceTimeMs)
	p("send delay (intended -> send)", s.SendDelayMs)
	for _, a := range s.Agents {
		fmt.Fprintf(w, "agent %-21s %10d records %8d failed  start %+.2f ms  (%s)\n", a.Address, a.Records, a.Failed, a.StartOffsetMs, a.EndReason)
	}
	if s.Failed > 0 {
		fmt.Fprintf(w, "failed records: %d %v\n", s.Failed, s.Errors)
	}
	if s.GeneratorBehindIntervals > 0 {
		fmt.Fprintf(w, "warning: load generator fell behind its schedule in %d of %d intervals; those numbers measure kperf, not Kafka\n", s.GeneratorBehindIntervals, s.Intervals)
	}
	for _, r := range s.PartialReasons {
		fmt.Fprintf(w, "partial: %s\n", r)
	}
	d := s.DeliveryCheck
	verdict := "ok"
	switch {
	case d.Unaccounted > 0 && d.BrokerOffsetDelta > d.Acked:
		verdict = fmt.Sprintf("ok for a partial run: every acked record is on the broker; %d more were stored whose acks never reached the controller (lost agents)", d.Unaccounted)
	case d.BrokerOffsetDelta < d.Acked:
		verdict = fmt.Sprintf("MISMATCH: %d acked records are not on the broker", d.Acked-d.BrokerOffsetDelta)
	case d.BrokerOffsetDelta > d.Acked:
		verdict = fmt.Sprintf("MISMATCH: %d more records on the broker than acked (duplicates from retries without idempotence, failed-but-stored records, or another producer)", d.BrokerOffsetDelta-d.Acked)
	}
	if d.Unresolved > 0 {
		fmt.Fprintf(w, "unresolved: %d records were sent but neither acked nor failed when the clients closed\n", d.Unresolved)
		if verdict == "ok" {
			verdict = "FAILED: unresolved records"
		}
	}
	if s.DeliveryCheck.Error != "" {
		fmt.Fprintf(w, "delivery check: %d acked, broker end offsets unavailable: %s\n", s.DeliveryCheck.Acked, s.DeliveryCheck.Error)
		return
	}
	fmt.Fprintf(w, "delivery check: %d acked, broker end offsets grew by %d: %s\n", s.DeliveryCheck.Acked, s.DeliveryCheck.BrokerOffsetDelta, verdict)
}

// PrintMetrics writes kperf's counterpart of kafka-producer-perf-test's
// --print-metrics section: a blank line, a "Metric Name   Value" header and
// one "name : value" line per metric, sorted by name, floats with three
// decimals, as the Java tool prints its producer's metrics. The names are
// kperf's (group "kperf"), not the Java client's: the run's counters and its
// latency kinds in milliseconds.
func PrintMetrics(w io.Writer, s *Summary) {
	m := map[string]any{
		"kperf:records-acked:{}":                s.Records,
		"kperf:records-sent:{}":                 s.Sent,
		"kperf:records-failed:{}":               s.Failed,
		"kperf:bytes-acked:{}":                  s.Bytes,
		"kperf:duration-s:{}":                   s.DurationS,
		"kperf:records-per-sec:{}":              s.RecordsPerSec,
		"kperf:mb-per-sec:{}":                   s.MBPerSec,
		"kperf:target-records-per-sec:{}":       s.TargetRecordsPerSec,
		"kperf:agents:{}":                       int64(len(s.Agents)),
		"kperf:start-skew-ms:{}":                s.StartSkewMs,
		"kperf:intervals:{}":                    int64(s.Intervals),
		"kperf:generator-behind-intervals:{}":   int64(s.GeneratorBehindIntervals),
		"kperf:latency-clamped:{}":              s.Clamped,
		"kperf:delivery-check-ok:{}":            s.DeliveryCheck.OK,
		"kperf:delivery-broker-offset-delta:{}": s.DeliveryCheck.BrokerOffsetDelta,
		"kperf:delivery-unresolved:{}":          s.DeliveryCheck.Unresolved,
	}
	lat := func(kind string, l Latency) {
		for name, v := range map[string]float64{"avg": l.Mean, "p50": l.P50, "p95": l.P95, "p99": l.P99, "p999": l.P999, "max": l.Max} {
			m["kperf:"+kind+"-"+name+"-ms:{}"] = v
		}
	}
	lat("latency", s.LatencyMs)
	lat("service-time", s.ServiceTimeMs)
	lat("send-delay", s.SendDelayMs)
	for kind, n := range s.Errors {
		m["kperf:record-errors:{error="+kind+"}"] = n
	}
	printMetricTable(w, m)
}

// printMetricTable prints m as the Java tools' --print-metrics table:
// "name : value" lines sorted by name under a header, floats with three
// decimals.
func printMetricTable(w io.Writer, m map[string]any) {
	names := make([]string, 0, len(m))
	width := len("Metric Name")
	for n := range m {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	fmt.Fprintf(w, "\n%-*s   %s\n", width, "Metric Name", "Value")
	for _, n := range names {
		switch v := m[n].(type) {
		case float64:
			fmt.Fprintf(w, "%-*s : %.3f\n", width, n, v)
		default:
			fmt.Fprintf(w, "%-*s : %v\n", width, n, v)
		}
	}
}

// Advice is a partition count for a target throughput, by the rule
// partitions = max(T/P, T/C): T the target, P the produce throughput one
// partition took in this run, C what one consumer reads from a partition.
type Advice struct {
	Target          float64 // T, records/s
	PerPartition    float64 // P, records/s, measured
	ConsumerPerPart float64 // C, records/s, given; 0 when not
	Partitions      int
}

// AdvisePartitions applies the rule to a run's summary. It needs a run
// with records and a known partition count.
func AdvisePartitions(s *Summary, target, consumerPerPartition float64) (Advice, error) {
	if target <= 0 {
		return Advice{}, fmt.Errorf("target throughput %v: want records/s > 0", target)
	}
	if s.Partitions < 1 || s.RecordsPerSec <= 0 {
		return Advice{}, fmt.Errorf("the run measured no per-partition throughput")
	}
	a := Advice{Target: target, PerPartition: s.RecordsPerSec / float64(s.Partitions), ConsumerPerPart: consumerPerPartition}
	n := target / a.PerPartition
	if consumerPerPartition > 0 {
		n = max(n, target/consumerPerPartition)
	}
	a.Partitions = int(math.Ceil(n - 1e-9))
	return a, nil
}

// String is the advice as one line.
func (a Advice) String() string {
	rule := fmt.Sprintf("T/P = %.0f/%.0f", a.Target, a.PerPartition)
	if a.ConsumerPerPart > 0 {
		rule = fmt.Sprintf("max(T/P, T/C) = max(%.0f/%.0f, %.0f/%.0f)", a.Target, a.PerPartition, a.Target, a.ConsumerPerPart)
	}
	return fmt.Sprintf("partitions for %.0f records/s: %d (%s; P measured in this run: %.0f records/s per partition)",
		a.Target, a.Partitions, rule, a.PerPartition)
}
