package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller/report"
)

// SweepKeys are the axis keys a sweep takes, in their canonical (kebab)
// spelling.
var SweepKeys = []string{"agents", "workers", "record-size", "throughput", "acks", "compression", "batch-size", "linger", "partitions", "driver"}

// sweepAliases maps other spellings of an axis key to its canonical one.
var sweepAliases = map[string]string{
	"agent-count":      "agents",
	"compression-type": "compression",
	"compression.type": "compression",
	"batch.size":       "batch-size",
	"linger-ms":        "linger",
	"linger.ms":        "linger",
}

// canonicalSweepKey returns the canonical spelling of an axis key, or ""
// when it is not one.
func canonicalSweepKey(key string) string {
	k := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(key)), "_", "-")
	if a, ok := sweepAliases[k]; ok {
		return a
	}
	for _, c := range SweepKeys {
		if c == k {
			return c
		}
	}
	return ""
}

// AxisValue is one axis's value in a sweep step.
type AxisValue struct {
	Key   string // canonical axis key
	Value string
}

// SweepStep is one run of a sweep.
type SweepStep struct {
	// Index is 1-based.
	Index int
	// Values are the step's axis values in axis order.
	Values []AxisValue
	// Spec is the step's plan: the sweep's plan with the values applied and
	// no sweep.
	Spec *kperfv1.TestPlan
	// Dir is the step's results folder name, e.g.
	// step-01-agents=1,record-size=100.
	Dir string
	// Agents is how many agents the step uses; 0 when not known.
	Agents int
}

// Settings returns "key=value key=value" of the step's values.
func (s *SweepStep) Settings() string {
	parts := make([]string, len(s.Values))
	for i, v := range s.Values {
		parts[i] = v.Key + "=" + v.Value
	}
	return strings.Join(parts, " ")
}

// Sweep is a validated sweep: its steps and timings.
type Sweep struct {
	// Axes are the canonical axis keys in order.
	Axes     []string
	Steps    []SweepStep
	Warmup   time.Duration
	Cooldown time.Duration
}

// ExpandSweep validates spec's sweep and returns its steps: the cartesian
// product of the axes' values in axis order, each step's plan resolved and
// split up front. agents is how many agents are available (0: unknown,
// not checked). Every error is a *PlanError naming the axis key or value.
func ExpandSweep(spec *kperfv1.TestPlan, agents int) (*Sweep, error) {
	bad := func(format string, args ...any) (*Sweep, error) {
		return nil, &PlanError{fmt.Errorf("plan key sweep: "+format, args...)}
	}
	sw := spec.GetSweep()
	if sw == nil || len(sw.GetAxes()) == 0 {
		return bad("no axes: give --sweep KEY=V1,V2,... (keys: %s)", strings.Join(SweepKeys, ", "))
	}
	out := &Sweep{}
	for _, f := range []struct {
		name, val string
		d         *time.Duration
	}{{"warmup", sw.GetWarmup(), &out.Warmup}, {"cooldown", sw.GetCooldown(), &out.Cooldown}} {
		if f.val == "" {
			continue
		}
		d, err := time.ParseDuration(f.val)
		if err != nil || d < 0 {
			return bad("%s %q: want a Go duration such as 2s", f.name, f.val)
		}
		*f.d = d
	}
	base := proto.Clone(spec).(*kperfv1.TestPlan)
	base.Sweep = nil
	if base.Topic == "" {
		base.Topic = DefaultTopic
	}
	values := make([][]string, len(sw.GetAxes()))
	for i, ax := range sw.GetAxes() {
		key := canonicalSweepKey(ax.GetKey())
		if key == "" {
			return bad("unknown axis key %q (keys: %s)", ax.GetKey(), strings.Join(SweepKeys, ", "))
		}
		for _, k := range out.Axes {
			if k == key {
				return bad("axis %s appears twice", key)
			}
		}
		out.Axes = append(out.Axes, key)
		if len(ax.GetValues()) == 0 {
			return bad("axis %s has no values", key)
		}
		seen := map[string]bool{}
		for _, v := range ax.GetValues() {
			v = strings.TrimSpace(v)
			if v == "" {
				return bad("axis %s has an empty value", key)
			}
			if seen[v] {
				return bad("axis %s: value %q appears twice", key, v)
			}
			seen[v] = true
			values[i] = append(values[i], v)
			// Each value on its own, so the error names it.
			one := proto.Clone(base).(*kperfv1.TestPlan)
			if err := applyAxis(one, key, v, agents); err != nil {
				return bad("%s=%s: %v", key, v, err)
			}
			if _, err := Resolve(one); err != nil {
				return bad("%s=%s: %s", key, v, oneLine(err))
			}
		}
	}
	total := 1
	for _, vs := range values {
		total *= len(vs)
	}
	width := max(2, len(strconv.Itoa(total)))
	idx := make([]int, len(values))
	for n := 1; n <= total; n++ {
		st := SweepStep{Index: n, Spec: proto.Clone(base).(*kperfv1.TestPlan)}
		for i, key := range out.Axes {
			v := values[i][idx[i]]
			st.Values = append(st.Values, AxisValue{key, v})
			if err := applyAxis(st.Spec, key, v, agents); err != nil {
				return bad("%s=%s: %v", key, v, err) // checked above
			}
		}
		st.Dir = stepDir(n, width, st.Values)
		p, err := Resolve(st.Spec)
		if err != nil {
			return bad("step %d (%s): %s", n, st.Settings(), oneLine(err))
		}
		st.Agents = agents
		if c := int(p.Spec.GetAgentCount()); c > 0 {
			st.Agents = c
		}
		if st.Agents > 0 {
			if _, err := Split(p, st.Agents, nil); err != nil {
				return bad("step %d (%s): %s", n, st.Settings(), oneLine(err))
			}
		}
		out.Steps = append(out.Steps, st)
		// Advance the odometer: the last axis varies fastest.
		for i := len(idx) - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < len(values[i]) {
				break
			}
			idx[i] = 0
		}
	}
	return out, nil
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// applyAxis sets one axis value on a step's plan.
func applyAxis(s *kperfv1.TestPlan, key, v string, agents int) error {
	i32 := func(min int64) (int32, error) {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return 0, errors.New("not an integer")
		}
		if n < min {
			return 0, fmt.Errorf("want at least %d", min)
		}
		return int32(n), nil
	}
	prop := func(name string) {
		if s.ProducerProps == nil {
			s.ProducerProps = map[string]string{}
		}
		s.ProducerProps[name] = v
	}
	switch key {
	case "agents":
		n, err := i32(1)
		if err != nil {
			return err
		}
		if agents > 0 && int(n) > agents {
			return fmt.Errorf("%d agents asked for, only %d given", n, agents)
		}
		s.AgentCount = proto.Int32(n)
	case "workers":
		n, err := i32(1)
		if err != nil {
			return err
		}
		s.Workers = proto.Int32(n)
	case "record-size":
		n, err := i32(1)
		if err != nil {
			return err
		}
		s.RecordSize = proto.Int32(n)
	case "throughput":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return errors.New("not a number")
		}
		s.Throughput = proto.Float64(f)
	case "acks":
		prop("acks")
	case "compression":
		prop("compression.type")
	case "batch-size":
		prop("batch.size")
	case "linger":
		prop("linger.ms")
	case "partitions":
		n, err := i32(1)
		if err != nil {
			return err
		}
		// A topic's partition count is fixed: one topic per count.
		s.Partitions = proto.Int32(n)
		s.Topic += "-p" + strconv.Itoa(int(n))
	case "driver":
		s.Driver = v
	default:
		return fmt.Errorf("unknown axis key %q", key)
	}
	return nil
}

