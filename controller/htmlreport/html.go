package htmlreport

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/kperf/kperf/controller/report"
)

// inlineSVG returns a chart's SVG without its XML prelude, for embedding in
// HTML.
func inlineSVG(c *Chart) template.HTML {
	s := string(c.SVG)
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	return template.HTML(s)
}

// row is one line of a key/value table.
type row struct{ Key, Value string }

// runSection is one run's (or step's) part of report.html.
type runSection struct {
	Title  string
	Rows   []row
	Charts []*Chart
}

type sweepRowView struct {
	Step, Dir, Agents, Settings, RPS, MBps, P50, P95, P99, P999, Max, Status string
	// The consume side, shown when a step had consumers.
	ConsRPS, E2EP99, MaxLag string
}

type page struct {
	Title string
	Dir   string
	Sweep []sweepRowView
	// SweepConsume shows the sweep table's consume columns.
	SweepConsume bool
	Top          []*Chart
	Sections     []runSection
	Compare      []compareSection
	Notes        []string
}

func summaryRows(s *report.Summary) []row {
	l := s.LatencyMs
	f := func(v float64) string { return fmtNum(v, 2) }
	rows := []row{
		{"records", fmt.Sprint(s.Records)},
		{"records/s", fmtNum(s.RecordsPerSec, 1)},
		{"MB/s (MiB/s)", f(s.MBPerSec)},
		{"duration (s)", f(s.DurationS)},
		{"agents", fmt.Sprint(len(s.Agents))},
		{"latency mean (ms)", f(l.Mean)},
		{"latency p50 (ms)", f(l.P50)},
		{"latency p95 (ms)", f(l.P95)},
		{"latency p99 (ms)", f(l.P99)},
		{"latency p99.9 (ms)", f(l.P999)},
		{"latency max (ms)", f(l.Max)},
		{"service time p99 (ms)", f(s.ServiceTimeMs.P99)},
		{"send delay p99 (ms)", f(s.SendDelayMs.P99)},
		{"failed records", fmt.Sprint(s.Failed)},
	}
	if s.TargetRecordsPerSec > 0 {
		rows = append(rows[:3], append([]row{{"target records/s", fmtNum(s.TargetRecordsPerSec, 1)}}, rows[3:]...)...)
	}
	d := s.DeliveryCheck
	verdict := "ok"
	switch {
	case d.Error != "":
		verdict = "broker end offsets unavailable: " + d.Error
	case !d.OK:
		verdict = "FAILED"
	}
	rows = append(rows, row{"delivery check", fmt.Sprintf("%s: %d acked, broker end offsets grew by %d", verdict, d.Acked, d.BrokerOffsetDelta)})
	if s.GeneratorBehindIntervals > 0 {
		rows = append(rows, row{"generator behind", fmt.Sprintf("%d of %d intervals (those numbers measure kperf, not Kafka)", s.GeneratorBehindIntervals, s.Intervals)})
	}
	if s.Interrupted {
		rows = append(rows, row{"interrupted", "yes: partial results"})
	}
	return append(rows, consumeRows(s)...)
}

// Write writes report.html and charts/NAME.svg into a results directory
// (a single run or a sweep) and returns the HTML file's path.
func Write(dir string) (string, error) {
	res, err := Load(dir)
	if err != nil {
		return "", err
	}
	pg := &page{Title: "kperf report", Dir: dir}
	var all []*Chart
	if res.Sweep != nil {
		pg.Title = "kperf sweep report"
		for _, r := range res.Sweep.Rows {
			pg.Sweep = append(pg.Sweep, sweepView(r))
			pg.SweepConsume = pg.SweepConsume || r.Consume != nil
		}
		if pg.Top, err = sweepCharts(res.Sweep); err != nil {
			return "", err
		}
		all = append(all, pg.Top...)
		for i, r := range res.Sweep.Runs {
			row := res.Sweep.Rows[i]
			if r == nil {
				why := "no summary.json"
				if row.Error != "" {
					why += ": " + row.Error
				}
				pg.Notes = append(pg.Notes, fmt.Sprintf("step %d (%s): %s", row.Step, row.Dir, why))
				continue
			}
			cs, err := runCharts(r, r.Name+"-", r.Name)
			if err != nil {
				return "", err
			}
			all = append(all, cs...)
			pg.Sections = append(pg.Sections, runSection{Title: fmt.Sprintf("Step %d: %s", row.Step, r.Name), Rows: summaryRows(r.Summary), Charts: cs})
		}
	} else {
		cs, err := runCharts(res.Run, "", "")
		if err != nil {
			return "", err
		}
		all = append(all, cs...)
		pg.Sections = append(pg.Sections, runSection{Title: "Summary", Rows: summaryRows(res.Run.Summary), Charts: cs})
	}
	chartDir := filepath.Join(dir, "charts")
	if err := os.MkdirAll(chartDir, 0o755); err != nil {
		return "", err
	}
	for _, c := range all {
		if err := os.WriteFile(filepath.Join(chartDir, c.Name+".svg"), c.SVG, 0o644); err != nil {
			return "", err
		}
	}
	out := filepath.Join(dir, "report.html")
	return out, writePage(out, pg)
}

