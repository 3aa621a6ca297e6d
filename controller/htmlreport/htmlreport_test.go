package htmlreport_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller"
	"github.com/kperf/kperf/controller/htmlreport"
	"github.com/kperf/kperf/controller/local"
	"github.com/kperf/kperf/controller/report"
)

func startLocal(t *testing.T, agents int) *local.Env {
	t.Helper()
	env, err := local.Start(agents, true, "test", hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })
	return env
}

func smallPlan(env *local.Env, topic string) *kperfv1.TestPlan {
	return &kperfv1.TestPlan{
		BootstrapServers: env.Bootstrap,
		Topic:            topic,
		NumRecords:       proto.Int64(3000),
		Throughput:       proto.Float64(3000),
		Interval:         "250ms",
	}
}

// runInto runs a small plan against the embedded default into a new
// directory and returns it with the run's summary.
func runInto(t *testing.T, env *local.Env, topic string) (string, *report.Summary) {
	t.Helper()
	dir := t.TempDir()
	s, err := controller.Run(context.Background(), smallPlan(env, topic), controller.Options{Agents: env.Agents, OutDir: dir})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return dir, s
}

// sweepReport runs the sweep spec on env's agents into dir, writes its
// report and returns the report page.
func sweepReport(t *testing.T, env *local.Env, spec *kperfv1.TestPlan, dir string) string {
	t.Helper()
	if _, err := controller.RunSweep(context.Background(), spec, controller.SweepOptions{
		Options: controller.Options{Agents: env.Agents, OutDir: dir},
	}); err != nil {
		t.Fatalf("RunSweep: %v", err)
	}
	path, err := htmlreport.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	page := readFile(t, path)
	return page
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkSelfContained fails when the page refers to anything outside itself.
// The SVG namespace declarations are names, not resources.
func checkSelfContained(t *testing.T, page string) {
	t.Helper()
	stripped := regexp.MustCompile(`xmlns(:\w+)?="[^"]*"`).ReplaceAllString(page, "")
	for _, bad := range []string{"http://", "https://", "<script", "<link", "@import", "url(", "src="} {
		if strings.Contains(stripped, bad) {
			i := strings.Index(stripped, bad)
			t.Errorf("page refers to an external resource (%q): ...%s...", bad, stripped[max(0, i-80):min(len(stripped), i+80)])
		}
	}
}

// figure returns the <figure> element of the chart named name.
func figure(t *testing.T, page, name string) string {
	t.Helper()
	i := strings.Index(page, `<figure id="`+name+`">`)
	if i < 0 {
		t.Fatalf("no figure %s in the page", name)
	}
	j := strings.Index(page[i:], "</figure>")
	if j < 0 {
		t.Fatalf("figure %s not closed", name)
	}
	return page[i : i+j]
}

func TestReportSingleRun(t *testing.T) {
	env := startLocal(t, 2)
	dir, s := runInto(t, env, "report-run")

	res, err := htmlreport.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Run == nil || res.Sweep != nil {
		t.Fatalf("Load: want a single run, got %+v", res)
	}
	// Only the untagged histograms (latency from intended send time) are
	// merged: service time and send delay would count every record again.
	if n := res.Run.Latency.TotalCount(); n != s.Records {
		t.Errorf("merged latency histogram counts %d records, want %d", n, s.Records)
	}
	if len(res.Run.Intervals) != s.Intervals {
		t.Errorf("%d intervals read, summary says %d", len(res.Run.Intervals), s.Intervals)
	}

	path, err := htmlreport.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, "report.html") {
		t.Errorf("Write returned %s", path)
	}
	page := readFile(t, path)
	checkSelfContained(t, page)
	for name, title := range map[string]string{
		"throughput":           "Throughput per interval",
		"latency-p99":          "p99 latency per interval",
		"latency-distribution": "Latency by percentile",
	} {
		fig := figure(t, page, name)
		if !strings.Contains(fig, "<svg") || !strings.Contains(fig, ">"+title+"<") {
			t.Errorf("figure %s: want an inline <svg with the title %q", name, title)
		}
		svg := readFile(t, filepath.Join(dir, "charts", name+".svg"))
		if !strings.Contains(svg, "<svg") || !strings.Contains(svg, ">"+title+"<") {
			t.Errorf("charts/%s.svg: want an SVG with the title %q", name, title)
		}
	}
	// The percentile axis is labelled with percentiles.
	dist := figure(t, page, "latency-distribution")
	for _, label := range []string{">90%<", ">99%<", ">99.9%<", ">percentile<", ">latency (ms)<"} {
		if !strings.Contains(dist, label) {
			t.Errorf("latency distribution chart has no label %s", label)
		}
	}
	if strings.Count(page, "<svg") != 3 {
		t.Errorf("%d inline SVGs, want 3", strings.Count(page, "<svg"))
	}
	l := s.LatencyMs
	for _, want := range []string{
		"<th>records</th><td class=\"num\">3000</td>",
		fmt.Sprintf("<th>records/s</th><td class=\"num\">%.1f</td>", s.RecordsPerSec),
		fmt.Sprintf("<th>MB/s (MiB/s)</th><td class=\"num\">%.2f</td>", s.MBPerSec),
		fmt.Sprintf("<th>latency p50 (ms)</th><td class=\"num\">%.2f</td>", l.P50),
		fmt.Sprintf("<th>latency p99 (ms)</th><td class=\"num\">%.2f</td>", l.P99),
		fmt.Sprintf("<th>latency p99.9 (ms)</th><td class=\"num\">%.2f</td>", l.P999),
		fmt.Sprintf("<th>latency max (ms)</th><td class=\"num\">%.2f</td>", l.Max),
		"<th>delivery check</th><td class=\"num\">ok: 3000 acked, broker end offsets grew by 3000</td>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if !htmlreport.Succeeded(dir) {
		t.Error("Succeeded = false for a good run")
	}
}

