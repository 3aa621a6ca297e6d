package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConsumerPerfRowMatchesJavaArithmetic(t *testing.T) {
	t.Parallel()
	df, err := ParseDateFormat(DefaultDateFormat)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2018, 8, 9, 19, 7, 31, 979e6, time.Local)
	// The DC/OS article's run: 15M records, 3576.2787 MB in 13.798 s, 3047 ms rebalance.
	row := ConsumerPerfRow(ConsumerPerfTotals{Start: start, End: start.Add(13798 * time.Millisecond),
		Bytes: 3750000000, Records: 15000000, RebalanceMs: 3047}, df)
	want := "2018-08-09 19:07:31:979, 2018-08-09 19:07:45:777, 3576.2787, 259.1882, 15000000, 1087114.0745, 3047, 10751, 332.6461, 1395219.0494"
	if row != want {
		t.Errorf("ConsumerPerfRow =\n%s\nwant\n%s", row, want)
	}
	// No fetch time: Java prints Infinity for x/0.0.
	row = ConsumerPerfRow(ConsumerPerfTotals{Start: start, End: start.Add(time.Second), Bytes: 1 << 20, Records: 10, RebalanceMs: 1000}, df)
	if !strings.HasSuffix(row, ", 1000, 0, Infinity, Infinity") {
		t.Errorf("row without fetch time %q, want Infinity rates", row)
	}
}

func TestConsumerPerfDetailRow(t *testing.T) {
	t.Parallel()
	df, _ := ParseDateFormat("HH:mm:ss")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	row := ConsumerPerfDetailRow(ConsumerPerfProgress{At: at, Elapsed: 2 * time.Second, TotalBytes: 3 << 20, TotalRecords: 3000,
		Bytes: 2 << 20, Records: 2000, RebalanceMs: 1000}, df)
	if want := "03:04:05, 0, 3.0000, 1.0000, 3000, 1000.0000, 1000, 1000, 2.0000, 2000.0000"; row != want {
		t.Errorf("ConsumerPerfDetailRow = %q, want %q", row, want)
	}
}

func TestConsumerPerfHeaders(t *testing.T) {
	t.Parallel()
	for detailed, first := range map[bool]string{false: "start.time, end.time, ", true: "time, threadId, "} {
		h := ConsumerPerfHeader(detailed)
		if !strings.HasPrefix(h, first) || !strings.HasSuffix(h, "nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec") {
			t.Errorf("ConsumerPerfHeader(%v) = %q", detailed, h)
		}
	}
}

func TestDateFormat(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 6, 15, 4, 5, 7e6, time.Local)
	for pattern, want := range map[string]string{
		DefaultDateFormat:            "2026-11-06 15:04:05:007",
		"yy/M/d h:mm a":              "26/11/6 3:04 PM",
		"EEE, dd MMM yyyy 'at' HH''": "Fri, 06 Nov 2026 at 15'",
	} {
		df, err := ParseDateFormat(pattern)
		if err != nil {
			t.Fatalf("ParseDateFormat(%q): %v", pattern, err)
		}
		if got := df.Format(at); got != want {
			t.Errorf("Format(%q) = %q, want %q", pattern, got, want)
		}
	}
	for _, bad := range []string{"yyyy-QQ", "'open"} {
		if _, err := ParseDateFormat(bad); err == nil {
			t.Errorf("ParseDateFormat(%q) = nil error, want one", bad)
		}
	}
}

func TestPrintConsumeNamesChecks(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	PrintConsume(&b, &Consume{Records: 10, E2ERecords: 10, Check: ConsumeCheck{Expected: 10, Consumed: 12, Unique: 10, Duplicates: 2},
		Backlog: &Backlog{RecordsAtResume: 500, ResumeAtS: 1, Drained: true, DrainS: 2, DrainRecordsPerSec: 300}})
	for _, want := range []string{"consume check: 12 consumed, 10 unique of 10 in the topic's range: 2 duplicates, 0 missing",
		"backlog: 500 records at 1.00 s, drained in 2.00 s at 300.0 records/sec"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("PrintConsume output lacks %q:\n%s", want, b.String())
		}
	}
}

func TestSweepConsumeColumns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rows := []SweepRow{
		SweepRowOf(SweepRow{Step: 1, Dir: "step-1"}, &Summary{Records: 5, Consume: &Consume{RecordsPerSec: 1234.5, MaxLag: 7,
			E2ELatencyMs: Latency{P50: 1.5, P99: 9.25}, Check: ConsumeCheck{ExactlyOnce: true}}}),
		SweepRowOf(SweepRow{Step: 2, Dir: "step-2"}, &Summary{Records: 5}),
	}
	if err := WriteSweep(dir, nil, rows); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "sweep.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if !strings.HasSuffix(lines[0], strings.Join(SweepConsumeHeader, ",")) {
		t.Errorf("sweep.csv header %q lacks the consume columns", lines[0])
	}
	if !strings.HasSuffix(lines[1], ",1234.500,0.000,1.500,9.250,0.000,7,true,0.000") || !strings.HasSuffix(lines[2], ",,,,,,,,") {
		t.Errorf("sweep.csv rows:\n%s\n%s", lines[1], lines[2])
	}
	var tb bytes.Buffer
	PrintSweepTable(&tb, nil, rows)
	if !strings.Contains(tb.String(), "consumed/s") || !strings.Contains(tb.String(), "1234.5") {
		t.Errorf("sweep table lacks the consume side:\n%s", tb.String())
	}
	// Without consumers nothing changes.
	tb.Reset()
	PrintSweepTable(&tb, nil, rows[1:])
	if strings.Contains(tb.String(), "consumed") {
		t.Errorf("sweep table without consumers shows consume columns:\n%s", tb.String())
	}
}