func sweepView(r report.SweepRow) sweepRowView {
	f := func(v float64) string { return fmtNum(v, 2) }
	status := "ok"
	switch {
	case r.Error != "":
		status = "FAILED: " + r.Error
	case r.Interrupted:
		status = "interrupted"
	case !r.DeliveryOK:
		status = "delivery check failed"
	case r.Errors > 0:
		status = fmt.Sprintf("%d errors", r.Errors)
	}
	set := otherSettings(r)
	if set == "" {
		set = "-"
	}
	l := r.LatencyMs
	v := sweepRowView{Step: fmt.Sprint(r.Step), Dir: r.Dir, Agents: fmt.Sprint(r.Agents), Settings: set, RPS: fmtNum(r.RecordsPerSec, 1),
		MBps: f(r.MBPerSec), P50: f(l.P50), P95: f(l.P95), P99: f(l.P99), P999: f(l.P999), Max: f(l.Max), Status: status,
		ConsRPS: "-", E2EP99: "-", MaxLag: "-"}
	if c := r.Consume; c != nil {
		v.ConsRPS, v.E2EP99, v.MaxLag = fmtNum(c.RecordsPerSec, 1), f(c.E2ELatencyMs.P99), fmt.Sprint(c.MaxLag)
	}
	return v
}

