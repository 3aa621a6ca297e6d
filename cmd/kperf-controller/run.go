package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller"
	"github.com/kperf/kperf/controller/report"
)

func runCmd(args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	tf := bindTestFlags(fs)
	out := tf.out
	advise := fs.Float64("advise-partitions", 0, "after the run, print the partition count for this target throughput (records/s), from the per-partition rate measured (run with --throughput -1 to measure the maximum)")
	consumerRate := fs.Float64("consumer-throughput", 0, "with --advise-partitions: records/s one consumer reads from a partition (C in max(T/P, T/C))")
	resume := fs.Bool("resume", false, "continue the sweep in --out DIR: steps with a summary.json are not run again")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: kperf-controller run [flags]

Runs one produce test across agents and prints kafka-producer-perf-test's
lines for the aggregate, then writes summary.json, intervals.csv and
latency.hlog, report.html and charts/*.svg to the results directory.

Examples:
  kperf-controller run --local 3
  kperf-controller run --agents h1:7070,h2:7070,h3:7070 --bootstrap-servers b1:9092 -f plan.yaml
  kperf-controller run --agents h1:7070 --bootstrap-servers b1:9092 --topic t --num-records 1000000 \
      --record-size 250 --throughput -1 --producer-props acks=1 linger.ms=10 compression.type=lz4
  kperf-controller run --local 2 --num-records 20000 --sweep agents=1,2 --sweep record-size=100,1024 --out results/sweep1

With a sweep (--sweep or the plan's sweep key) the plan runs once per
combination of the axes' values, each step into its own folder of --out, and
prints a table; --resume continues an interrupted sweep.

Flags (every plan key has one):
`)
		fs.PrintDefaults()
	}
	log, spec, code := tf.load(args)
	if code != 0 {
		return code
	}
	if _, err := controller.Resolve(spec); err != nil {
		return usageErr("%v", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if spec.GetSweep() == nil && *resume {
		return usageErr("--resume continues a sweep; the plan has none (give --sweep KEY=V1,V2,...)")
	}
	if *resume && *out == "" {
		return usageErr("--resume needs --out DIR, the sweep's results directory")
	}
	if *advise < 0 || *consumerRate < 0 || (*consumerRate > 0 && *advise == 0) {
		return usageErr("--advise-partitions and --consumer-throughput take records/s > 0, and --consumer-throughput needs --advise-partitions")
	}
	addrs, n, code := tf.checkAgents()
	if code != 0 {
		return code
	}
	if spec.GetSweep() != nil {
		if _, err := controller.ExpandSweep(spec, n); err != nil {
			return fail(err)
		}
		if err := controller.CheckSweepOut(*out, *resume); err != nil {
			return fail(err)
		}
	}
	ctx, addrs, end, code := tf.begin(spec, addrs, log)
	if code != 0 {
		return code
	}
	defer end()
	defer reportAtEnd(out)()
	// On a terminal a live line shows step, elapsed, ETA and rate; otherwise
	// plain lines per step.
	progress := controller.NewProgress(os.Stderr, isatty.IsTerminal(os.Stderr.Fd()))
	if spec.GetSweep() != nil {
		return runSweep(ctx, spec, controller.SweepOptions{
			Options: withProgress(tf.options(addrs, log), progress),
			Resume:  *resume,
		})
	}
	var live *controller.Progress
	if isatty.IsTerminal(os.Stderr.Fd()) {
		live = progress
		if p, err := controller.Resolve(spec); err == nil {
			live.Step(1, 1, "", p.PlannedLength())
		}
	}
	s, err := controller.Run(ctx, spec, withProgress(tf.options(addrs, log), live))
	if err != nil || ctx.Err() != nil {
		return exitFor(ctx, err, false)
	}
	if *advise > 0 {
		a, err := report.AdvisePartitions(s, *advise, *consumerRate)
		if err != nil {
			return fail(fmt.Errorf("--advise-partitions: %w", err))
		}
		fmt.Println(a)
	}
	if s.Interrupted {
		return exitInterrupted
	}
	return exitOK
}

// runSweep runs a sweep and returns its exit code: 2 for a plan error before
// any step, 130 when interrupted, 1 when a step failed.
func runSweep(ctx context.Context, spec *kperfv1.TestPlan, o controller.SweepOptions) int {
	res, err := controller.RunSweep(ctx, spec, o)
	return exitFor(ctx, err, res != nil && res.Interrupted)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func usageErr(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "kperf-controller: "+format+"\n", args...)
	return exitUsage
}

// fail prints err on one line and returns its exit code: 2 for a plan that
// cannot run as written, 1 for a run that failed.
func fail(err error) int {
	fmt.Fprintf(os.Stderr, "kperf-controller: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
	var pe *controller.PlanError
	if errors.As(err, &pe) {
		return exitUsage
	}
	return exitFailed
}

// parseFlags parses args into fs. A bad flag prints one line and a hint
// rather than the whole usage text; -h prints the usage.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage()
		return exitOK, false
	case err != nil:
		return usageErr("%s: %v (see 'kperf-controller %s -h')", fs.Name(), err, fs.Name()), false
	}
	return 0, true
}

func withProgress(o controller.Options, p *controller.Progress) controller.Options {
	o.Progress = p
	return o
}
