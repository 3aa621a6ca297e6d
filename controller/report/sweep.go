package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
)

// SweepRow is one step of a sweep: its settings and headline numbers.
type SweepRow struct {
	// Step is the step's 1-based index.
	Step int `json:"step"`
	// Dir is the step's results folder, relative to the sweep's.
	Dir string `json:"dir"`
	// Values are the step's axis values by axis key.
	Values map[string]string `json:"values"`
	// Agents is how many agents ran the step.
	Agents        int     `json:"agents"`
	Records       int64   `json:"records"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	LatencyMs     Latency `json:"latency_ms"`
	Failed        int64   `json:"failed"`
	// Errors counts failed records by error kind, summed.
	Errors     int64 `json:"errors"`
	DeliveryOK bool  `json:"delivery_ok"`
	// Interrupted means the step's run was stopped early.
	Interrupted bool `json:"interrupted,omitempty"`
	// Resumed means the step's numbers come from an earlier invocation's
	// summary.json (--resume).
	Resumed bool `json:"resumed,omitempty"`
	// Error says why the step failed.
	Error string `json:"error,omitempty"`
	// Consume is the step's consume side; nil without consumers.
	Consume *SweepConsume `json:"consume,omitempty"`
}

// SweepRowOf fills a row's numbers from a step's summary.
func SweepRowOf(row SweepRow, s *Summary) SweepRow {
	row.Agents = len(s.Agents)
	row.Records, row.RecordsPerSec, row.MBPerSec = s.Records, s.RecordsPerSec, s.MBPerSec
	row.LatencyMs, row.Failed = s.LatencyMs, s.Failed
	row.Errors = 0
	for _, n := range s.Errors {
		row.Errors += n
	}
	row.DeliveryOK, row.Interrupted = s.DeliveryCheck.OK, s.Interrupted
	row.Consume = sweepConsumeOf(s.Consume)
	return row
}

// ReadSummary reads dir/summary.json.
func ReadSummary(dir string) (*Summary, error) {
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return nil, err
	}
	s := &Summary{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "summary.json"), err)
	}
	return s, nil
}

// SweepCSVHeader is the header of sweep.csv after the step column and one
// column per axis.
var SweepCSVHeader = []string{"agents", "records", "records_per_sec", "mb_per_sec", "p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms",
	"failed", "errors", "delivery_ok", "interrupted", "error", "dir"}

// WriteSweep writes sweep.json and sweep.csv into dir, each replaced
// atomically. axes are the axis keys in order, the CSV's setting columns
// (but for agents, which has its own column).
func WriteSweep(dir string, axes []string, rows []SweepRow) error {
	if rows == nil {
		rows = []SweepRow{}
	}
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return fmt.Errorf("encode sweep: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, "sweep.json"), append(b, '\n')); err != nil {
		return err
	}
	var sb strings.Builder
	w := csv.NewWriter(&sb)
	var cols []string
	for _, a := range axes {
		if a != "agents" {
			cols = append(cols, a)
		}
	}
	consumed := sweepHasConsume(rows)
	header := append(append([]string{"step"}, cols...), SweepCSVHeader...)
	if consumed {
		header = append(header, SweepConsumeHeader...)
	}
	w.Write(header)
	g := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	d := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, r := range rows {
		rec := []string{strconv.Itoa(r.Step)}
		for _, a := range cols {
			rec = append(rec, r.Values[a])
		}
		l := r.LatencyMs
		rec = append(rec, strconv.Itoa(r.Agents), d(r.Records), g(r.RecordsPerSec), g(r.MBPerSec), g(l.P50), g(l.P95), g(l.P99), g(l.P999), g(l.Max),
			d(r.Failed), d(r.Errors), strconv.FormatBool(r.DeliveryOK), strconv.FormatBool(r.Interrupted), r.Error, r.Dir)
		if consumed {
			rec = append(rec, r.Consume.columns()...)
		}
		w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, "sweep.csv"), []byte(sb.String()))
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// PrintSweepTable writes the sweep's table: one row per step with its agents,
// its other axis values, rates and latency percentiles in ms.
func PrintSweepTable(w io.Writer, axes []string, rows []SweepRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	consumed := sweepHasConsume(rows)
	head := "step\tagents\tsettings\trecords/s\tMB/s\tp50 ms\tp95 ms\tp99 ms\tp99.9 ms\tmax ms\terrors\t"
	if consumed {
		head += "consumed/s\te2e p50 ms\te2e p99 ms\tmax lag\t"
	}
	fmt.Fprintln(tw, head)
	for _, r := range rows {
		var settings []string
		for _, a := range axes {
			if a != "agents" {
				settings = append(settings, a+"="+r.Values[a])
			}
		}
		set := strings.Join(settings, " ")
		if set == "" {
			set = "-"
		}
		errs := strconv.FormatInt(r.Errors, 10)
		switch {
		case r.Error != "":
			errs = "FAILED: " + r.Error
		case r.Interrupted:
			errs += " (interrupted)"
		case !r.DeliveryOK:
			errs += " (delivery check failed)"
		}
		l := r.LatencyMs
		fmt.Fprintf(tw, "%d\t%d\t%s\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t",
			r.Step, r.Agents, set, r.RecordsPerSec, r.MBPerSec, l.P50, l.P95, l.P99, l.P999, l.Max, errs)
		if consumed {
			fmt.Fprint(tw, r.Consume.tableCells())
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