// stepDir names a step's results folder: step-01-agents=1,record-size=100,
// with anything but letters, digits and . _ - = , + replaced by _.
func stepDir(n, width int, vals []AxisValue) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = v.Key + "=" + v.Value
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("._-=,+", r):
			return r
		}
		return '_'
	}, strings.Join(parts, ","))
	return fmt.Sprintf("step-%0*d-%s", width, n, name)
}

// RunFunc runs one plan; Run is the default.
type RunFunc func(ctx context.Context, spec *kperfv1.TestPlan, o Options) (*report.Summary, error)

// SweepOptions configure RunSweep.
type SweepOptions struct {
	// Options are each step's run options; OutDir is the sweep's results
	// directory ("" makes results/<timestamp>), each step gets a folder in
	// it.
	Options
	// Resume continues a sweep in an existing OutDir: steps whose folder
	// has a summary.json of an uninterrupted run are not run again. Without
	// it a non-empty OutDir is an error.
	Resume bool
	// RunStep runs one plan; nil is Run. Tests replace it.
	RunStep RunFunc
}

// ErrSweepStepsFailed means at least one step failed; the others ran.
var ErrSweepStepsFailed = errors.New("sweep steps failed")

// SweepResult is a finished or stopped sweep.
type SweepResult struct {
	Axes []string
	Rows []report.SweepRow
	// Ran counts the steps run by this call (not resumed).
	Ran int
	// Interrupted means ctx ended the sweep before its last step.
	Interrupted bool
}

