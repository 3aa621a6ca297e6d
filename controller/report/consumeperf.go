package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// ConsumerPerfHeader is kafka-consumer-perf-test's CSV header: the summary
// columns, or with --show-detailed-stats the per-interval ones.
func ConsumerPerfHeader(detailed bool) string {
	const fetch = ", rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
	if detailed {
		return "time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec" + fetch
	}
	return "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec" + fetch
}

// ConsumerPerfTimeoutWarning is the Java tool's line when it stops before
// the record count because no record came for timeoutMs.
func ConsumerPerfTimeoutWarning(timeoutMs int64) string {
	return fmt.Sprintf("WARNING: Exiting before consuming the expected number of records: timeout (%d ms) exceeded. You can use the --timeout option to increase the timeout.", timeoutMs)
}

// javaFloat formats v as Java's %.4f does, including its names for
// infinities and NaN.
func javaFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

// ConsumerPerfTotals are the numbers of the Java tool's summary row.
type ConsumerPerfTotals struct {
	Start, End  time.Time
	Bytes       int64
	Records     int64
	RebalanceMs int64
}

// ConsumerPerfRow formats the summary row: start and end in the date
// format, MB (MiB) consumed and per second over the whole time, records and
// per second, rebalance ms, fetch ms (the time less rebalances) and the
// rates over the fetch time.
func ConsumerPerfRow(t ConsumerPerfTotals, df *DateFormat) string {
	elapsedMs := t.End.Sub(t.Start).Milliseconds()
	elapsed := float64(elapsedMs) / 1000
	fetchMs := elapsedMs - t.RebalanceMs
	mb := float64(t.Bytes) / (1 << 20)
	return strings.Join([]string{df.Format(t.Start), df.Format(t.End), javaFloat(mb), javaFloat(mb / elapsed),
		strconv.FormatInt(t.Records, 10), javaFloat(float64(t.Records) / elapsed), strconv.FormatInt(t.RebalanceMs, 10),
		strconv.FormatInt(fetchMs, 10), javaFloat(mb / (float64(fetchMs) / 1000)), javaFloat(float64(t.Records) / (float64(fetchMs) / 1000))}, ", ")
}

// ConsumerPerfProgress is one --show-detailed-stats row's numbers.
type ConsumerPerfProgress struct {
	// At is the row's time; Elapsed the time since the last row.
	At      time.Time
	Elapsed time.Duration
	// TotalBytes and TotalRecords are cumulative; Bytes and Records the
	// interval's.
	TotalBytes, TotalRecords, Bytes, Records int64
	// RebalanceMs is the interval's rebalance time.
	RebalanceMs int64
}

// ConsumerPerfDetailRow formats a --show-detailed-stats row (thread id 0).
func ConsumerPerfDetailRow(p ConsumerPerfProgress, df *DateFormat) string {
	elapsedMs := float64(p.Elapsed.Milliseconds())
	mb := float64(p.Bytes) / (1 << 20)
	fetchMs := p.Elapsed.Milliseconds() - p.RebalanceMs
	var fetchMB, fetchRecs float64
	if fetchMs > 0 {
		fetchMB = 1000 * mb / float64(fetchMs)
		fetchRecs = 1000 * float64(p.Records) / float64(fetchMs)
	}
	return strings.Join([]string{df.Format(p.At), "0", javaFloat(float64(p.TotalBytes) / (1 << 20)), javaFloat(1000 * mb / elapsedMs),
		strconv.FormatInt(p.TotalRecords, 10), javaFloat(float64(p.Records) / elapsedMs * 1000), strconv.FormatInt(p.RebalanceMs, 10),
		strconv.FormatInt(fetchMs, 10), javaFloat(fetchMB), javaFloat(fetchRecs)}, ", ")
}

// DateFormat is a java.text.SimpleDateFormat pattern (the letters y M d H
// h m s S a E and quoted text), formatting in local time.
type DateFormat struct{ parts []datePart }

type datePart struct {
	letter byte // 0: literal
	n      int
	lit    string
}

// DefaultDateFormat is the Java tool's default --date-format.
const DefaultDateFormat = "yyyy-MM-dd HH:mm:ss:SSS"

