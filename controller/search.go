package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

// Search defaults.
const (
	DefaultSearchRateMin   = 1000.0
	DefaultSearchTolerance = 0.01
	DefaultSearchSteps     = 8
	// searchBracket ends the bisection once the lowest failing rate is
	// within this fraction above the highest passing one.
	searchBracket = 0.05
)

// SearchOptions configure RunSearch.
type SearchOptions struct {
	// Options are each run's options; OutDir is the search's results
	// directory ("" makes results/<timestamp>), each run gets a folder in
	// it. Stdout receives the table and the answer line; each run's own
	// report lines are discarded (they are in its folder).
	Options
	// P99Max is the latency bound: a run passes only when its p99 is
	// below it. Required.
	P99Max time.Duration
	// RateMin is the first target rate in records/s; 0 is 1000.
	RateMin float64
	// RateMax caps the target rate; 0 is no cap.
	RateMax float64
	// Tolerance is how far the achieved rate may fall short of the target,
	// a fraction in (0, 1); 0 is 0.01.
	Tolerance float64
	// Steps is how many runs at most; 0 is 8.
	Steps int
	// Progress receives one line per run; nil discards them.
	Progress io.Writer
	// RunStep runs one plan; nil is Run. Tests replace it.
	RunStep RunFunc
}

// SearchStep is one run of a search.
type SearchStep struct {
	Step     int     `json:"step"`
	Dir      string  `json:"dir"`
	Target   float64 `json:"target"`
	Achieved float64 `json:"achieved"`
	// Ratio is achieved / target.
	Ratio  float64 `json:"ratio"`
	P99Ms  float64 `json:"p99_ms"`
	Pass   bool    `json:"pass"`
	Reason string  `json:"reason,omitempty"`
}

// SearchResult is a finished or stopped search, as written to search.json.
type SearchResult struct {
	P99MaxMs  float64      `json:"p99_max_ms"`
	Tolerance float64      `json:"tolerance"`
	RateMin   float64      `json:"rate_min"`
	RateMax   float64      `json:"rate_max,omitempty"`
	Steps     []SearchStep `json:"steps"`
	// Found means some run passed; MaxRate is then the highest passing
	// target and MaxRateP99Ms its p99.
	Found        bool    `json:"found"`
	MaxRate      float64 `json:"max_rate,omitempty"`
	MaxRateP99Ms float64 `json:"max_rate_p99_ms,omitempty"`
	// Interrupted means ctx ended the search early.
	Interrupted bool `json:"interrupted,omitempty"`
}

// ErrNoPassingRate means even the first rate failed.
var ErrNoPassingRate = errors.New("no passing rate")

func (o *SearchOptions) searchDefaults() {
	if o.RateMin == 0 {
		o.RateMin = DefaultSearchRateMin
	}
	if o.Tolerance == 0 {
		o.Tolerance = DefaultSearchTolerance
	}
	if o.Steps == 0 {
		o.Steps = DefaultSearchSteps
	}
}

// CheckSearch validates a search before any run: its options (the errors
// name the flag) and the plan (no throughput, a duration rather than
// num_records, no sweep). Errors are *PlanError.
func CheckSearch(spec *kperfv1.TestPlan, o SearchOptions) error {
	o.searchDefaults()
	bad := func(format string, args ...any) error { return &PlanError{fmt.Errorf(format, args...)} }
	switch {
	case o.P99Max <= 0:
		return bad("--p99-max is required and must be positive, e.g. --p99-max 50ms")
	case o.Tolerance <= 0 || o.Tolerance >= 1 || math.IsNaN(o.Tolerance):
		return bad("--tolerance %g: want a fraction between 0 and 1, e.g. 0.01", o.Tolerance)
	case o.Steps < 1:
		return bad("--steps %d: want at least 1 run", o.Steps)
	case o.RateMin <= 0 || math.IsNaN(o.RateMin) || math.IsInf(o.RateMin, 0):
		return bad("--rate-min %g: want a positive rate in records/s", o.RateMin)
	case o.RateMax < 0 || math.IsNaN(o.RateMax) || math.IsInf(o.RateMax, 0):
		return bad("--rate-max %g: want a positive rate in records/s (0: no cap)", o.RateMax)
	case o.RateMax > 0 && o.RateMax < o.RateMin:
		return bad("--rate-max %g is below --rate-min %g", o.RateMax, o.RateMin)
	case spec.Throughput != nil:
		return bad("plan key throughput (flag --throughput) is set: the search chooses the rate; remove it")
	case spec.ThroughputBytes != nil:
		return bad("plan key throughput_bytes (flag --throughput-bytes) is set: it would cap the rate the search is finding; remove it")
	case spec.GetNumRecords() > 0:
		return bad("plan key num_records (flag --num-records) is set: each search run lasts a duration; give --duration instead")
	case spec.GetSweep() != nil:
		return bad("plan key sweep (flag --sweep) is set: a search runs its own steps; remove the sweep")
	}
	probe := proto.Clone(spec).(*kperfv1.TestPlan)
	probe.Throughput = proto.Float64(o.RateMin)
	if _, err := Resolve(probe); err != nil {
		var pe *PlanError
		if errors.As(err, &pe) {
			return err
		}
		return &PlanError{err}
	}
	return nil
}

