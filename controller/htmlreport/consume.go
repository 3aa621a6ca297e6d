package htmlreport

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot/plotter"

	"github.com/kperf/kperf/controller/report"
)

// ConsumePoint is the consume side of one interval of intervals.csv.
type ConsumePoint struct {
	EndS              float64
	ConsumedPerSec    float64
	ProducedPerSec    float64
	Lag               float64
	E2EP50Ms, E2EP99M float64
}

// loadConsume reads the consume columns of intervals.csv and the e2e
// histograms of latency.hlog into r, when the run had consumers.
func loadConsume(r *Run) error {
	if r.Summary.Consume == nil {
		return nil
	}
	path := filepath.Join(r.Dir, "intervals.csv")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) > 0 {
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		names := []string{"end_s", "consumed_records_per_sec", "records_per_sec", "lag", "e2e_p50_ms", "e2e_p99_ms"}
		for _, h := range names {
			if _, ok := col[h]; !ok {
				return fmt.Errorf("%s: no column %s", path, h)
			}
		}
		for n, rec := range recs[1:] {
			var v [6]float64
			for i, h := range names {
				if col[h] >= len(rec) {
					return fmt.Errorf("%s: line %d: short row", path, n+2)
				}
				if v[i], err = strconv.ParseFloat(rec[col[h]], 64); err != nil {
					return fmt.Errorf("%s: line %d: %s: %w", path, n+2, h, err)
				}
			}
			r.Consume = append(r.Consume, ConsumePoint{EndS: v[0], ConsumedPerSec: v[1], ProducedPerSec: v[2], Lag: v[3], E2EP50Ms: v[4], E2EP99M: v[5]})
		}
	}
	hp := filepath.Join(r.Dir, "latency.hlog")
	hf, err := os.Open(hp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer hf.Close()
	if r.E2E, err = mergeHlogTag(hf, hp, "e2e"); err != nil {
		return err
	}
	return nil
}

// consumeCharts draws the consume side: consumed vs produced records/s,
// consumer lag and end-to-end latency over time, and the end-to-end
// latency distribution.
func consumeCharts(r *Run, prefix, suffix string) ([]*Chart, error) {
	if len(r.Consume) == 0 {
		return nil, nil
	}
	var cons, prod, lag, p50, p99 plotter.XYs
	for _, p := range r.Consume {
		cons = append(cons, plotter.XY{X: p.EndS, Y: p.ConsumedPerSec})
		prod = append(prod, plotter.XY{X: p.EndS, Y: p.ProducedPerSec})
		lag = append(lag, plotter.XY{X: p.EndS, Y: p.Lag})
		p50 = append(p50, plotter.XY{X: p.EndS, Y: p.E2EP50Ms})
		p99 = append(p99, plotter.XY{X: p.EndS, Y: p.E2EP99M})
	}
	var out []*Chart
	series := []Series{{"consumed records/s", cons}}
	if r.Summary.Records > 0 {
		series = append(series, Series{"produced (acked) records/s", prod})
	}
	for _, c := range []struct {
		name, title, y string
		s              []Series
	}{
		{"consume-throughput", "Consumed vs produced per interval", "records/s", series},
		{"consumer-lag", "Consumer lag at each interval end", "records", []Series{{"lag (high watermark - position)", lag}}},
		{"e2e-latency", "End-to-end latency per interval", "latency (ms)", []Series{{"e2e p50", p50}, {"e2e p99", p99}}},
	} {
		ch, err := lineChart(prefix+c.name, c.title+suffix, "time since start (s)", c.y, c.s, chartOpts{points: true, xFromZero: true})
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	if r.E2E != nil && r.E2E.TotalCount() > 0 {
		ch, err := lineChart(prefix+"e2e-distribution", "End-to-end latency by percentile"+suffix, "percentile", "latency (ms)",
			[]Series{{"end-to-end (intended send -> consumed)", Distribution(r.E2E)}}, chartOpts{percentileX: true})
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, nil
}

// consumeRows are the consume side's lines of a run's summary table.
func consumeRows(s *report.Summary) []row {
	c := s.Consume
	if c == nil {
		return nil
	}
	f := func(v float64) string { return fmtNum(v, 2) }
	rows := []row{
		{"consumed records", fmt.Sprint(c.Records)},
		{"consumed records/s", fmtNum(c.RecordsPerSec, 1)},
		{"consumed MB/s (MiB/s)", f(c.MBPerSec)},
		{"consumer group", fmt.Sprintf("%s (%d workers per agent)", c.GroupID, c.Workers)},
		{"join / rebalance (ms)", fmt.Sprintf("%s / %s", f(c.JoinMs), f(c.RebalanceMs))},
		{"fetch records/s, MB/s", fmt.Sprintf("%s, %s", fmtNum(c.FetchRecordsPerSec, 1), f(c.FetchMBPerSec))},
		{"consumer lag max / final", fmt.Sprintf("%d / %d", c.MaxLag, c.FinalLag)},
	}
	if c.E2ERecords > 0 {
		l := c.E2ELatencyMs
		rows = append(rows,
			row{"end-to-end p50 / p99 / max (ms)", fmt.Sprintf("%s / %s / %s", f(l.P50), f(l.P99), f(l.Max))},
			row{"clock uncertainty (ms)", "±" + fmtNum(c.Clock.UncertaintyMs, 3)})
	}
	k := c.Check
	verdict := "exactly once"
	switch {
	case k.Error != "":
		verdict = "topic offsets unavailable: " + k.Error
	case !k.ExactlyOnce:
		verdict = fmt.Sprintf("%d duplicates, %d missing", k.Duplicates, k.Missing)
	}
	rows = append(rows, row{"consume check", fmt.Sprintf("%s: %d consumed, %d unique of %d", verdict, k.Consumed, k.Unique, k.Expected)})
	if b := c.Backlog; b != nil {
		state := "not drained"
		if b.Drained {
			state = fmt.Sprintf("drained in %s s", f(b.DrainS))
		}
		rows = append(rows, row{"backlog", fmt.Sprintf("%d records at %s s, %s at %s records/s", b.RecordsAtResume, f(b.ResumeAtS), state, fmtNum(b.DrainRecordsPerSec, 1))})
	}
	return rows
}
