package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller"
	"github.com/kperf/kperf/controller/local"
)

// maxRateCmd searches for the highest target rate that the agents achieve
// within tolerance with p99 under a bound.
func maxRateCmd(args []string) int {
	fs := flag.NewFlagSet("max-rate", flag.ContinueOnError)
	planFile := fs.String("f", "", "test plan file, YAML or JSON; flags override its keys")
	agents := fs.String("agents", "", "agents to use: host:port,host:port,...")
	localN := fs.Int("local", 0, "start N agents in this process (and an in-process broker unless --bootstrap-servers is given)")
	out := fs.String("out", "", "results directory (default results/<timestamp>)")
	dialTimeout := fs.Duration("dial-timeout", 10*time.Second, "give up on an unreachable agent after this long")
	logLevel := fs.String("log-level", "warn", "log level: trace, debug, info, warn, error")
	p99Max := fs.Duration("p99-max", 0, "latency bound (required): a run passes only when its p99 is under this, e.g. 50ms")
	rateMin := fs.Float64("rate-min", controller.DefaultSearchRateMin, "first target rate, records/s over all agents")
	rateMax := fs.Float64("rate-max", 0, "highest target rate to try, records/s (0: no cap)")
	tolerance := fs.Float64("tolerance", controller.DefaultSearchTolerance, "how far the achieved rate may fall short of the target, a fraction in (0,1)")
	steps := fs.Int("steps", controller.DefaultSearchSteps, "runs at most")
	pf := controller.BindPlanFlags(fs)
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
	if code, ok := parseFlags(fs, controller.ExpandListArgs(args, pf.ListFlags())); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	level := hclog.LevelFromString(*logLevel)
	if level == hclog.NoLevel {
		return usageErr("--log-level %q is not one of trace, debug, info, warn, error", *logLevel)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "kperf-controller", Level: level, Output: os.Stderr})
	if level <= hclog.Debug {
		sarama.Logger = log.Named("sarama").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	}

	spec := &kperfv1.TestPlan{}
	if *planFile != "" {
		var err error
		if spec, err = controller.LoadPlan(*planFile); err != nil {
			return fail(err)
		}
	}
	if err := pf.Apply(spec); err != nil {
		return usageErr("%v", err)
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
	addrs := splitList(*agents)
	agentsGiven := false
	fs.Visit(func(f *flag.Flag) { agentsGiven = agentsGiven || f.Name == "agents" })
	switch {
	case agentsGiven && len(addrs) == 0:
		return usageErr("--agents %q lists no agent: want host:port,host:port,...", *agents)
	case *localN < 0:
		return usageErr("--local %d: want a positive number of agents", *localN)
	case *localN > 0 && len(addrs) > 0:
		return usageErr("give either --agents or --local, not both")
	}
	if *localN > 0 {
		env, err := local.Start(*localN, spec.GetBootstrapServers() == "" && spec.GetProducerProps()["bootstrap.servers"] == "", version, log)
		if err != nil {
			return fail(err)
		}
		defer env.Close()
		if env.Bootstrap != "" {
			spec.BootstrapServers = env.Bootstrap
			fmt.Fprintf(os.Stderr, "local: in-process broker at %s, %d agents\n", env.Bootstrap, *localN)
		}
		addrs = env.Agents
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	so.Options = controller.Options{
		Agents: addrs, OutDir: *out, Stdout: os.Stdout, Log: log, DialTimeout: *dialTimeout, Version: version,
	}
	res, err := controller.RunSearch(ctx, spec, so)
	var pe *controller.PlanError
	switch {
	case errors.Is(err, controller.ErrNoPassingRate):
		return exitFailed // the answer line says so
	case errors.As(err, &pe):
		return fail(err)
	case ctx.Err() != nil || (res != nil && res.Interrupted):
		if err != nil {
			fail(err)
		}
		return exitInterrupted
	case err != nil:
		return fail(err)
	}
	return exitOK
}