func writePage(path string, pg *page) error {
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, pg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{"svg": inlineSVG}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}: {{.Dir}}</title>
<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 72em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
.better { color: #176b1c; font-weight: bold; } .worse { color: #b3261e; font-weight: bold; }
figure { margin: 0.8em 0; } svg { max-width: 100%; height: auto; }
.note { color: #555; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="note">{{.Dir}}</p>
{{- range .Notes}}<p class="note">{{.}}</p>{{end}}
{{- if .Sweep}}
<h2>Sweep</h2>
<table>
<tr><th>step</th><th>agents</th><th>settings</th><th class="num">records/s</th><th class="num">MB/s</th><th class="num">p50 ms</th><th class="num">p95 ms</th><th class="num">p99 ms</th><th class="num">p99.9 ms</th><th class="num">max ms</th>{{if $.SweepConsume}}<th class="num">consumed/s</th><th class="num">e2e p99 ms</th><th class="num">max lag</th>{{end}}<th>status</th></tr>
{{- range .Sweep}}
<tr><td>{{.Step}}</td><td class="num">{{.Agents}}</td><td>{{.Settings}}</td><td class="num">{{.RPS}}</td><td class="num">{{.MBps}}</td><td class="num">{{.P50}}</td><td class="num">{{.P95}}</td><td class="num">{{.P99}}</td><td class="num">{{.P999}}</td><td class="num">{{.Max}}</td>{{if $.SweepConsume}}<td class="num">{{.ConsRPS}}</td><td class="num">{{.E2EP99}}</td><td class="num">{{.MaxLag}}</td>{{end}}<td>{{.Status}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- range .Top}}
<figure id="{{.Name}}">{{svg .}}</figure>
{{- end}}
{{- range .Compare}}
<h2>{{.Title}}</h2>
<table>
<tr><th>metric</th><th class="num">A</th><th class="num">B</th><th class="num">B - A</th><th class="num">change</th><th></th></tr>
{{- range .Rows}}
<tr><td>{{.Metric}}</td><td class="num">{{.A}}</td><td class="num">{{.B}}</td><td class="num">{{.Diff}}</td><td class="num">{{.Pct}}</td><td class="{{.Verdict}}">{{.Verdict}}</td></tr>
{{- end}}
</table>
{{- range .Charts}}
<figure id="{{.Name}}">{{svg .}}</figure>
{{- end}}
{{- end}}
{{- range .Sections}}
<h2>{{.Title}}</h2>
<table>
{{- range .Rows}}
<tr><th>{{.Key}}</th><td class="num">{{.Value}}</td></tr>
{{- end}}
</table>
{{- range .Charts}}
<figure id="{{.Name}}">{{svg .}}</figure>
{{- end}}
{{- end}}
</body>
</html>
`))

// compareRow is one metric of A and B.
type compareRow struct {
	Metric, A, B, Verdict string
	// Diff and Pct are signed numbers, kept as HTML so that the template
	// does not escape their "+".
	Diff, Pct template.HTML
}

type compareSection struct {
	Title  string
	Rows   []compareRow
	Charts []*Chart
}

// metric is a compared number: higher better for rates, lower for latency.
type metric struct {
	name         string
	digits       int
	higherBetter bool
	get          func(*report.Summary) float64
}

var metrics = []metric{
	{"records/s", 1, true, func(s *report.Summary) float64 { return s.RecordsPerSec }},
	{"MB/s", 2, true, func(s *report.Summary) float64 { return s.MBPerSec }},
	{"p50 ms", 2, false, func(s *report.Summary) float64 { return s.LatencyMs.P50 }},
	{"p99 ms", 2, false, func(s *report.Summary) float64 { return s.LatencyMs.P99 }},
	{"p99.9 ms", 2, false, func(s *report.Summary) float64 { return s.LatencyMs.P999 }},
	{"max ms", 2, false, func(s *report.Summary) float64 { return s.LatencyMs.Max }},
}

func compareRows(a, b *report.Summary) []compareRow {
	var rows []compareRow
	for _, m := range metrics {
		va, vb := m.get(a), m.get(b)
		d := vb - va
		r := compareRow{Metric: m.name, A: fmtNum(va, m.digits), B: fmtNum(vb, m.digits), Diff: signed(d, m.digits), Pct: "n/a", Verdict: "same"}
		if va != 0 {
			r.Pct = signed(100*d/va, 1) + "%"
		}
		// Differences below half the last printed digit are "same".
		if math.Abs(d) >= 0.5*math.Pow(10, -float64(m.digits)) {
			if (d > 0) == m.higherBetter {
				r.Verdict = "better"
			} else {
				r.Verdict = "worse"
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// signed formats v with its sign; the result is plain digits, signs, "."
// and "-", safe as HTML.
func signed(v float64, digits int) template.HTML {
	s := fmtNum(v, digits)
	if v >= 0 && !strings.HasPrefix(s, "-") {
		s = "+" + s
	}
	return template.HTML(s)
}

// Compare writes an HTML comparison of results directories a and b (both
// single runs, or both sweeps, steps matched by folder name) to out: per
// step, records/s, MB/s and latency percentiles of A and B with the
// difference, % change and better/worse, and the two latency distributions
// overlaid.
func Compare(a, b, out string) error {
	ra, err := Load(a)
	if err != nil {
		return err
	}
	rb, err := Load(b)
	if err != nil {
		return err
	}
	pg := &page{Title: "kperf comparison", Dir: "A = " + a + ", B = " + b}
	type pair struct {
		name string
		a, b *Run
	}
	var pairs []pair
	switch {
	case ra.Run != nil && rb.Run != nil:
		pairs = append(pairs, pair{"run", ra.Run, rb.Run})
	case ra.Sweep != nil && rb.Sweep != nil:
		byName := map[string]*Run{}
		for _, r := range rb.Sweep.Runs {
			if r != nil {
				byName[r.Name] = r
			}
		}
		matched := map[string]bool{}
		for _, r := range ra.Sweep.Runs {
			if r == nil {
				continue
			}
			if o, ok := byName[r.Name]; ok {
				pairs = append(pairs, pair{r.Name, r, o})
				matched[r.Name] = true
			} else {
				pg.Notes = append(pg.Notes, "only in A: "+r.Name)
			}
		}
		for _, r := range rb.Sweep.Runs {
			if r != nil && !matched[r.Name] {
				pg.Notes = append(pg.Notes, "only in B: "+r.Name)
			}
		}
		if len(pairs) == 0 {
			return fmt.Errorf("%s and %s: no step folder in common", a, b)
		}
	case ra.Run != nil:
		return fmt.Errorf("%s is a single run, %s a sweep: compare a run with a run or a sweep with a sweep", a, b)
	default:
		return fmt.Errorf("%s is a sweep, %s a single run: compare a run with a run or a sweep with a sweep", a, b)
	}
	for i, p := range pairs {
		sec := compareSection{Title: p.name, Rows: compareRows(p.a.Summary, p.b.Summary)}
		if p.a.Latency != nil && p.b.Latency != nil {
			c, err := lineChart(fmt.Sprintf("compare-%02d", i+1), "Latency by percentile, A vs B: "+p.name, "percentile", "latency (ms)",
				[]Series{{"A " + a, Distribution(p.a.Latency)}, {"B " + b, Distribution(p.b.Latency)}}, chartOpts{percentileX: true})
			if err != nil {
				return err
			}
			sec.Charts = append(sec.Charts, c)
		}
		pg.Compare = append(pg.Compare, sec)
	}
	return writePage(out, pg)
}
