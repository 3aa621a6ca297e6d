package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/google/go-cmp/cmp"

	"github.com/kperf/kperf/internal/hist"
)

// The regular expressions that parse kafka-producer-perf-test's lines.
var (
	finalRE    = regexp.MustCompile(`^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.$`)
	intervalRE = regexp.MustCompile(`^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency\.$`)
)

// parseFloats parses a matched line's groups as numbers.
func parseFloats(t *testing.T, m []string) []float64 {
	t.Helper()
	out := make([]float64, len(m)-1)
	for i, s := range m[1:] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("group %d %q: %v", i+1, s, err)
		}
		out[i] = v
	}
	return out
}

// near reports whether got is want printed with decimals digits.
func near(got, want float64, decimals int) bool {
	return math.Abs(got-want) <= 0.5*math.Pow(10, -float64(decimals))+1e-9*math.Abs(want)
}

func TestFinalLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    Summary
	}{
		{name: "typical", s: Summary{Records: 1_000_000, RecordsPerSec: 199_987.654321, MBPerSec: 19.07,
			LatencyMs: Latency{Mean: 3.25, Max: 812.5, P50: 2, P95: 7, P99: 15, P999: 402}}},
		{name: "sub-ms percentiles print as whole ms", s: Summary{Records: 10, RecordsPerSec: 9.5, MBPerSec: 0.01,
			LatencyMs: Latency{Mean: 0.4567, Max: 0.98, P50: 0.4, P95: 0.9, P99: 0.95, P999: 0.98}}},
		{name: "fractional percentiles truncate", s: Summary{Records: 12345, RecordsPerSec: 1234.5, MBPerSec: 1.17,
			LatencyMs: Latency{Mean: 12.345, Max: 99.999, P50: 10.999, P95: 20.5, P99: 50.01, P999: 99.9}}},
		{name: "nothing sent", s: Summary{}},
		{name: "big numbers", s: Summary{Records: 9_000_000_000, RecordsPerSec: 12_345_678.9, MBPerSec: 11_773.6,
			LatencyMs: Latency{Mean: 1500, Max: 60000, P50: 1000, P95: 30000, P99: 59000, P999: 60000}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			line := FinalLine(&tc.s)
			m := finalRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("FinalLine = %q, does not match kafka-producer-perf-test's final line", line)
			}
			v := parseFloats(t, m)
			l := tc.s.LatencyMs
			checks := []struct {
				name      string
				got, want float64
				decimals  int
			}{
				{"records", v[0], float64(tc.s.Records), 0},
				{"records/sec", v[1], tc.s.RecordsPerSec, 6},
				{"MB/sec", v[2], tc.s.MBPerSec, 2},
				{"avg latency", v[3], l.Mean, 2},
				{"max latency", v[4], l.Max, 2},
				// The Java tool prints percentiles as whole milliseconds.
				{"50th", v[5], math.Floor(l.P50), 0},
				{"95th", v[6], math.Floor(l.P95), 0},
				{"99th", v[7], math.Floor(l.P99), 0},
				{"99.9th", v[8], math.Floor(l.P999), 0},
			}
			for _, c := range checks {
				if !near(c.got, c.want, c.decimals) {
					t.Errorf("FinalLine = %q: %s = %v, want %v", line, c.name, c.got, c.want)
				}
			}
		})
	}
}

func TestIntervalLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                 string
		iv                   Interval
		wantRate, wantMBRate float64
	}{
		{name: "one second", iv: Interval{Records: 5000, Bytes: 5000 * 1024, StartS: 3, EndS: 4, Latency: Latency{Mean: 2.5, Max: 31.2}},
			wantRate: 5000, wantMBRate: 5000.0 * 1024 / (1 << 20)},
		{name: "half a second", iv: Interval{Records: 1234, Bytes: 1 << 20, StartS: 0.25, EndS: 0.75, Latency: Latency{Mean: 0.04, Max: 0.5}},
			wantRate: 2468, wantMBRate: 2},
		{name: "last short window", iv: Interval{Records: 7, Bytes: 700, StartS: 10, EndS: 10.1, Latency: Latency{Mean: 1, Max: 1}},
			wantRate: 70, wantMBRate: 7000.0 / (1 << 20)},
		{name: "empty window", iv: Interval{StartS: 2, EndS: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.iv.RecordsPerSec(); !near(got, tc.wantRate, 9) {
				t.Errorf("RecordsPerSec() = %v, want %v", got, tc.wantRate)
			}
			if got := tc.iv.MBPerSec(); !near(got, tc.wantMBRate, 9) {
				t.Errorf("MBPerSec() = %v, want %v (MiB/s)", got, tc.wantMBRate)
			}
			line := IntervalLine(&tc.iv)
			m := intervalRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("IntervalLine = %q, does not match kafka-producer-perf-test's interval line", line)
			}
			v := parseFloats(t, m)
			checks := []struct {
				name      string
				got, want float64
				decimals  int
			}{
				{"records", v[0], float64(tc.iv.Records), 0},
				{"records/sec", v[1], tc.wantRate, 1},
				{"MB/sec", v[2], tc.wantMBRate, 2},
				{"avg latency", v[3], tc.iv.Latency.Mean, 1},
				{"max latency", v[4], tc.iv.Latency.Max, 1},
			}
			for _, c := range checks {
				if !near(c.got, c.want, c.decimals) {
					t.Errorf("IntervalLine = %q: %s = %v, want %v", line, c.name, c.got, c.want)
				}
			}
		})
	}
}

func TestLatencyOf(t *testing.T) {
	t.Parallel()
	var h hist.Hist
	for _, v := range []int64{1_000_000, 2_000_000, 3_000_000, 4_000_000, 90_000_000} {
		h.Record(v)
	}
	got := LatencyOf(&h)
	ps := h.Percentiles(50, 95, 99, 99.9)
	// Percentiles are HdrHistogram's, but never above the exact maximum: the
	// 90 ms bucket's highest equivalent value (90.046 ms) becomes 90 ms.
	want := Latency{Mean: 20, P50: float64(ps[0]) / 1e6, P95: 90, P99: 90, P999: 90, Max: 90}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LatencyOf mismatch (-want +got):\n%s", diff)
	}
	if got.P50 < 3 || got.P50 > 3.01 {
		t.Errorf("LatencyOf p50 = %v ms, want about 3", got.P50)
	}
	if got := LatencyOf(&hist.Hist{}); got != (Latency{}) {
		t.Errorf("LatencyOf(empty) = %+v, want zeros", got)
	}
}