func TestReportSweep(t *testing.T) {
	env := startLocal(t, 2)
	dir := filepath.Join(t.TempDir(), "sweep")
	spec := smallPlan(env, "report-sweep")
	spec.NumRecords = proto.Int64(2000)
	spec.Throughput = proto.Float64(-1)
	spec.Sweep = &kperfv1.Sweep{Axes: []*kperfv1.SweepAxis{{Key: "agents", Values: []string{"1", "2"}}}}
	page := sweepReport(t, env, spec, dir)
	checkSelfContained(t, page)
	for name, title := range map[string]string{
		"throughput-vs-agents":                  "Throughput vs agents",
		"latency-vs-throughput":                 "Latency vs throughput",
		"step-01-agents=1-throughput":           "Throughput per interval: step-01-agents=1",
		"step-02-agents=2-latency-distribution": "Latency by percentile: step-02-agents=2",
		"step-02-agents=2-latency-p99":          "p99 latency per interval: step-02-agents=2",
	} {
		if fig := figure(t, page, name); !strings.Contains(fig, ">"+title+"<") {
			t.Errorf("figure %s lacks the title %q", name, title)
		}
		if _, err := os.Stat(filepath.Join(dir, "charts", name+".svg")); err != nil {
			t.Error(err)
		}
	}
	tva := figure(t, page, "throughput-vs-agents")
	for _, want := range []string{">measured<", ">ideal linear<", ">agents<", ">records/s<"} {
		if !strings.Contains(tva, want) {
			t.Errorf("throughput vs agents chart lacks %s", want)
		}
	}
	for _, want := range []string{"<h2>Sweep</h2>", "<h2>Step 1: step-01-agents=1</h2>", "<h2>Step 2: step-02-agents=2</h2>"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if !htmlreport.Succeeded(dir) {
		t.Error("Succeeded = false for a good sweep")
	}

	// A sweep compared with itself: every step matched, nothing changed.
	out := filepath.Join(t.TempDir(), "self.html")
	if err := htmlreport.Compare(dir, dir, out); err != nil {
		t.Fatal(err)
	}
	cmp := readFile(t, out)
	for _, want := range []string{"<h2>step-01-agents=1</h2>", "<h2>step-02-agents=2</h2>", "+0.0%"} {
		if !strings.Contains(cmp, want) {
			t.Errorf("self-comparison lacks %s", want)
		}
	}
	if strings.Contains(cmp, `class="better"`) || strings.Contains(cmp, `class="worse"`) {
		t.Error("self-comparison marks a difference")
	}
}

func TestCompare(t *testing.T) {
	env := startLocal(t, 2)
	a, sa := runInto(t, env, "compare-a")
	b, sb := runInto(t, env, "compare-b")
	out := filepath.Join(t.TempDir(), "compare.html")
	if err := htmlreport.Compare(a, b, out); err != nil {
		t.Fatal(err)
	}
	page := readFile(t, out)
	checkSelfContained(t, page)
	pct := func(va, vb float64) string {
		s := fmt.Sprintf("%.1f%%", 100*(vb-va)/va)
		if !strings.HasPrefix(s, "-") {
			s = "+" + s
		}
		return s
	}
	row := regexp.MustCompile(`<tr><td>p99 ms</td><td class="num">([^<]*)</td><td class="num">([^<]*)</td><td class="num">([^<]*)</td><td class="num">([^<]*)</td><td class="(better|worse|same)">`)
	m := row.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no p99 row in the comparison:\n%s", page)
	}
	if want := fmt.Sprintf("%.2f", sa.LatencyMs.P99); m[1] != want {
		t.Errorf("p99 A = %s, want %s", m[1], want)
	}
	if want := fmt.Sprintf("%.2f", sb.LatencyMs.P99); m[2] != want {
		t.Errorf("p99 B = %s, want %s", m[2], want)
	}
	if want := pct(sa.LatencyMs.P99, sb.LatencyMs.P99); m[4] != want {
		t.Errorf("p99 change = %s, want %s", m[4], want)
	}
	switch d := sb.LatencyMs.P99 - sa.LatencyMs.P99; {
	case d > 0.005 && m[5] != "worse", d < -0.005 && m[5] != "better":
		t.Errorf("p99 %v -> %v marked %s", sa.LatencyMs.P99, sb.LatencyMs.P99, m[5])
	}
	for _, want := range []string{
		fmt.Sprintf(`<tr><td>records/s</td><td class="num">%.1f</td><td class="num">%.1f</td>`, sa.RecordsPerSec, sb.RecordsPerSec),
		"<td>MB/s</td>", "<td>p50 ms</td>", "<td>p99.9 ms</td>", "<td>max ms</td>",
		">Latency by percentile, A vs B: run<",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("comparison lacks %s", want)
		}
	}
	if !strings.Contains(page, pct(sa.RecordsPerSec, sb.RecordsPerSec)) {
		t.Errorf("comparison lacks the records/s change %s", pct(sa.RecordsPerSec, sb.RecordsPerSec))
	}
}

