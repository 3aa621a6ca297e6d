package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller/local"
	"github.com/kperf/kperf/controller/report"
)

// fakeBroker saturates at saturate records/s and its p99 passes bound above
// knee records/s.
func fakeBroker(saturate, knee float64, runs *[]float64) RunFunc {
	return func(_ context.Context, spec *kperfv1.TestPlan, o Options) (*report.Summary, error) {
		target := spec.GetThroughput()
		*runs = append(*runs, target)
		s := &report.Summary{RecordsPerSec: min(target, saturate)}
		s.LatencyMs.P99 = 10
		if target > knee {
			s.LatencyMs.P99 = 80
		}
		if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
			return nil, err
		}
		return s, nil
	}
}

func readSearchJSON(t *testing.T, dir string) SearchResult {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "search.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r SearchResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func searchSpec() *kperfv1.TestPlan {
	return &kperfv1.TestPlan{Duration: "1s", BootstrapServers: "127.0.0.1:9092"}
}

func TestRunSearchDoublesThenBisects(t *testing.T) {
	var runs []float64
	out := filepath.Join(t.TempDir(), "s")
	var stdout, progress bytes.Buffer
	res, err := RunSearch(context.Background(), searchSpec(), SearchOptions{
		Options: Options{Agents: []string{"a:1"}, OutDir: out, Stdout: &stdout},
		P99Max:  50 * time.Millisecond, RateMin: 5000, Progress: &progress,
		RunStep: fakeBroker(37000, 30000, &runs),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) > 8 {
		t.Errorf("%d runs, want at most 8: %v", len(runs), runs)
	}
	if !res.Found || res.MaxRate < 28500 || res.MaxRate > 30000 {
		t.Errorf("max rate %v (found %v), want in [28500, 30000]; runs %v", res.MaxRate, res.Found, runs)
	}
	// Doubling: 5000, 10000, 20000, 40000 (fails); then bisection.
	want := []float64{5000, 10000, 20000, 40000, 30000}
	for i, w := range want {
		if i >= len(runs) || runs[i] != w {
			t.Fatalf("runs %v, want to start %v", runs, want)
		}
	}
	for i := len(want); i < len(runs); i++ {
		if runs[i] <= 30000 || runs[i] >= 40000 {
			t.Errorf("bisection run %d at %v, want in (30000, 40000)", i+1, runs[i])
		}
	}
	got := readSearchJSON(t, out)
	if len(got.Steps) != len(runs) || got.MaxRate != res.MaxRate || !got.Found {
		t.Errorf("search.json: %+v", got)
	}
	if got.Steps[3].Pass || !strings.Contains(got.Steps[3].Reason, "p99") {
		t.Errorf("step 4 = %+v, want a p99 failure", got.Steps[3])
	}
	if got.Steps[0].Dir != "search-01-rate=5000" {
		t.Errorf("dir %q", got.Steps[0].Dir)
	}
	if !strings.Contains(stdout.String(), "max rate: 30000 records/s (p99 10.0 ms)") || !strings.Contains(stdout.String(), "achieved/target") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	if !strings.Contains(progress.String(), "run 1: target 5000 → achieved 5000 (100.0%), p99 10.0 ms: pass") ||
		!strings.Contains(progress.String(), "run 4: target 40000 → achieved 37000 (92.5%), p99 80.0 ms: fail (") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

func TestRunSearchDefaultStart(t *testing.T) {
	var runs []float64
	res, err := RunSearch(context.Background(), searchSpec(), SearchOptions{
		Options: Options{OutDir: filepath.Join(t.TempDir(), "s")},
		P99Max:  50 * time.Millisecond, RunStep: fakeBroker(37000, 30000, &runs),
	})
	if err != nil {
		t.Fatal(err)
	}
	// 1000..32000 is 6 doublings, leaving 2 bisections.
	if len(runs) != 8 || runs[0] != 1000 || runs[5] != 32000 || res.MaxRate != 28000 {
		t.Errorf("runs %v max %v", runs, res.MaxRate)
	}
}

func TestRunSearchAllFail(t *testing.T) {
	var runs []float64
	out := filepath.Join(t.TempDir(), "s")
	var stdout bytes.Buffer
	res, err := RunSearch(context.Background(), searchSpec(), SearchOptions{
		Options: Options{OutDir: out, Stdout: &stdout},
		P99Max:  50 * time.Millisecond, RunStep: fakeBroker(500, 30000, &runs),
	})
	if !errors.Is(err, ErrNoPassingRate) {
		t.Fatalf("err %v, want ErrNoPassingRate", err)
	}
	if len(runs) != 1 || res.Found {
		t.Errorf("runs %v found %v", runs, res.Found)
	}
	if !strings.Contains(stdout.String(), "no passing rate at or above 1000") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	if got := readSearchJSON(t, out); len(got.Steps) != 1 || got.Found {
		t.Errorf("search.json: %+v", got)
	}
}

func TestRunSearchRateMaxCap(t *testing.T) {
	var runs []float64
	res, err := RunSearch(context.Background(), searchSpec(), SearchOptions{
		Options: Options{OutDir: filepath.Join(t.TempDir(), "s")},
		P99Max:  50 * time.Millisecond, RateMin: 1000, RateMax: 6000,
		RunStep: fakeBroker(37000, 30000, &runs),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1000, 2000, 4000, 6000}
	if len(runs) != len(want) || runs[3] != 6000 || res.MaxRate != 6000 {
		t.Errorf("runs %v max %v, want %v and 6000", runs, res.MaxRate, want)
	}
}

func TestCheckSearchNamesFlag(t *testing.T) {
	ok := SearchOptions{P99Max: 50 * time.Millisecond}
	for _, tc := range []struct {
		name string
		spec func(*kperfv1.TestPlan)
		opt  func(*SearchOptions)
		want string
	}{
		{"p99 missing", nil, func(o *SearchOptions) { o.P99Max = 0 }, "--p99-max"},
		{"p99 negative", nil, func(o *SearchOptions) { o.P99Max = -time.Second }, "--p99-max"},
		{"tolerance 1", nil, func(o *SearchOptions) { o.Tolerance = 1 }, "--tolerance"},
		{"tolerance negative", nil, func(o *SearchOptions) { o.Tolerance = -0.1 }, "--tolerance"},
		{"steps", nil, func(o *SearchOptions) { o.Steps = -1 }, "--steps"},
		{"rate-min", nil, func(o *SearchOptions) { o.RateMin = -5 }, "--rate-min"},
		{"rate-max below", nil, func(o *SearchOptions) { o.RateMin, o.RateMax = 2000, 1000 }, "--rate-max"},
		{"num_records", func(s *kperfv1.TestPlan) { s.NumRecords = proto.Int64(1000) }, nil, "num_records"},
		{"throughput", func(s *kperfv1.TestPlan) { s.Throughput = proto.Float64(100) }, nil, "throughput"},
		{"sweep", func(s *kperfv1.TestPlan) { s.Sweep = &kperfv1.Sweep{} }, nil, "sweep"},
		{"bad duration", func(s *kperfv1.TestPlan) { s.Duration = "soon" }, nil, "duration"},
	} {
		spec, o := searchSpec(), ok
		if tc.spec != nil {
			tc.spec(spec)
		}
		if tc.opt != nil {
			tc.opt(&o)
		}
		err := CheckSearch(spec, o)
		var pe *PlanError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want a PlanError naming %s", tc.name, err, tc.want)
		}
	}
	if err := CheckSearch(searchSpec(), ok); err != nil {
		t.Errorf("valid search: %v", err)
	}
}

// TestRunSearchLocal runs a 3-step search for real against the in-process
// broker and agents.
func TestRunSearchLocal(t *testing.T) {
	t.Parallel()
	env, err := local.Start(1, true, "test", hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	out := filepath.Join(t.TempDir(), "search")
	spec := &kperfv1.TestPlan{Topic: "search", Duration: "1s", BootstrapServers: env.Bootstrap,
		ProducerProps: map[string]string{"linger.ms": "1"}}
	var stdout bytes.Buffer
	// Generous bounds so that every run passes and the search doubles.
	res, err := RunSearch(context.Background(), spec, SearchOptions{
		Options: Options{Agents: env.Agents, OutDir: out, Stdout: &stdout},
		P99Max:  time.Minute, RateMin: 200, Tolerance: 0.5, Steps: 3,
	})
	if err != nil {
		t.Fatalf("RunSearch: %v\n%s", err, stdout.String())
	}
	got := readSearchJSON(t, out)
	if len(got.Steps) != 3 || len(res.Steps) != 3 {
		t.Fatalf("search.json has %d steps, want 3:\n%s", len(got.Steps), stdout.String())
	}
	for _, st := range got.Steps {
		if _, err := report.ReadSummary(filepath.Join(out, st.Dir)); err != nil {
			t.Errorf("step %s: %v", st.Dir, err)
		}
	}
}
