package htmlreport

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/kperf/kperf/controller/report"
)

// Chart is one drawn chart: its file name (without .svg), title and SVG
// document.
type Chart struct {
	Name  string
	Title string
	SVG   []byte
}

// Series is one named line of a chart.
type Series struct {
	Name string
	XY   plotter.XYs
}

const (
	chartWidth  = 18 * vg.Centimeter
	chartHeight = 9 * vg.Centimeter
)

// chartOpts are a chart's options.
type chartOpts struct {
	// points marks every point of a line.
	points bool
	// percentileX makes the x axis the log-scaled 1/(1-percentile) axis of
	// an HdrHistogram percentile-distribution plot.
	percentileX bool
	// xTicks replaces the default x ticks.
	xTicks plot.Ticker
	// xFromZero starts the x axis at 0.
	xFromZero bool
}

// lineChart draws series as lines on a chart with a legend.
func lineChart(name, title, xLabel, yLabel string, series []Series, o chartOpts) (*Chart, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	// Top left, icons before the text: a wider fallback font then runs
	// into empty space rather than into the icons.
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min = 0
	p.Y.Tick.Marker = tidyTicks{plot.DefaultTicks{}}
	p.X.Tick.Marker = tidyTicks{plot.DefaultTicks{}}
	maxX, maxY, lines := 1.0, 0.0, 0
	for i, s := range series {
		if len(s.XY) == 0 {
			continue
		}
		lines++
		for _, pt := range s.XY {
			maxX, maxY = max(maxX, pt.X), max(maxY, pt.Y)
		}
		l, sc, err := plotter.NewLinePoints(s.XY)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %s: %w", name, s.Name, err)
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		l.Dashes = plotutil.Dashes(i)
		p.Add(l)
		if o.points {
			sc.Color = plotutil.Color(i)
			sc.Shape = plotutil.Shape(i)
			p.Add(sc)
			p.Legend.Add(s.Name, l, sc)
		} else {
			p.Legend.Add(s.Name, l)
		}
	}
	// Room above the data for the legend.
	if maxY > 0 {
		p.Y.Max = maxY * (1.1 + 0.08*float64(lines))
	}
	if o.xFromZero {
		p.X.Min = 0
	}
	if o.xTicks != nil {
		p.X.Tick.Marker = o.xTicks
	}
	if o.percentileX {
		p.X.Scale = plot.LogScale{}
		p.X.Min = 1
		p.X.Tick.Marker = percentileTicks(maxX)
	}
	// Margins on the right and top: a viewer without the Liberation fonts
	// the layout was measured with may draw wider text.
	c := vgsvg.New(chartWidth, chartHeight)
	p.Draw(draw.Crop(draw.New(c), vg.Points(2), -vg.Points(18), vg.Points(2), -vg.Points(4)))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart %s: %w", name, err)
	}
	return &Chart{Name: name, Title: title, SVG: buf.Bytes()}, nil
}

// tidyTicks labels ticks with the shortest decimal (5000, not 5000.00).
type tidyTicks struct{ plot.Ticker }

func (t tidyTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := t.Ticker.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}

// intTicks labels the given whole numbers.
func intTicks(vs []int) plot.ConstantTicks {
	var ts plot.ConstantTicks
	for _, v := range vs {
		ts = append(ts, plot.Tick{Value: float64(v), Label: strconv.Itoa(v)})
	}
	return ts
}

// percentileTicks labels the x axis 1/(1-percentile) with percentiles:
// 1 is 0%, 10 is 90%, 100 is 99%, 1000 is 99.9%, ...
func percentileTicks(maxX float64) plot.ConstantTicks {
	ticks := plot.ConstantTicks{{Value: 1, Label: "0%"}}
	for k := 1; k <= 9; k++ {
		v := math.Pow(10, float64(k))
		if v > maxX*1.0001 && k > 1 {
			break
		}
		label := map[int]string{1: "90%", 2: "99%"}[k]
		if k > 2 {
			label = "99." + strings.Repeat("9", k-2) + "%"
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: label})
		for m := 2; m <= 9; m++ { // unlabelled minor ticks
			if mv := v * float64(m); mv <= maxX {
				ticks = append(ticks, plot.Tick{Value: mv})
			}
		}
	}
	return ticks
}

// Distribution returns the percentile-distribution curve of h (values in
// ns): x is 1/(1-percentile), y the latency in ms at that percentile, from
// 0% to beyond the percentile of a single record (1 - 1/count), ending at
// the maximum.
func Distribution(h *hdrhistogram.Histogram) plotter.XYs {
	n := h.TotalCount()
	if n == 0 {
		return nil
	}
	// Past 1/(1-p) = count the curve is flat at the maximum.
	top := min(max(math.Log10(float64(n))+0.3, 1), 7)
	var xys plotter.XYs
	for k := 0.0; k <= top+1e-9; k += 0.02 {
		x := math.Pow(10, k)
		p := 100 * (1 - 1/x)
		xys = append(xys, plotter.XY{X: x, Y: float64(min(h.ValueAtQuantile(p), h.Max())) / 1e6})
	}
	xys = append(xys, plotter.XY{X: math.Pow(10, top), Y: float64(h.Max()) / 1e6})
	return xys
}

