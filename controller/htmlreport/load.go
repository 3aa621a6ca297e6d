// Package htmlreport turns kperf results directories into a self-contained
// HTML report (report.html, charts inline as SVG, no network needed to view
// it) with charts drawn by gonum.org/v1/plot, and compares two results
// directories (compare.html).
package htmlreport

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/kperf/kperf/controller/report"
	"github.com/kperf/kperf/internal/hist"
)

// Point is one interval of intervals.csv, as charted.
type Point struct {
	EndS          float64
	RecordsPerSec float64
	P99Ms         float64
	ServiceP99Ms  float64
}

// Run is one run's results: a single run directory or one step of a sweep.
type Run struct {
	// Name is the step folder name, or "run" for a single run.
	Name      string
	Dir       string
	Summary   *report.Summary
	Intervals []Point
	// Latency merges every untagged (latency from intended send time)
	// interval histogram of latency.hlog, in nanoseconds; nil without a
	// latency.hlog.
	Latency *hdrhistogram.Histogram
	// Consume is the consume side of intervals.csv, empty without
	// consumers; E2E merges latency.hlog's "e2e" histograms (nil without).
	Consume []ConsumePoint
	E2E     *hdrhistogram.Histogram
}

// Sweep is a sweep's results: sweep.json's rows and each step's run (nil
// for a step without a summary.json, e.g. one that failed to start).
type Sweep struct {
	Rows []report.SweepRow
	Runs []*Run
}

// Results is a loaded results directory: either Run or Sweep is set.
type Results struct {
	Dir   string
	Run   *Run
	Sweep *Sweep
}

// Load reads a results directory: a sweep (sweep.json and one folder per
// step) or a single run (summary.json, intervals.csv, latency.hlog). Errors
// name the path.
func Load(dir string) (*Results, error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: no such directory", dir)
	case err != nil:
		return nil, err
	case !st.IsDir():
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	res := &Results{Dir: dir}
	if b, err := os.ReadFile(filepath.Join(dir, "sweep.json")); err == nil {
		sw := &Sweep{}
		if err := json.Unmarshal(b, &sw.Rows); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "sweep.json"), err)
		}
		for _, row := range sw.Rows {
			r, err := LoadRun(filepath.Join(dir, row.Dir), row.Dir)
			if errors.Is(err, fs.ErrNotExist) {
				r, err = nil, nil // a failed step without results
			}
			if err != nil {
				return nil, err
			}
			sw.Runs = append(sw.Runs, r)
		}
		res.Sweep = sw
		return res, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	r, err := LoadRun(dir, "run")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no summary.json or sweep.json: not a kperf results directory", dir)
	}
	if err != nil {
		return nil, err
	}
	res.Run = r
	return res, nil
}

// LoadRun reads one run's directory. A missing summary.json is an error
// wrapping fs.ErrNotExist; missing intervals.csv or latency.hlog leave
// those parts empty.
func LoadRun(dir, name string) (*Run, error) {
	s, err := report.ReadSummary(dir)
	if err != nil {
		return nil, err
	}
	r := &Run{Name: name, Dir: dir, Summary: s}
	if r.Intervals, err = readIntervals(filepath.Join(dir, "intervals.csv")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if r.Latency, err = readHlog(filepath.Join(dir, "latency.hlog")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := loadConsume(r); err != nil {
		return nil, err
	}
	return r, nil
}

func readIntervals(path string) ([]Point, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, h := range []string{"end_s", "records_per_sec", "p99_ms", "service_p99_ms"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("%s: no column %s", path, h)
		}
	}
	var pts []Point
	for n, rec := range recs[1:] {
		var vals [4]float64
		for i, h := range []string{"end_s", "records_per_sec", "p99_ms", "service_p99_ms"} {
			if col[h] >= len(rec) {
				return nil, fmt.Errorf("%s: line %d: short row", path, n+2)
			}
			v, err := strconv.ParseFloat(rec[col[h]], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: line %d: %s: %w", path, n+2, h, err)
			}
			vals[i] = v
		}
		pts = append(pts, Point{EndS: vals[0], RecordsPerSec: vals[1], P99Ms: vals[2], ServiceP99Ms: vals[3]})
	}
	return pts, nil
}

// readHlog merges the untagged interval histograms of an HdrHistogram log.
func readHlog(path string) (*hdrhistogram.Histogram, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return mergeHlog(f, path)
}

func mergeHlog(rd io.Reader, path string) (*hdrhistogram.Histogram, error) {
	return mergeHlogTag(rd, path, "")
}

// mergeHlogTag merges the interval histograms of one tag.
func mergeHlogTag(rd io.Reader, path, tag string) (*hdrhistogram.Histogram, error) {
	merged := hdrhistogram.New(hist.Lowest, hist.Highest, hist.SigFigs)
	lr := hdrhistogram.NewHistogramLogReader(rd)
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if h == nil {
			return merged, nil
		}
		if h.Tag() == tag {
			merged.Merge(h)
		}
	}
}

// Succeeded reports whether dir holds a finished, successful run or sweep:
// a sweep whose every step ran without error or interruption, or a run that
// was not interrupted and passed the delivery check.
func Succeeded(dir string) bool {
	if b, err := os.ReadFile(filepath.Join(dir, "sweep.json")); err == nil {
		var rows []report.SweepRow
		if json.Unmarshal(b, &rows) != nil || len(rows) == 0 {
			return false
		}
		for _, r := range rows {
			if r.Error != "" || r.Interrupted {
				return false
			}
		}
		return true
	}
	s, err := report.ReadSummary(dir)
	return err == nil && !s.Interrupted && s.DeliveryCheck.OK
}
