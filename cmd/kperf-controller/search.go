package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/kperf/kperf/controller"
)

// maxRateCmd searches for the highest target rate that the agents achieve
// within tolerance with p99 under a bound.
func maxRateCmd(args []string) int {
	fs := flag.NewFlagSet("max-rate", flag.ContinueOnError)
	tf := bindTestFlags(fs)
	p99Max := fs.Duration("p99-max", 0, "latency bound (required): a run passes only when its p99 is under this, e.g. 50ms")
	rateMin := fs.Float64("rate-min", controller.DefaultSearchRateMin, "first target rate, records/s over all agents")
	rateMax := fs.Float64("rate-max", 0, "highest target rate to try, records/s (0: no cap)")
	tolerance := fs.Float64("tolerance", controller.DefaultSearchTolerance, "how far the achieved rate may fall short of the target, a fraction in (0,1)")
	steps := fs.Int("steps", controller.DefaultSearchSteps, "runs at most")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: kperf-controller max-rate [flags] --p99-max DURATION

Finds the highest target rate (records/s over all agents) at which the
achieved rate is within --tolerance of the target and p99 latency stays
under --p99-max: starts at --rate-min, doubles while runs pass (up to
--rate-max), then bisects between the highest pass and the lowest fail
until --steps runs are done or the bracket is within 5%%. Each run lasts the
plan's duration and writes its own folder search-NN-rate=R in --out, beside
search.json. The search sets the rate: --throughput and --num-records are
errors.

Examples:
  kperf-controller max-rate --local 2 --duration 5s --p99-max 50ms
  kperf-controller max-rate --agents h1:7070,h2:7070 --bootstrap-servers b1:9092 -f plan.yaml \
      --duration 30s --p99-max 50ms --rate-min 10000 --steps 10

Flags:
`)
		fs.PrintDefaults()
	}
	log, spec, code := tf.load(args)
	if code != 0 {
		return code
	}
	so := controller.SearchOptions{
		P99Max: *p99Max, RateMin: *rateMin, RateMax: *rateMax, Tolerance: *tolerance, Steps: *steps,
		Progress: os.Stderr,
	}
	// SearchOptions reads 0 as "the default"; on the command line 0 is a
	// value, and a bad one.
	switch {
	case *tolerance == 0:
		return usageErr("--tolerance 0: want a fraction between 0 and 1, e.g. 0.01")
	case *steps == 0:
		return usageErr("--steps 0: want at least 1 run")
	case *rateMin == 0:
		return usageErr("--rate-min 0: want a positive rate in records/s")
	}
	if err := controller.CheckSearch(spec, so); err != nil {
		return fail(err) // a PlanError naming the flag or plan key: exit 2
	}
	addrs, _, code := tf.checkAgents()
	if code != 0 {
		return code
	}
	ctx, addrs, end, code := tf.begin(spec, addrs, log)
	if code != 0 {
		return code
	}
	defer end()
	so.Options = tf.options(addrs, log)
	res, err := controller.RunSearch(ctx, spec, so)
	if errors.Is(err, controller.ErrNoPassingRate) {
		return exitFailed // the answer line says so
	}
	return exitFor(ctx, err, res != nil && res.Interrupted)
}
