package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller"
	"github.com/kperf/kperf/controller/local"
)

// testFlags are the flags every command that runs tests shares: the plan
// (a file and a flag per plan key), where the agents are, the results
// directory and logging.
type testFlags struct {
	fs          *flag.FlagSet
	planFile    *string
	agents      *string
	localN      *int
	out         *string
	dialTimeout *time.Duration
	logLevel    *string
	plan        *controller.PlanFlags
}

func bindTestFlags(fs *flag.FlagSet) *testFlags {
	return &testFlags{
		fs:          fs,
		planFile:    fs.String("f", "", "test plan file, YAML or JSON; flags override its keys"),
		agents:      fs.String("agents", "", "agents to use: host:port,host:port,..."),
		localN:      fs.Int("local", 0, "start N agents in this process (and an in-process broker unless --bootstrap-servers is given)"),
		out:         fs.String("out", "", "results directory (default results/<timestamp>)"),
		dialTimeout: fs.Duration("dial-timeout", 10*time.Second, "give up on an unreachable agent after this long"),
		logLevel:    fs.String("log-level", "warn", "log level: trace, debug, info, warn, error"),
		plan:        controller.BindPlanFlags(fs),
	}
}

// parse parses args; ok is false when the command should exit with code.
func (t *testFlags) parse(args []string) (code int, ok bool) {
	if code, ok := parseFlags(t.fs, controller.ExpandListArgs(args, t.plan.ListFlags())); !ok {
		return code, false
	}
	if t.fs.NArg() > 0 {
		return usageErr("unexpected argument %q", t.fs.Arg(0)), false
	}
	return 0, true
}

// logger builds the root logger from --log-level; sarama logs at debug.
func (t *testFlags) logger() (hclog.Logger, int) {
	level := hclog.LevelFromString(*t.logLevel)
	if level == hclog.NoLevel {
		return nil, usageErr("--log-level %q is not one of trace, debug, info, warn, error", *t.logLevel)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "kperf-controller", Level: level, Output: os.Stderr})
	if level <= hclog.Debug {
		sarama.Logger = log.Named("sarama").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	}
	return log, 0
}

// loadPlan reads -f and applies the plan flags over it.
func (t *testFlags) loadPlan() (*kperfv1.TestPlan, int) {
	spec := &kperfv1.TestPlan{}
	if *t.planFile != "" {
		var err error
		if spec, err = controller.LoadPlan(*t.planFile); err != nil {
			return nil, fail(err) // a PlanError: exit 2
		}
	}
	if err := t.plan.Apply(spec); err != nil {
		return nil, usageErr("%v", err)
	}
	return spec, 0
}

// checkAgents validates --agents and --local and returns the agent
// addresses given and the number of agents there will be.
func (t *testFlags) checkAgents() (addrs []string, n int, code int) {
	addrs = splitList(*t.agents)
	given := false
	t.fs.Visit(func(f *flag.Flag) { given = given || f.Name == "agents" })
	switch {
	case given && len(addrs) == 0:
		return nil, 0, usageErr("--agents %q lists no agent: want host:port,host:port,...", *t.agents)
	case *t.localN < 0:
		return nil, 0, usageErr("--local %d: want a positive number of agents", *t.localN)
	case *t.localN > 0 && len(addrs) > 0:
		return nil, 0, usageErr("give either --agents or --local, not both")
	case *t.localN > 0:
		return nil, *t.localN, 0
	}
	return addrs, len(addrs), 0
}

// startLocal starts --local N agents in this process (and a broker when
// the plan names none, setting the plan's bootstrap servers) and returns
// their addresses and a stop function. Without --local it returns addrs.
func (t *testFlags) startLocal(spec *kperfv1.TestPlan, addrs []string, log hclog.Logger) ([]string, func(), int) {
	if *t.localN == 0 {
		return addrs, func() {}, 0
	}
	env, err := local.Start(*t.localN, spec.GetBootstrapServers() == "" && spec.GetProducerProps()["bootstrap.servers"] == "", version, log)
	if err != nil {
		return nil, nil, fail(err)
	}
	if env.Bootstrap != "" {
		spec.BootstrapServers = env.Bootstrap
		fmt.Fprintf(os.Stderr, "local: in-process broker at %s, %d agents\n", env.Bootstrap, *t.localN)
	}
	return env.Agents, func() { env.Close() }, 0
}

// options are the run options the flags give.
func (t *testFlags) options(addrs []string, log hclog.Logger) controller.Options {
	return controller.Options{Agents: addrs, OutDir: *t.out, Stdout: os.Stdout, Log: log, DialTimeout: *t.dialTimeout, Version: version}
}