// runCharts draws a run's interval timelines and its latency distribution.
// prefix makes the file names unique per sweep step.
func runCharts(r *Run, prefix, label string) ([]*Chart, error) {
	suffix := ""
	if label != "" {
		suffix = ": " + label
	}
	var tput, p99, svc, target plotter.XYs
	for _, iv := range r.Intervals {
		tput = append(tput, plotter.XY{X: iv.EndS, Y: iv.RecordsPerSec})
		p99 = append(p99, plotter.XY{X: iv.EndS, Y: iv.P99Ms})
		svc = append(svc, plotter.XY{X: iv.EndS, Y: iv.ServiceP99Ms})
	}
	var out []*Chart
	if len(tput) > 0 {
		series := []Series{{"acked records/s", tput}}
		if t := r.Summary.TargetRecordsPerSec; t > 0 {
			target = plotter.XYs{{X: 0, Y: t}, {X: tput[len(tput)-1].X, Y: t}}
			series = append(series, Series{"target", target})
		}
		c, err := lineChart(prefix+"throughput", "Throughput per interval"+suffix, "time since start (s)", "records/s", series, chartOpts{points: true, xFromZero: true})
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		c, err = lineChart(prefix+"latency-p99", "p99 latency per interval"+suffix, "time since start (s)", "latency (ms)",
			[]Series{{"p99 latency (intended send -> ack)", p99}, {"p99 service time (send -> ack)", svc}}, chartOpts{points: true, xFromZero: true})
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if r.Latency != nil && r.Latency.TotalCount() > 0 {
		c, err := lineChart(prefix+"latency-distribution", "Latency by percentile"+suffix, "percentile", "latency (ms)",
			[]Series{{"latency (intended send -> ack)", Distribution(r.Latency)}}, chartOpts{percentileX: true})
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	cc, err := consumeCharts(r, prefix, suffix)
	if err != nil {
		return nil, err
	}
	return append(out, cc...), nil
}

// sweepCharts draws throughput vs agents, with the ideal linear line, and
// latency percentiles vs achieved throughput.
func sweepCharts(sw *Sweep) ([]*Chart, error) {
	var out []*Chart
	// Group the steps by their settings other than agents: one measured
	// line and one ideal line per group.
	type pt struct {
		agents int
		rps    float64
	}
	groups := map[string][]pt{}
	var order []string
	for _, row := range sw.Rows {
		if row.Agents <= 0 || row.Error != "" && row.Records == 0 {
			continue
		}
		key := otherSettings(row)
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], pt{row.Agents, row.RecordsPerSec})
	}
	var series []Series
	for _, key := range order {
		g := groups[key]
		sort.SliceStable(g, func(i, j int) bool { return g[i].agents < g[j].agents })
		var meas, ideal plotter.XYs
		for _, p := range g {
			meas = append(meas, plotter.XY{X: float64(p.agents), Y: p.rps})
			ideal = append(ideal, plotter.XY{X: float64(p.agents), Y: g[0].rps * float64(p.agents) / float64(g[0].agents)})
		}
		name := "measured"
		if key != "" {
			name += " " + key
		}
		series = append(series, Series{name, meas}, Series{"ideal linear" + strings.TrimPrefix(name, "measured"), ideal})
	}
	if len(series) > 0 {
		var counts []int
		for _, g := range groups {
			for _, p := range g {
				if !slices.Contains(counts, p.agents) {
					counts = append(counts, p.agents)
				}
			}
		}
		slices.Sort(counts)
		c, err := lineChart("throughput-vs-agents", "Throughput vs agents", "agents", "records/s", series, chartOpts{points: true, xTicks: intTicks(counts)})
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	type lp struct{ rps, p50, p99, p999 float64 }
	var lps []lp
	for _, row := range sw.Rows {
		if row.Records == 0 {
			continue
		}
		l := row.LatencyMs
		lps = append(lps, lp{row.RecordsPerSec, l.P50, l.P99, l.P999})
	}
	if len(lps) > 0 {
		sort.SliceStable(lps, func(i, j int) bool { return lps[i].rps < lps[j].rps })
		var s50, s99, s999 plotter.XYs
		for _, p := range lps {
			s50 = append(s50, plotter.XY{X: p.rps, Y: p.p50})
			s99 = append(s99, plotter.XY{X: p.rps, Y: p.p99})
			s999 = append(s999, plotter.XY{X: p.rps, Y: p.p999})
		}
		c, err := lineChart("latency-vs-throughput", "Latency vs throughput", "achieved records/s", "latency (ms)",
			[]Series{{"p50", s50}, {"p99", s99}, {"p99.9", s999}}, chartOpts{points: true})
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// otherSettings is "key=value ..." of a step's axis values but agents.
func otherSettings(row report.SweepRow) string {
	var keys []string
	for k := range row.Values {
		if k != "agents" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + row.Values[k]
	}
	return strings.Join(parts, " ")
}

// fmtNum formats v with digits decimals, "-" for NaN.
func fmtNum(v float64, digits int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', digits, 64)
}
