package controller

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller/local"
	"github.com/kperf/kperf/controller/report"
)

func axis(key string, vals ...string) *kperfv1.SweepAxis {
	return &kperfv1.SweepAxis{Key: key, Values: vals}
}

func sweepPlan(axes ...*kperfv1.SweepAxis) *kperfv1.TestPlan {
	return &kperfv1.TestPlan{
		Topic: "t", NumRecords: proto.Int64(1000),
		ProducerProps: map[string]string{"acks": "all", "linger.ms": "5"},
		Sweep:         &kperfv1.Sweep{Axes: axes},
	}
}

func TestExpandSweepOrderAndValues(t *testing.T) {
	t.Parallel()
	spec := sweepPlan(axis("agents", "1", "2"), axis("record_size", "100", "1024"))
	orig := proto.Clone(spec)
	sw, err := ExpandSweep(spec, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(spec, orig) {
		t.Error("ExpandSweep changed its input")
	}
	if want := []string{"agents", "record-size"}; !slices.Equal(sw.Axes, want) {
		t.Errorf("Axes = %q, want %q", sw.Axes, want)
	}
	want := []struct {
		dir           string
		agents, bytes int32
	}{
		{"step-01-agents=1,record-size=100", 1, 100},
		{"step-02-agents=1,record-size=1024", 1, 1024},
		{"step-03-agents=2,record-size=100", 2, 100},
		{"step-04-agents=2,record-size=1024", 2, 1024},
	}
	if len(sw.Steps) != len(want) {
		t.Fatalf("%d steps, want %d", len(sw.Steps), len(want))
	}
	for i, w := range want {
		st := sw.Steps[i]
		if st.Index != i+1 || st.Dir != w.dir || st.Spec.GetAgentCount() != w.agents || st.Spec.GetRecordSize() != w.bytes || st.Agents != int(w.agents) {
			t.Errorf("step %d = {%d %s agent_count=%d record_size=%d agents=%d}, want {%d %s %d %d}",
				i, st.Index, st.Dir, st.Spec.GetAgentCount(), st.Spec.GetRecordSize(), st.Agents, i+1, w.dir, w.agents, w.bytes)
		}
		if st.Spec.Sweep != nil {
			t.Errorf("step %d plan still has a sweep", i+1)
		}
		if st.Spec.GetTopic() != "t" || st.Spec.GetNumRecords() != 1000 {
			t.Errorf("step %d lost the base plan: %v", i+1, st.Spec)
		}
	}
	if got := sw.Steps[1].Settings(); got != "agents=1 record-size=1024" {
		t.Errorf("Settings() = %q", got)
	}
}

func TestExpandSweepAppliesEveryKey(t *testing.T) {
	t.Parallel()
	spec := sweepPlan(axis("workers", "3"), axis("throughput", "-1"), axis("acks", "1"), axis("compression", "lz4"),
		axis("batch-size", "65536"), axis("linger", "0"), axis("partitions", "3"), axis("driver", "franz"))
	spec.Sweep.Warmup, spec.Sweep.Cooldown = "2s", "500ms"
	sw, err := ExpandSweep(spec, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(sw.Steps) != 1 || sw.Warmup != 2*time.Second || sw.Cooldown != 500*time.Millisecond {
		t.Fatalf("got %d steps, warmup %v, cooldown %v", len(sw.Steps), sw.Warmup, sw.Cooldown)
	}
	want := &kperfv1.TestPlan{
		Topic: "t-p3", NumRecords: proto.Int64(1000), Workers: proto.Int32(3), Throughput: proto.Float64(-1),
		Partitions: proto.Int32(3), Driver: "franz",
		ProducerProps: map[string]string{"acks": "1", "linger.ms": "0", "compression.type": "lz4", "batch.size": "65536"},
	}
	if diff := cmp.Diff(want, sw.Steps[0].Spec, protocmp.Transform()); diff != "" {
		t.Errorf("step plan mismatch (-want +got):\n%s", diff)
	}
}

func TestExpandSweepKeySpellings(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"agents", "agent_count", "agent-count", "Record_Size", "record-size", "batch_size", "batch.size", "linger.ms", "compression.type"} {
		if canonicalSweepKey(k) == "" {
			t.Errorf("key %q not accepted", k)
		}
	}
}

func TestExpandSweepPartitionsUseOwnTopics(t *testing.T) {
	t.Parallel()
	spec := sweepPlan(axis("partitions", "1", "12"))
	spec.Topic = ""
	sw, err := ExpandSweep(spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{DefaultTopic + "-p1", DefaultTopic + "-p12"} {
		if got := sw.Steps[i].Spec.GetTopic(); got != want {
			t.Errorf("step %d topic = %q, want %q", i+1, got, want)
		}
	}
}

func TestExpandSweepErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		spec   *kperfv1.TestPlan
		agents int
		want   []string
	}{
		{"no axes", sweepPlan(), 1, []string{"no axes"}},
		{"unknown key", sweepPlan(axis("colour", "red")), 1, []string{`"colour"`}},
		{"no values", sweepPlan(axis("workers")), 1, []string{"workers", "no values"}},
		{"empty value", sweepPlan(axis("workers", "1", "")), 1, []string{"workers", "empty value"}},
		{"duplicate axis", sweepPlan(axis("linger", "1"), axis("linger.ms", "2")), 1, []string{"linger", "twice"}},
		{"duplicate value", sweepPlan(axis("acks", "1", "1")), 1, []string{"acks", `"1"`, "twice"}},
		{"not an integer", sweepPlan(axis("record-size", "100", "big")), 1, []string{"record-size=big"}},
		{"rejected by the plan", sweepPlan(axis("record-size", "100", "0")), 1, []string{"record-size=0"}},
		{"bad acks", sweepPlan(axis("acks", "2")), 1, []string{"acks=2", "acks"}},
		{"bad compression", sweepPlan(axis("compression", "brotli")), 1, []string{"compression=brotli"}},
		{"bad driver", sweepPlan(axis("driver", "kafka")), 1, []string{"driver=kafka"}},
		{"bad throughput", sweepPlan(axis("throughput", "0")), 1, []string{"throughput=0"}},
		{"too many agents", sweepPlan(axis("agents", "1", "4")), 3, []string{"agents=4", "only 3"}},
		{"bad warmup", func() *kperfv1.TestPlan { p := sweepPlan(axis("acks", "1")); p.Sweep.Warmup = "soon"; return p }(), 1, []string{"warmup", `"soon"`}},
		{"step cannot split", sweepPlan(axis("workers", "1", "600"), axis("agents", "1", "2")), 2, []string{"step 4", "workers=600 agents=2", "num_records"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ExpandSweep(tc.spec, tc.agents)
			var pe *PlanError
			if !errors.As(err, &pe) {
				t.Fatalf("ExpandSweep error = %v, want a *PlanError", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestStepDirSanitizes(t *testing.T) {
	t.Parallel()
	got := stepDir(7, 3, []AxisValue{{"compression", "l z/4"}, {"throughput", "-1"}})
	if want := "step-007-compression=l_z_4,throughput=-1"; got != want {
		t.Errorf("stepDir = %q, want %q", got, want)
	}
}

func TestSweepFlags(t *testing.T) {
	t.Parallel()
	base := sweepPlan(axis("workers", "1", "2"))
	base.Sweep.Warmup = "1s"
	got, err := parseAndApply(t, base, "--sweep", "agents=1,2", "--sweep", "record-size= 100 ,1024", "--sweep-cooldown", "3s")
	if err != nil {
		t.Fatal(err)
	}
	want := &kperfv1.Sweep{Axes: []*kperfv1.SweepAxis{axis("agents", "1", "2"), axis("record-size", "100", "1024")}, Warmup: "1s", Cooldown: "3s"}
	if diff := cmp.Diff(want, got.GetSweep(), protocmp.Transform()); diff != "" {
		t.Errorf("sweep mismatch (-want +got):\n%s", diff)
	}
	if got, err = parseAndApply(t, base, "--sweep-warmup", "5s"); err != nil || got.GetSweep().GetWarmup() != "5s" || len(got.GetSweep().GetAxes()) != 1 {
		t.Errorf("--sweep-warmup: %v, %v", got.GetSweep(), err)
	}
	if got, err = parseAndApply(t, &kperfv1.TestPlan{}, "--topic", "x"); err != nil || got.Sweep != nil {
		t.Errorf("no sweep flags made a sweep: %v, %v", got.GetSweep(), err)
	}
	fs, _ := newFlagSet()
	if err := fs.Parse([]string{"--sweep", "agents"}); err == nil || !strings.Contains(err.Error(), "KEY=V1,V2") {
		t.Errorf("--sweep agents: error %v, want one asking for KEY=V1,V2,...", err)
	}
}

// fakeRunner stands in for Run: it records calls and writes a summary.
type fakeRunner struct {
	mu    sync.Mutex
	calls []string // OutDir base names of measured runs, "warmup" for warm-ups
	hook  func(call int, spec *kperfv1.TestPlan, o Options) (*report.Summary, error)
}

func (f *fakeRunner) run(ctx context.Context, spec *kperfv1.TestPlan, o Options) (*report.Summary, error) {
	f.mu.Lock()
	name := filepath.Base(o.OutDir)
	if !strings.HasPrefix(name, "step-") {
		name = "warmup"
	}
	f.calls = append(f.calls, name)
	n := len(f.calls)
	f.mu.Unlock()
	if f.hook != nil {
		if s, err := f.hook(n, spec, o); s != nil || err != nil {
			return s, err
		}
	}
	agents := make([]report.Agent, max(1, spec.GetAgentCount()))
	s := &report.Summary{Records: spec.GetNumRecords(), RecordsPerSec: 1000 * float64(spec.GetRecordSize()),
		LatencyMs: report.Latency{P50: 1, P99: 2, Max: 3}, Agents: agents, DeliveryCheck: report.Delivery{OK: true}}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	return s, report.WriteSummary(o.OutDir, s)
}

func readSweepJSON(t *testing.T, dir string) []report.SweepRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "sweep.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []report.SweepRow
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

func readSweepCSV(t *testing.T, dir string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "sweep.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestRunSweepWritesTableAfterEveryStep(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "sweep")
	f := &fakeRunner{}
	f.hook = func(call int, _ *kperfv1.TestPlan, o Options) (*report.Summary, error) {
		// Before step k runs, the table holds the k-1 steps before it.
		want := call - 1
		if call == 1 {
			if _, err := os.Stat(filepath.Join(out, "sweep.json")); !os.IsNotExist(err) {
				t.Errorf("sweep.json before the first step: %v", err)
			}
			return nil, nil
		}
		if rows := readSweepJSON(t, out); len(rows) != want {
			t.Errorf("before step %d sweep.json has %d rows, want %d", call, len(rows), want)
		}
		if recs := readSweepCSV(t, out); len(recs) != want+1 {
			t.Errorf("before step %d sweep.csv has %d lines, want %d", call, len(recs), want+1)
		}
		return nil, nil
	}
	var stdout, progress bytes.Buffer
	res, err := RunSweep(context.Background(), sweepPlan(axis("agents", "1", "2"), axis("record-size", "100", "200")), SweepOptions{
		Options: Options{Agents: []string{"a:1", "b:1"}, OutDir: out, Stdout: &stdout, Progress: NewProgress(&progress, false)}, RunStep: f.run,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ran != 4 || len(res.Rows) != 4 || res.Interrupted {
		t.Errorf("result: ran %d, %d rows, interrupted %v", res.Ran, len(res.Rows), res.Interrupted)
	}
	rows := readSweepJSON(t, out)
	if len(rows) != 4 {
		t.Fatalf("sweep.json has %d rows", len(rows))
	}
	r := rows[3]
	if r.Step != 4 || r.Dir != "step-04-agents=2,record-size=200" || r.Values["agents"] != "2" || r.Values["record-size"] != "200" ||
		r.Agents != 2 || r.Records != 1000 || r.RecordsPerSec != 200000 || r.LatencyMs.P99 != 2 || !r.DeliveryOK {
		t.Errorf("row 4 = %+v", r)
	}
	recs := readSweepCSV(t, out)
	if len(recs) != 5 || recs[0][0] != "step" || recs[0][1] != "record-size" || recs[4][1] != "200" {
		t.Errorf("sweep.csv = %q", recs)
	}
	for i := 1; i <= 4; i++ {
		if !strings.Contains(progress.String(), fmt.Sprintf("step %d of 4: ", i)) {
			t.Errorf("no progress line for step %d in %q", i, progress.String())
		}
	}
	table := stdout.String()
	for _, w := range []string{"records/s", "p99.9 ms", "record-size=200", "200000.0"} {
		if !strings.Contains(table, w) {
			t.Errorf("table lacks %q:\n%s", w, table)
		}
	}
}

func TestRunSweepRefusesNonEmptyOutWithoutResume(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "x"), nil, 0o644)
	f := &fakeRunner{}
	_, err := RunSweep(context.Background(), sweepPlan(axis("acks", "1")), SweepOptions{Options: Options{Agents: []string{"a:1"}, OutDir: out}, RunStep: f.run})
	var pe *PlanError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("error = %v, want a PlanError naming --resume", err)
	}
	if len(f.calls) != 0 {
		t.Errorf("ran %v", f.calls)
	}
}

func TestRunSweepResumeSkipsFinishedSteps(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	spec := sweepPlan(axis("agents", "1", "2"), axis("record-size", "100", "200"))
	// A finished step 2 and an interrupted step 3 from an earlier run.
	done := filepath.Join(out, "step-02-agents=1,record-size=200")
	os.MkdirAll(done, 0o755)
	if err := report.WriteSummary(done, &report.Summary{Records: 777, RecordsPerSec: 42, Agents: make([]report.Agent, 1), DeliveryCheck: report.Delivery{OK: true}}); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(out, "step-03-agents=2,record-size=100")
	os.MkdirAll(partial, 0o755)
	report.WriteSummary(partial, &report.Summary{Records: 5, Interrupted: true})
	f := &fakeRunner{}
	res, err := RunSweep(context.Background(), spec, SweepOptions{Options: Options{Agents: []string{"a:1", "b:1"}, OutDir: out}, Resume: true, RunStep: f.run})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"step-01-agents=1,record-size=100", "step-03-agents=2,record-size=100", "step-04-agents=2,record-size=200"}; !slices.Equal(f.calls, want) {
		t.Errorf("ran %q, want %q", f.calls, want)
	}
	rows := readSweepJSON(t, out)
	if len(rows) != 4 || res.Ran != 3 {
		t.Fatalf("%d rows, ran %d", len(rows), res.Ran)
	}
	if r := rows[1]; r.Records != 777 || r.RecordsPerSec != 42 || !r.Resumed || r.Step != 2 {
		t.Errorf("resumed row = %+v", r)
	}
	if r := rows[2]; r.Records != 1000 || r.Resumed || r.Interrupted {
		t.Errorf("re-run interrupted step row = %+v", r)
	}
}

func TestRunSweepFailedStepContinues(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	f := &fakeRunner{hook: func(call int, _ *kperfv1.TestPlan, _ Options) (*report.Summary, error) {
		if call == 2 {
			return nil, &AgentError{"b:1", errors.New("lost during the run: boom")}
		}
		return nil, nil
	}}
	var stdout bytes.Buffer
	res, err := RunSweep(context.Background(), sweepPlan(axis("acks", "0", "1", "all")), SweepOptions{
		Options: Options{Agents: []string{"a:1"}, OutDir: out, Stdout: &stdout}, RunStep: f.run})
	if !errors.Is(err, ErrSweepStepsFailed) {
		t.Fatalf("error = %v, want ErrSweepStepsFailed", err)
	}
	var pe *PlanError
	if errors.As(err, &pe) {
		t.Error("a failed step is a PlanError")
	}
	if len(f.calls) != 3 || len(res.Rows) != 3 {
		t.Fatalf("calls %q, rows %d", f.calls, len(res.Rows))
	}
	rows := readSweepJSON(t, out)
	if !strings.Contains(rows[1].Error, "boom") || rows[0].Error != "" || rows[2].Error != "" {
		t.Errorf("rows = %+v", rows)
	}
	if !strings.Contains(stdout.String(), "FAILED: ") {
		t.Errorf("table does not show the failure:\n%s", stdout.String())
	}
}

func TestRunSweepPlanErrorStops(t *testing.T) {
	t.Parallel()
	f := &fakeRunner{hook: func(int, *kperfv1.TestPlan, Options) (*report.Summary, error) {
		return nil, &PlanError{errors.New("plan key record_size: too big for the topic")}
	}}
	_, err := RunSweep(context.Background(), sweepPlan(axis("acks", "0", "1")), SweepOptions{
		Options: Options{Agents: []string{"a:1"}, OutDir: t.TempDir()}, RunStep: f.run})
	var pe *PlanError
	if !errors.As(err, &pe) || len(f.calls) != 1 {
		t.Errorf("error %v after %d calls, want the PlanError after 1", err, len(f.calls))
	}
}

func TestRunSweepWarmup(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	var warmDirs []string
	f := &fakeRunner{}
	f.hook = func(call int, spec *kperfv1.TestPlan, o Options) (*report.Summary, error) {
		if f.calls[call-1] == "warmup" {
			warmDirs = append(warmDirs, o.OutDir)
			if spec.GetDuration() != "1.5s" || spec.GetNumRecords() != 0 || spec.GetProducerProps()["acks"] == "all" {
				t.Errorf("warm-up plan %v, want the step's for 1.5s", spec)
			}
			if strings.HasPrefix(o.OutDir, out) {
				t.Errorf("warm-up writes into the sweep's directory: %s", o.OutDir)
			}
		}
		return nil, nil
	}
	spec := sweepPlan(axis("acks", "0", "1"))
	spec.Sweep.Warmup = "1.5s"
	if _, err := RunSweep(context.Background(), spec, SweepOptions{Options: Options{Agents: []string{"a:1"}, OutDir: out}, RunStep: f.run}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"warmup", "step-01-acks=0", "warmup", "step-02-acks=1"}; !slices.Equal(f.calls, want) {
		t.Errorf("calls %q, want %q", f.calls, want)
	}
	for _, d := range warmDirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("warm-up scratch %s left behind", d)
		}
	}
	rows := readSweepJSON(t, out)
	if len(rows) != 2 || rows[0].Records != 1000 {
		t.Errorf("rows %+v: warm-up records counted?", rows)
	}
}

// TestRunSweepResumeAfterKill stops a sweep after its 2nd step, as a
// killed controller would, and resumes it: no step runs twice, none is
// lost.
func TestRunSweepResumeAfterKill(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	spec := sweepPlan(axis("agents", "1", "2"), axis("record-size", "100", "200"))
	opts := SweepOptions{Options: Options{Agents: []string{"a:1", "b:1"}, OutDir: out}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeRunner{}
	// The kill lands once step 2's results are written.
	opts.RunStep = func(ctx context.Context, spec *kperfv1.TestPlan, o Options) (*report.Summary, error) {
		s, err := f.run(ctx, spec, o)
		if len(f.calls) == 2 {
			cancel()
		}
		return s, err
	}
	res, err := RunSweep(ctx, spec, opts)
	if err != nil || !res.Interrupted || len(res.Rows) != 2 {
		t.Fatalf("first sweep: %v, %+v", err, res)
	}
	if rows := readSweepJSON(t, out); len(rows) != 2 {
		t.Fatalf("after the kill sweep.json has %d rows, want 2", len(rows))
	}
	opts.RunStep, opts.Resume = f.run, true
	res, err = RunSweep(context.Background(), spec, opts)
	if err != nil || res.Interrupted || res.Ran != 2 {
		t.Fatalf("resumed sweep: %v, %+v", err, res)
	}
	seen := map[string]int{}
	for _, c := range f.calls {
		seen[c]++
	}
	if len(f.calls) != 4 || len(seen) != 4 {
		t.Errorf("steps run %q: want each of 4 once", f.calls)
	}
	rows := readSweepJSON(t, out)
	if len(rows) != 4 {
		t.Fatalf("final sweep.json has %d rows, want 4", len(rows))
	}
	for i, r := range rows {
		if r.Step != i+1 || r.Records != 1000 || r.Resumed != (i < 2) {
			t.Errorf("row %d = %+v", i, r)
		}
	}
}

// TestRunSweepLocal runs a 2x2 sweep for real against the in-process broker
// and agents.
func TestRunSweepLocal(t *testing.T) {
	t.Parallel()
	env, err := local.Start(2, true, "test", hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	out := filepath.Join(t.TempDir(), "sweep")
	spec := &kperfv1.TestPlan{
		Topic: "sweep", NumRecords: proto.Int64(2000), Throughput: proto.Float64(-1), BootstrapServers: env.Bootstrap,
		ProducerProps: map[string]string{"linger.ms": "1"},
		Sweep:         &kperfv1.Sweep{Axes: []*kperfv1.SweepAxis{axis("agents", "1", "2"), axis("record-size", "100", "200")}},
	}
	var stdout bytes.Buffer
	res, err := RunSweep(context.Background(), spec, SweepOptions{Options: Options{Agents: env.Agents, OutDir: out, Stdout: &stdout}})
	if err != nil {
		t.Fatalf("RunSweep: %v\n%s", err, stdout.String())
	}
	if res.Ran != 4 {
		t.Errorf("ran %d steps", res.Ran)
	}
	for _, st := range []string{"step-01-agents=1,record-size=100", "step-02-agents=1,record-size=200", "step-03-agents=2,record-size=100", "step-04-agents=2,record-size=200"} {
		s, err := report.ReadSummary(filepath.Join(out, st))
		if err != nil {
			t.Errorf("step %s: %v", st, err)
			continue
		}
		if s.Records != 2000 || !s.DeliveryCheck.OK {
			t.Errorf("step %s: %d records, delivery ok %v; want 2000, true", st, s.Records, s.DeliveryCheck.OK)
		}
	}
	if recs := readSweepCSV(t, out); len(recs) != 5 {
		t.Errorf("sweep.csv has %d lines, want header + 4", len(recs))
	}
	rows := readSweepJSON(t, out)
	for i, r := range rows {
		if want := 1 + i/2; r.Agents != want || r.Records != 2000 || !r.DeliveryOK {
			t.Errorf("row %d: agents %d records %d ok %v; want %d, 2000, true", i+1, r.Agents, r.Records, r.DeliveryOK, want)
		}
	}
}

func TestSweepFromYAML(t *testing.T) {
	t.Parallel()
	spec, err := ParsePlan([]byte(`
num_records: 1000
sweep: {axes: [{key: agents, values: ["1","2"]}, {key: record-size, values: ["100","1024"]}], warmup: 2s}
`))
	if err != nil {
		t.Fatal(err)
	}
	sw, err := ExpandSweep(spec, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(sw.Steps) != 4 || sw.Warmup != 2*time.Second || sw.Steps[3].Dir != "step-04-agents=2,record-size=1024" {
		t.Errorf("sweep = %+v", sw)
	}
}

func TestRunSweepInterruptedStopsAfterTheStep(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeRunner{}
	f.hook = func(call int, spec *kperfv1.TestPlan, o Options) (*report.Summary, error) {
		if call < 2 {
			return nil, nil
		}
		cancel() // SIGINT during step 2: its partial results are kept
		s := &report.Summary{Records: 10, Interrupted: true, Agents: make([]report.Agent, 1)}
		os.MkdirAll(o.OutDir, 0o755)
		return s, report.WriteSummary(o.OutDir, s)
	}
	res, err := RunSweep(ctx, sweepPlan(axis("acks", "0", "1", "all")), SweepOptions{
		Options: Options{Agents: []string{"a:1"}, OutDir: out}, RunStep: f.run})
	if err != nil || !res.Interrupted || len(f.calls) != 2 {
		t.Fatalf("err %v, result %+v, calls %q", err, res, f.calls)
	}
	rows := readSweepJSON(t, out)
	if len(rows) != 2 || !rows[1].Interrupted || rows[1].Records != 10 {
		t.Errorf("rows = %+v", rows)
	}
}