// RunSearch finds the highest target rate (records/s over all agents) at
// which the achieved rate is within o.Tolerance of the target and p99 stays
// below o.P99Max: it starts at o.RateMin, doubles while runs pass (up to
// o.RateMax), then bisects between the highest pass and the lowest fail
// until o.Steps runs are done or the bracket is within 5%. Each run is a
// normal Run into <OutDir>/search-NN-rate=R; search.json is rewritten after
// every run and the table printed to o.Stdout at the end. When no run
// passes the error is ErrNoPassingRate (wrapped). Errors before any run are
// *PlanError.
func RunSearch(ctx context.Context, spec *kperfv1.TestPlan, o SearchOptions) (*SearchResult, error) {
	o.searchDefaults()
	if err := CheckSearch(spec, o); err != nil {
		return nil, err
	}
	if o.OutDir == "" {
		o.OutDir = DefaultOutDir(time.Now())
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	stdout := o.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	runStep := o.RunStep
	if runStep == nil {
		runStep = Run
	}
	if ents, err := os.ReadDir(o.OutDir); err == nil && len(ents) > 0 {
		return nil, &PlanError{fmt.Errorf("results directory %s is not empty: give another --out", o.OutDir)}
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("results directory: %w", err)
	}

	res := &SearchResult{
		P99MaxMs: float64(o.P99Max) / 1e6, Tolerance: o.Tolerance, RateMin: o.RateMin, RateMax: o.RateMax,
		Steps: []SearchStep{},
	}
	width := max(2, len(strconv.Itoa(o.Steps)))
	var (
		lastPass  = math.NaN() // highest passing target
		firstFail = math.NaN() // lowest failing target
		rate      = o.RateMin
	)
	for n := 1; n <= o.Steps; n++ {
		if ctx.Err() != nil {
			res.Interrupted = true
			break
		}
		o.Monitor.step(n, o.Steps)
		st, interrupted, err := runSearchStep(ctx, runStep, spec, o, n, width, rate)
		if err != nil {
			return res, err
		}
		if interrupted {
			res.Interrupted = true
			break
		}
		res.Steps = append(res.Steps, st)
		if st.Pass {
			if math.IsNaN(lastPass) || st.Target > lastPass {
				lastPass = st.Target
				res.Found, res.MaxRate, res.MaxRateP99Ms = true, st.Target, st.P99Ms
			}
		} else if math.IsNaN(firstFail) || st.Target < firstFail {
			firstFail = st.Target
		}
		if err := writeSearch(o.OutDir, res); err != nil {
			return res, err
		}
		next, ok := nextSearchRate(lastPass, firstFail, o.RateMax)
		if !ok {
			break
		}
		rate = next
	}
	if err := writeSearch(o.OutDir, res); err != nil {
		return res, err
	}
	PrintSearch(stdout, res)
	if !res.Found && !res.Interrupted {
		return res, fmt.Errorf("%w at or above %g records/s", ErrNoPassingRate, o.RateMin)
	}
	return res, nil
}

// nextSearchRate returns the next target: double the highest pass while
// nothing has failed (capped at rateMax), else the bisection of the
// bracket. ok is false when the search is done: the first rate failed,
// rateMax passed, or the bracket is within 5%.
func nextSearchRate(lastPass, firstFail, rateMax float64) (float64, bool) {
	switch {
	case math.IsNaN(lastPass):
		return 0, false // the lowest rate failed: nothing lower is tried
	case math.IsNaN(firstFail):
		if rateMax > 0 && lastPass >= rateMax {
			return 0, false
		}
		next := 2 * lastPass
		if rateMax > 0 && next > rateMax {
			next = rateMax
		}
		return next, true
	}
	if firstFail-lastPass <= searchBracket*lastPass {
		return 0, false
	}
	mid := math.Round((lastPass + firstFail) / 2)
	if mid <= lastPass || mid >= firstFail {
		return 0, false
	}
	return mid, true
}

// runSearchStep runs one target rate into its folder and judges it.
func runSearchStep(ctx context.Context, runStep RunFunc, spec *kperfv1.TestPlan, o SearchOptions, n, width int, rate float64) (SearchStep, bool, error) {
	st := SearchStep{Step: n, Target: rate, Dir: fmt.Sprintf("search-%0*d-rate=%s", width, n, strconv.FormatFloat(rate, 'f', -1, 64))}
	s1 := proto.Clone(spec).(*kperfv1.TestPlan)
	s1.Throughput = proto.Float64(rate)
	ro := o.Options
	ro.OutDir = filepath.Join(o.OutDir, st.Dir)
	ro.Stdout, ro.Details = nil, nil
	s, err := runStep(ctx, s1, ro)
	if s == nil {
		if ctx.Err() != nil {
			return st, true, nil
		}
		if err == nil {
			err = errors.New("no summary")
		}
		return st, false, fmt.Errorf("run %d (target %g records/s): %w", n, rate, err)
	}
	if s.Interrupted || ctx.Err() != nil {
		return st, true, nil
	}
	st.Achieved, st.P99Ms = s.RecordsPerSec, s.LatencyMs.P99
	st.Ratio = st.Achieved / rate
	boundMs := float64(o.P99Max) / 1e6
	var reasons []string
	if err != nil {
		reasons = append(reasons, oneLine(err))
	}
	if st.Achieved < rate*(1-o.Tolerance) {
		reasons = append(reasons, fmt.Sprintf("achieved %.1f%% of target, below %.1f%%", 100*st.Ratio, 100*(1-o.Tolerance)))
	}
	if st.P99Ms >= boundMs {
		reasons = append(reasons, fmt.Sprintf("p99 %.1f ms not under %g ms", st.P99Ms, boundMs))
	}
	st.Pass, st.Reason = len(reasons) == 0, strings.Join(reasons, "; ")
	verdict := "pass"
	if !st.Pass {
		verdict = "fail (" + st.Reason + ")"
	}
	fmt.Fprintf(o.Progress, "run %d: target %g → achieved %.0f (%.1f%%), p99 %.1f ms: %s\n",
		n, rate, st.Achieved, 100*st.Ratio, st.P99Ms, verdict)
	return st, false, nil
}

// writeSearch writes search.json to dir.
func writeSearch(dir string, res *SearchResult) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "search.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// PrintSearch prints the runs' table and the answer line.
func PrintSearch(w io.Writer, res *SearchResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "run\ttarget\tachieved\tachieved/target\tp99 ms\tpass")
	for _, st := range res.Steps {
		pass := "yes"
		if !st.Pass {
			pass = "no: " + st.Reason
		}
		fmt.Fprintf(tw, "%d\t%g\t%.0f\t%.3f\t%.1f\t%s\n", st.Step, st.Target, st.Achieved, st.Ratio, st.P99Ms, pass)
	}
	tw.Flush()
	switch {
	case res.Found:
		fmt.Fprintf(w, "max rate: %g records/s (p99 %.1f ms)\n", res.MaxRate, res.MaxRateP99Ms)
	case res.Interrupted:
		fmt.Fprintln(w, "interrupted before any run passed")
	default:
		fmt.Fprintf(w, "no passing rate at or above %g\n", res.RateMin)
	}
}