// ParseDateFormat reads a SimpleDateFormat pattern. Letters kperf does not
// know are an error naming them.
func ParseDateFormat(pattern string) (*DateFormat, error) {
	df := &DateFormat{}
	for i := 0; i < len(pattern); {
		c := pattern[i]
		switch {
		case c == '\'':
			end := strings.IndexByte(pattern[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("date format %q: unterminated quote", pattern)
			}
			lit := pattern[i+1 : i+1+end]
			if lit == "" {
				lit = "'" // '' is a quote
			}
			df.parts = append(df.parts, datePart{lit: lit})
			i += end + 2
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			if !strings.ContainsRune("yMdHhmsSaE", rune(c)) {
				return nil, fmt.Errorf("date format %q: pattern letter %q is not supported (use y M d H h m s S a E)", pattern, c)
			}
			j := i
			for j < len(pattern) && pattern[j] == c {
				j++
			}
			df.parts = append(df.parts, datePart{letter: c, n: j - i})
			i = j
		default:
			df.parts = append(df.parts, datePart{lit: string(c)})
			i++
		}
	}
	return df, nil
}

// Format formats t (in local time) by the pattern.
func (df *DateFormat) Format(t time.Time) string {
	t = t.Local()
	var b strings.Builder
	num := func(v, n int) { fmt.Fprintf(&b, "%0*d", n, v) }
	for _, p := range df.parts {
		switch p.letter {
		case 0:
			b.WriteString(p.lit)
		case 'y':
			if p.n == 2 {
				num(t.Year()%100, 2)
			} else {
				num(t.Year(), p.n)
			}
		case 'M':
			switch {
			case p.n >= 4:
				b.WriteString(t.Month().String())
			case p.n == 3:
				b.WriteString(t.Month().String()[:3])
			default:
				num(int(t.Month()), p.n)
			}
		case 'd':
			num(t.Day(), p.n)
		case 'H':
			num(t.Hour(), p.n)
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			num(h, p.n)
		case 'm':
			num(t.Minute(), p.n)
		case 's':
			num(t.Second(), p.n)
		case 'S':
			num(t.Nanosecond()/1e6, p.n)
		case 'a':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		case 'E':
			if p.n >= 4 {
				b.WriteString(t.Weekday().String())
			} else {
				b.WriteString(t.Weekday().String()[:3])
			}
		}
	}
	return b.String()
}

// PrintConsumeMetrics writes kperf's counterpart of the Java tool's
// --print-metrics section: a blank line, a "Metric Name   Value" header and
// one "name : value" line per metric, sorted by name (kperf's names, group
// "kperf").
func PrintConsumeMetrics(w io.Writer, c *Consume) {
	if c == nil {
		return
	}
	m := map[string]any{
		"kperf:records-consumed:{}":         float64(c.Records),
		"kperf:bytes-consumed:{}":           float64(c.Bytes),
		"kperf:fetches:{}":                  float64(c.Fetches),
		"kperf:records-per-sec:{}":          c.RecordsPerSec,
		"kperf:mb-per-sec:{}":               c.MBPerSec,
		"kperf:fetch-records-per-sec:{}":    c.FetchRecordsPerSec,
		"kperf:fetch-mb-per-sec:{}":         c.FetchMBPerSec,
		"kperf:join-ms:{}":                  c.JoinMs,
		"kperf:rebalance-ms:{}":             c.RebalanceMs,
		"kperf:records-lag-max:{}":          float64(c.MaxLag),
		"kperf:records-lag:{}":              float64(c.FinalLag),
		"kperf:e2e-latency-avg-ms:{}":       c.E2ELatencyMs.Mean,
		"kperf:e2e-latency-p99-ms:{}":       c.E2ELatencyMs.P99,
		"kperf:e2e-latency-max-ms:{}":       c.E2ELatencyMs.Max,
		"kperf:records-unstamped:{}":        float64(c.Unstamped),
		"kperf:consume-check-duplicates:{}": float64(c.Check.Duplicates),
		"kperf:clock-uncertainty-ms:{}":     c.Clock.UncertaintyMs,
	}
	printMetricTable(w, m)
}