func TestBadDirs(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	empty := t.TempDir()
	for _, dir := range []string{missing, empty} {
		_, err := htmlreport.Write(dir)
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("Write(%s) = %v, want an error naming the path", dir, err)
		}
		if err := htmlreport.Compare(empty, dir, filepath.Join(t.TempDir(), "c.html")); err == nil || !strings.Contains(err.Error(), empty) {
			t.Errorf("Compare(%s, %s) = %v, want an error naming the path", empty, dir, err)
		}
		if htmlreport.Succeeded(dir) {
			t.Errorf("Succeeded(%s) = true", dir)
		}
	}
	if _, err := htmlreport.Write(empty); err == nil || !strings.Contains(err.Error(), "no summary.json or sweep.json") {
		t.Errorf("Write(empty dir) = %v", err)
	}
	if _, err := os.Stat(filepath.Join(empty, "report.html")); err == nil {
		t.Error("report.html written into a directory without results")
	}
}

func TestDistribution(t *testing.T) {
	h := hdrhistogram.New(1000, 60_000_000_000, 3)
	for v := int64(1); v <= 10000; v++ {
		h.RecordValue(v * 1000) // 1 µs .. 10 ms
	}
	xys := htmlreport.Distribution(h)
	if len(xys) < 100 || xys[0].X != 1 {
		t.Fatalf("%d points starting at x=%v", len(xys), xys[0].X)
	}
	near := func(x, want float64) {
		t.Helper()
		for _, p := range xys {
			if p.X >= x*0.999 {
				if p.Y < want*0.99 || p.Y > want*1.01 {
					t.Errorf("latency at x=%v is %v ms, want about %v", x, p.Y, want)
				}
				return
			}
		}
		t.Errorf("no point at x=%v", x)
	}
	near(10, 9)    // 90%
	near(100, 9.9) // 99%
	last := xys[len(xys)-1]
	if last.Y != float64(h.Max())/1e6 || last.X < 10000 {
		t.Errorf("last point %v, want the max %v ms past x=10000", last, float64(h.Max())/1e6)
	}
	for i := 1; i < len(xys); i++ {
		if xys[i].X < xys[i-1].X || xys[i].Y < xys[i-1].Y {
			t.Fatalf("curve not monotonic at %d: %v then %v", i, xys[i-1], xys[i])
		}
	}
}