// lookup returns the value at path in decoded JSON; a number index selects
// an array element.
func lookup(v any, path ...string) (any, bool) {
	for _, k := range path {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[k]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func TestWriteSummary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := &Summary{
		RunID: "abc", Topic: "t", Records: 3000, Bytes: 300_000, Sent: 3000, DurationS: 1.5,
		RecordsPerSec: 2000, MBPerSec: 0.19073486328125,
		LatencyMs: Latency{Mean: 1.5, P50: 1.25, P95: 2.5, P99: 3.75, P999: 4.5, Max: 5.125},
		Agents: []Agent{
			{Address: "h1:7070", Records: 1000, Workers: 2},
			{Address: "h2:7070", Records: 2000, Workers: 2},
		},
		DeliveryCheck: Delivery{Acked: 3000, BrokerOffsetDelta: 2999, OK: false},
		Plan:          json.RawMessage(`{"topic":"t"}`),
	}
	if err := WriteSummary(dir, s); err != nil {
		t.Fatalf("WriteSummary: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("summary.json does not decode: %v\n%s", err, b)
	}
	tests := []struct {
		path []string
		want any // as encoding/json decodes it
	}{
		{[]string{"records"}, 3000.0},
		{[]string{"bytes"}, 300000.0},
		{[]string{"duration_s"}, 1.5},
		{[]string{"records_per_sec"}, 2000.0},
		{[]string{"mb_per_sec"}, 0.19073486328125},
		{[]string{"latency_ms", "mean"}, 1.5},
		{[]string{"latency_ms", "p50"}, 1.25},
		{[]string{"latency_ms", "p95"}, 2.5},
		{[]string{"latency_ms", "p99"}, 3.75},
		{[]string{"latency_ms", "p999"}, 4.5},
		{[]string{"latency_ms", "max"}, 5.125},
		{[]string{"agents", "0", "address"}, "h1:7070"},
		{[]string{"agents", "0", "records"}, 1000.0},
		{[]string{"agents", "1", "address"}, "h2:7070"},
		{[]string{"agents", "1", "records"}, 2000.0},
		{[]string{"delivery_check", "acked"}, 3000.0},
		{[]string{"delivery_check", "broker_offset_delta"}, 2999.0},
		{[]string{"delivery_check", "ok"}, false},
		{[]string{"plan", "topic"}, "t"},
	}
	for _, tc := range tests {
		got, ok := lookup(doc, tc.path...)
		if !ok {
			t.Errorf("summary.json has no %v", tc.path)
			continue
		}
		if got != tc.want {
			t.Errorf("summary.json %v = %v, want %v", tc.path, got, tc.want)
		}
	}
	agents, _ := lookup(doc, "agents")
	if a, _ := agents.([]any); len(a) != 2 {
		t.Errorf("summary.json agents = %v, want 2 agents", agents)
	}
	if !bytes.HasSuffix(b, []byte("}\n")) {
		t.Errorf("summary.json does not end with a newline")
	}
}

func TestWriteSummaryOmitsErrorLatencyWithoutErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := WriteSummary(dir, &Summary{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"error_latency_ms", "errors"} {
		if _, ok := m[k]; ok {
			t.Errorf("summary.json of a run without errors has key %s", k)
		}
	}
}

func TestWriteSummaryBadDir(t *testing.T) {
	t.Parallel()
	if err := WriteSummary(filepath.Join(t.TempDir(), "missing"), &Summary{}); err == nil {
		t.Error("WriteSummary(missing dir) = nil error")
	}
}

func TestWriteIntervals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ivs := []Interval{
		{Seq: 0, StartS: 0, EndS: 1, Records: 1000, Bytes: 100_000, Agents: 3, Latency: Latency{Mean: 1.5, P99: 4}},
		{Seq: 1, StartS: 1, EndS: 1.5, Records: 200, Failed: 3, Agents: 2, GeneratorBehind: 1, InFlight: 7,
			Errors: map[string]int64{"request timed out": 2, "broker: not leader, for partition": 1}},
	}
	if err := WriteIntervals(dir, ivs); err != nil {
		t.Fatalf("WriteIntervals: %v", err)
	}
	f, err := os.Open(filepath.Join(dir, "intervals.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("intervals.csv: %v", err)
	}
	if len(rows) != 1+len(ivs) {
		t.Fatalf("intervals.csv has %d rows, want a header and %d", len(rows), len(ivs))
	}
	if diff := cmp.Diff(IntervalHeader, rows[0]); diff != "" {
		t.Errorf("header mismatch (-want +got):\n%s", diff)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for i, iv := range ivs {
		row := rows[i+1]
		got := map[string]string{}
		for _, name := range []string{"seq", "records", "failed", "records_per_sec", "mean_ms", "p99_ms", "in_flight", "agents", "generator_behind_agents", "errors"} {
			got[name] = row[col[name]]
		}
		want := map[string]string{
			"seq": strconv.FormatInt(iv.Seq, 10), "records": strconv.FormatInt(iv.Records, 10), "failed": strconv.FormatInt(iv.Failed, 10),
			"records_per_sec": strconv.FormatFloat(iv.RecordsPerSec(), 'f', 3, 64),
			"mean_ms":         strconv.FormatFloat(iv.Latency.Mean, 'f', 3, 64), "p99_ms": strconv.FormatFloat(iv.Latency.P99, 'f', 3, 64),
			"in_flight": strconv.FormatInt(iv.InFlight, 10), "agents": strconv.Itoa(iv.Agents), "generator_behind_agents": strconv.Itoa(iv.GeneratorBehind),
			"errors": []string{"", `{"broker: not leader, for partition":1,"request timed out":2}`}[i],
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("row %d mismatch (-want +got):\n%s", i, diff)
		}
	}
}

// hlogEntry is one interval written to an hlog.
type hlogEntry struct {
	tag        string
	start, end time.Time
	h          *hist.Hist
}

func writeHlog(t *testing.T, start time.Time, entries []hlogEntry) string {
	t.Helper()
	dir := t.TempDir()
	l, err := CreateHlog(dir, start)
	if err != nil {
		t.Fatalf("CreateHlog: %v", err)
	}
	for _, e := range entries {
		if err := l.Add(e.tag, e.start, e.end, e.h); err != nil {
			t.Fatalf("Add(%q): %v", e.tag, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "latency.hlog")
}

func randomHist(seed uint64, n int, medianNs float64) *hist.Hist {
	r := rand.New(rand.NewPCG(seed, 3))
	h := &hist.Hist{}
	for range n {
		h.Record(int64(medianNs * (0.2 + r.ExpFloat64())))
	}
	return h
}

func TestHlogReadableByHdrHistogram(t *testing.T) {
	t.Parallel()
	for _, start := range []time.Time{time.Unix(1_700_000_000, 0), time.Unix(1_700_000_000, 750_000_000)} {
		t.Run(start.Format("05.000"), func(t *testing.T) { testHlogReadable(t, start) })
	}
}

// testHlogReadable writes intervals from start (sub-second starts too) and
// reads them back with hdrhistogram-go's log reader.
func testHlogReadable(t *testing.T, start time.Time) {
	var entries []hlogEntry
	for i := range 4 {
		ws := start.Add(time.Duration(i) * time.Second)
		we := ws.Add(time.Second)
		entries = append(entries,
			hlogEntry{"", ws, we, randomHist(uint64(i), 1000*(i+1), 2e6)},
			hlogEntry{"service", ws, we, randomHist(uint64(i+10), 1000*(i+1), 1e6)},
		)
	}
	entries = append(entries, hlogEntry{"", start.Add(4 * time.Second), start.Add(4*time.Second + 300*time.Millisecond), &hist.Hist{}})

	path := writeHlog(t, start, entries)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := hdrhistogram.NewHistogramLogReader(f)
	for i, e := range entries {
		got, err := r.NextIntervalHistogram()
		if err != nil {
			t.Fatalf("interval %d: NextIntervalHistogram: %v", i, err)
		}
		if got == nil {
			t.Fatalf("log ended after %d intervals, want %d", i, len(entries))
		}
		if got.TotalCount() != e.h.Count() {
			t.Errorf("interval %d (%q): total count = %d, want %d", i, e.tag, got.TotalCount(), e.h.Count())
		}
		if !got.Equals(e.h.HDR()) {
			t.Errorf("interval %d (%q): histogram read back differs from the one written", i, e.tag)
		}
		if got.Tag() != e.tag {
			t.Errorf("interval %d: tag = %q, want %q", i, got.Tag(), e.tag)
		}
		if got.StartTimeMs() != e.start.UnixMilli() || got.EndTimeMs() != e.end.UnixMilli() {
			t.Errorf("interval %d: time = %d..%d ms, want %d..%d", i, got.StartTimeMs(), got.EndTimeMs(), e.start.UnixMilli(), e.end.UnixMilli())
		}
	}
	if got, err := r.NextIntervalHistogram(); got != nil || err != nil {
		t.Errorf("after the last interval: NextIntervalHistogram = %v, %v, want nil, nil", got, err)
	}
}

func TestCreateHlogBadDir(t *testing.T) {
	t.Parallel()
	if _, err := CreateHlog(filepath.Join(t.TempDir(), "missing"), time.Now()); err == nil {
		t.Error("CreateHlog(missing dir) = nil error")
	}
}

func TestHlogRejectsBadTag(t *testing.T) {
	t.Parallel()
	l, err := CreateHlog(t.TempDir(), time.Unix(1_700_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Add("send delay", time.Unix(1_700_000_000, 0), time.Unix(1_700_000_001, 0), &hist.Hist{}); err == nil {
		t.Error("Add with a tag holding a space = nil error")
	}
}

func TestAdvisePartitions(t *testing.T) {
	t.Parallel()
	// The seed's example: 330k records/s per partition, 10M target: 31.
	s := &Summary{RecordsPerSec: 1_980_000, Partitions: 6}
	a, err := AdvisePartitions(s, 10_000_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.PerPartition != 330_000 || a.Partitions != 31 {
		t.Errorf("AdvisePartitions = %+v, want P 330000 and 31 partitions", a)
	}
	// A slower consumer decides: T/C = 10M/200k = 50.
	if a, _ := AdvisePartitions(s, 10_000_000, 200_000); a.Partitions != 50 || !strings.Contains(a.String(), "max(T/P, T/C)") {
		t.Errorf("with C = 200k: %v, want 50 partitions by max(T/P, T/C)", a)
	}
	if _, err := AdvisePartitions(&Summary{}, 1000, 0); err == nil {
		t.Error("a run without records gave advice")
	}
	if _, err := AdvisePartitions(s, 0, 0); err == nil {
		t.Error("target 0 gave advice")
	}
}