// RunSweep runs spec's sweep: every step in order, each into its own folder
// of o.OutDir, with sweep.json and sweep.csv rewritten after every step, and
// the table printed to o.Stdout at the end. A failed step is recorded and
// the sweep goes on; the error is then ErrSweepStepsFailed (wrapped). When
// ctx ends, the current step's partial results are kept and the sweep stops
// (Interrupted). Errors before any step runs are *PlanError.
func RunSweep(ctx context.Context, spec *kperfv1.TestPlan, o SweepOptions) (*SweepResult, error) {
	sw, err := ExpandSweep(spec, len(o.Agents))
	if err != nil {
		return nil, err
	}
	if o.OutDir == "" {
		o.OutDir = DefaultOutDir(time.Now())
	}

	stdout := o.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	runStep := o.RunStep
	if runStep == nil {
		runStep = Run
	}
	if err := CheckSweepOut(o.OutDir, o.Resume); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("results directory: %w", err)
	}

	res := &SweepResult{Axes: sw.Axes}
	failed := 0
	total := len(sw.Steps)
	for i := range sw.Steps {
		st := &sw.Steps[i]
		vals := map[string]string{}
		for _, v := range st.Values {
			vals[v.Key] = v.Value
		}
		row := report.SweepRow{Step: st.Index, Dir: st.Dir, Values: vals, Agents: st.Agents}
		dir := filepath.Join(o.OutDir, st.Dir)
		if o.Resume {
			if s, err := report.ReadSummary(dir); err == nil && !s.Interrupted {
				row = report.SweepRowOf(row, s)
				row.Resumed = true
				if !s.DeliveryCheck.OK {
					row.Error = ErrDeliveryMismatch.Error()
					failed++
				}
				o.Progress.Note(fmt.Sprintf("step %d of %d: %s: done before, skipped (--resume)", st.Index, total, st.Settings()))
				res.Rows = append(res.Rows, row)
				if err := report.WriteSweep(o.OutDir, sw.Axes, res.Rows); err != nil {
					return res, fmt.Errorf("write results: %w", err)
				}
				continue
			}
		}
		if ctx.Err() != nil {
			res.Interrupted = true
			break
		}
		// A folder without a finished summary holds a failed or interrupted
		// attempt: start it afresh.
		if err := os.RemoveAll(dir); err != nil {
			return res, fmt.Errorf("results directory: %w", err)
		}
		o.Progress.Step(st.Index, total, st.Settings(), sw.Warmup+stepLength(st.Spec)+sw.Cooldown)
		o.Monitor.step(st.Index, total)
		res.Ran++
		s, err := runSweepStep(ctx, runStep, st, sw, o, dir)
		var pe *PlanError
		if errors.As(err, &pe) {
			return res, err
		}
		if s != nil {
			row = report.SweepRowOf(row, s)
		}
		if err != nil {
			row.Error = oneLine(err)
		}
		interrupted := ctx.Err() != nil || (s != nil && s.Interrupted)
		if interrupted && s != nil {
			row.Interrupted = true
		}
		if row.Error != "" && !interrupted {
			failed++
		}
		if s != nil || !interrupted {
			res.Rows = append(res.Rows, row)
		}
		if err := report.WriteSweep(o.OutDir, sw.Axes, res.Rows); err != nil {
			return res, fmt.Errorf("write results: %w", err)
		}
		if interrupted {
			res.Interrupted = true
			break
		}
		if sw.Cooldown > 0 && i < total-1 {
			select {
			case <-time.After(sw.Cooldown):
			case <-ctx.Done():
			}
		}
	}
	if len(res.Rows) == 0 {
		// Still leave the (empty) table for an interrupted first step.
		if err := report.WriteSweep(o.OutDir, sw.Axes, res.Rows); err != nil {
			return res, fmt.Errorf("write results: %w", err)
		}
	}
	fmt.Fprintln(stdout)
	report.PrintSweepTable(stdout, sw.Axes, res.Rows)
	fmt.Fprintf(stdout, "sweep results in %s\n", o.OutDir)
	if failed > 0 {
		return res, fmt.Errorf("%w: %d of %d", ErrSweepStepsFailed, failed, total)
	}
	return res, nil
}

// CheckSweepOut returns a *PlanError when dir is not empty and the sweep
// does not resume.
func CheckSweepOut(dir string, resume bool) error {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 && !resume {
		return &PlanError{fmt.Errorf("results directory %s is not empty: use --resume to continue its sweep, or another --out", dir)}
	}
	return nil
}

// runSweepStep runs one step: the warm-up into a scratch directory that is
// then removed, and the measured run into dir.
func runSweepStep(ctx context.Context, runStep RunFunc, st *SweepStep, sw *Sweep, o SweepOptions, dir string) (*report.Summary, error) {
	if sw.Warmup > 0 {
		scratch, err := os.MkdirTemp("", "kperf-warmup-")
		if err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		defer os.RemoveAll(scratch)
		warm := proto.Clone(st.Spec).(*kperfv1.TestPlan)
		warm.Duration = sw.Warmup.String()
		warm.NumRecords = proto.Int64(0)
		o.Progress.Note(fmt.Sprintf("  warm-up %v", sw.Warmup))
		wo := Options{Agents: o.Agents, OutDir: scratch, Log: o.Log, DialTimeout: o.DialTimeout, DialOptions: o.DialOptions,
			ReadyTimeout: o.ReadyTimeout, Version: o.Version, Monitor: o.Monitor}
		s, err := runStep(ctx, warm, wo)
		if err != nil && !errors.Is(err, ErrDeliveryMismatch) {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		if ctx.Err() != nil || (s != nil && s.Interrupted) {
			return nil, errors.New("interrupted during warm-up")
		}
	}
	so := o.Options
	so.OutDir = dir
	return runStep(ctx, st.Spec, so)
}

// stepLength is how long a step's plan is expected to produce; 0 when it
// cannot be told.
func stepLength(spec *kperfv1.TestPlan) time.Duration {
	p, err := Resolve(spec)
	if err != nil {
		return 0
	}
	return p.PlannedLength()
}
