package report

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/kperf/kperf/internal/hist"
)

// Hlog writes an HdrHistogram interval log (format 1.3, values in
// nanoseconds), readable by HdrHistogram's HistogramLogProcessor and
// HistogramLogAnalyzer. Ack latency is written untagged; other kinds carry
// a tag.
type Hlog struct {
	f       *os.File
	w       *hdrhistogram.HistogramLogWriter
	startMs int64
}

// CreateHlog creates dir/latency.hlog with the log header for a run that
// started at start.
func CreateHlog(dir string, start time.Time) (*Hlog, error) {
	f, err := os.Create(filepath.Join(dir, "latency.hlog"))
	if err != nil {
		return nil, err
	}
	// The log's BaseTime line holds whole seconds, so interval times are
	// relative to the start's whole second, not its millisecond.
	l := &Hlog{f: f, w: hdrhistogram.NewHistogramLogWriter(f), startMs: start.Truncate(time.Second).UnixMilli()}
	l.w.SetBaseTime(l.startMs)
	for _, step := range []func() error{
		func() error {
			return l.w.OutputComment("kperf interval log; values in nanoseconds; untagged: latency from intended send time to ack")
		},
		l.w.OutputLogFormatVersion,
		func() error { return l.w.OutputStartTime(l.startMs) },
		func() error { return l.w.OutputBaseTime(l.startMs) },
		l.w.OutputLegend,
	} {
		if err := step(); err != nil {
			f.Close()
			return nil, fmt.Errorf("write latency.hlog header: %w", err)
		}
	}
	return l, nil
}

// Add writes one interval histogram covering [start, end) with tag ("" for
// none).
func (l *Hlog) Add(tag string, start, end time.Time, h *hist.Hist) error {
	hh := h.HDR()
	hh.SetStartTimeMs(start.UnixMilli())
	hh.SetEndTimeMs(end.UnixMilli())
	hh.SetTag(tag)
	return l.w.OutputIntervalHistogram(hh)
}

// Close closes the file.
func (l *Hlog) Close() error { return l.f.Close() }
