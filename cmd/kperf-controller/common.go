package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller"
	"github.com/kperf/kperf/controller/discover"
	"github.com/kperf/kperf/controller/local"
	"github.com/kperf/kperf/internal/grpcauth"
	"github.com/kperf/kperf/internal/metrics"
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
	discovery   *discoveryFlags
	logLevel    *string
	logJSON     *bool
	plan        *controller.PlanFlags
	metrics     *metrics.Flags
	monitor     *controller.Monitor
}

// agentsUsage describes --agents.
const agentsUsage = "agents: host:port, dns:///name:port (every address of name) or srv:_service._proto.domain (every SRV target), comma separated"

// discoveryFlags say how to reach agents (TLS, token) and how long to wait
// for how many of them.
type discoveryFlags struct {
	expect   *int
	timeout  *time.Duration
	sec      grpcauth.Client
	dialOpts []grpc.DialOption // set by find
	// resolver looks up dns:/// and srv: entries.
	resolver discover.Resolver
}

func bindDiscoveryFlags(fs *flag.FlagSet) *discoveryFlags {
	d := &discoveryFlags{
		resolver: net.DefaultResolver,
		expect:   fs.Int("expect-agents", 0, "wait until at least N agents answer (re-resolving dns:/// and srv: entries)"),
		timeout:  fs.Duration("discovery-timeout", 2*time.Minute, "give up waiting for --expect-agents after this long"),
	}
	fs.StringVar(&d.sec.CAFile, "tls-ca", "", "reach agents over TLS, trusting these CAs (PEM)")
	fs.StringVar(&d.sec.CertFile, "tls-cert", "", "client certificate (PEM) for agents that require one (mutual TLS)")
	fs.StringVar(&d.sec.KeyFile, "tls-key", "", "private key (PEM) of --tls-cert")
	fs.StringVar(&d.sec.ServerName, "tls-server-name", "", "name to check in agents' certificates (default: the host of each address)")
	fs.StringVar(&d.sec.TokenFile, "token-file", "", "send this bearer token (the file's contents) to agents")
	fs.BoolVar(&d.sec.Insecure, "insecure", false, "allow --token-file without TLS (throwaway networks only)")
	return d
}

// readyTimeout bounds one agent check while waiting for agents.
const readyTimeout = 2 * time.Second

// find turns the --agents spec into addresses. A static list without
// --expect-agents is returned as given; otherwise the spec is resolved
// (until --expect-agents agents answer, or once) and addresses whose agent
// does not answer are left out.
func (d *discoveryFlags) find(spec string, dialTimeout time.Duration) ([]string, int) {
	if err := discover.Check(spec); err != nil {
		return nil, usageErr("%v", err)
	}
	var err error
	if d.dialOpts, err = d.sec.DialOptions(); err != nil {
		return nil, usageErr("%v", err)
	}
	expect := *d.expect
	static := splitList(spec)
	switch {
	case expect < 0:
		return nil, usageErr("--expect-agents %d: want a number of agents, 0 or more", expect)
	case *d.timeout <= 0:
		return nil, usageErr("--discovery-timeout %v: want a positive duration", *d.timeout)
	case !discover.IsDynamic(spec) && expect > len(static):
		return nil, usageErr("--expect-agents %d: --agents lists only %d agents", expect, len(static))
	case !discover.IsDynamic(spec) && expect == 0:
		return static, 0
	}
	if expect > 0 {
		fmt.Fprintf(os.Stderr, "waiting up to %v for %d agents at %s\n", *d.timeout, expect, spec)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *d.timeout)
	defer cancel()
	var mu sync.Mutex
	lastErr := map[string]error{} // of each address's last check
	ready := func(addr string) bool {
		err := controller.Ping(ctx, addr, min(dialTimeout, readyTimeout), d.dialOpts...)
		mu.Lock()
		lastErr[addr] = err
		mu.Unlock()
		return err == nil
	}
	addrs, err := discover.WaitFor(ctx, spec, expect, *d.timeout, d.resolver, ready)
	if err != nil {
		return nil, fail(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range slices.Sorted(maps.Keys(lastErr)) {
		if lastErr[a] != nil && !slices.Contains(addrs, a) {
			fmt.Fprintf(os.Stderr, "skipped %v\n", lastErr[a])
		}
	}
	fmt.Fprintf(os.Stderr, "found %d agents: %s\n", len(addrs), strings.Join(addrs, ","))
	return addrs, 0
}

func bindTestFlags(fs *flag.FlagSet) *testFlags {
	return &testFlags{
		fs:          fs,
		planFile:    fs.String("f", "", "test plan file, YAML or JSON; flags override its keys"),
		agents:      fs.String("agents", "", agentsUsage),
		localN:      fs.Int("local", 0, "start N agents in this process (and an in-process broker unless --bootstrap-servers is given)"),
		out:         fs.String("out", "", "results directory (default results/<timestamp>)"),
		dialTimeout: fs.Duration("dial-timeout", 10*time.Second, "give up on an unreachable agent after this long"),
		discovery:   bindDiscoveryFlags(fs),
		logLevel:    fs.String("log-level", "warn", "log level: trace, debug, info, warn, error"),
		logJSON:     fs.Bool("log-json", false, "log as JSON"),
		plan:        controller.BindPlanFlags(fs),
		metrics:     metrics.BindFlags(fs, ""),
		monitor:     controller.NewMonitor(),
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
	if err := t.metrics.Check(); err != nil {
		return usageErr("%v", err), false
	}
	return 0, true
}

// load parses args, builds the logger and reads the plan: the first steps
// of every command that runs tests.
func (t *testFlags) load(args []string) (hclog.Logger, *kperfv1.TestPlan, int) {
	if code, ok := t.parse(args); !ok {
		return nil, nil, code
	}
	log, code := t.logger()
	if code != 0 {
		return nil, nil, code
	}
	spec, code := t.loadPlan()
	return log, spec, code
}

// logger builds the root logger from --log-level; sarama logs at debug.
func (t *testFlags) logger() (hclog.Logger, int) {
	level := hclog.LevelFromString(*t.logLevel)
	if level == hclog.NoLevel {
		return nil, usageErr("--log-level %q is not one of trace, debug, info, warn, error", *t.logLevel)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "kperf-controller", Level: level, JSONFormat: *t.logJSON, Output: os.Stderr})
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

// checkAgents validates --agents, --local and --expect-agents and returns
// the agent addresses (dns:/// and srv: entries resolved) and the number of
// agents there will be.
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
	case *t.localN > 0 && *t.discovery.expect > *t.localN:
		return nil, 0, usageErr("--expect-agents %d: --local starts only %d agents", *t.discovery.expect, *t.localN)
	case *t.localN > 0:
		return nil, *t.localN, 0
	}
	addrs, code = t.discovery.find(*t.agents, *t.dialTimeout)
	return addrs, len(addrs), code
}

// begin starts what a test command runs in: the --local agents (see
// startLocal), a context cancelled by SIGINT/SIGTERM (see signalContext)
// and the metrics server. end undoes it; with a non-zero code there is
// nothing to undo.
func (t *testFlags) begin(spec *kperfv1.TestPlan, addrs []string, log hclog.Logger) (ctx context.Context, agents []string, end func(), code int) {
	agents, stopLocal, code := t.startLocal(spec, addrs, log)
	if code != 0 {
		return nil, nil, nil, code
	}
	ctx, stop := signalContext()
	ms, err := metrics.StartController(ctx, t.metrics, t.monitor, log)
	if err != nil {
		stop()
		stopLocal()
		return nil, nil, nil, fail(err)
	}
	return ctx, agents, func() { ms.Close(); stop(); stopLocal() }, 0
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
	return controller.Options{Agents: addrs, OutDir: *t.out, Stdout: os.Stdout, Log: log, DialTimeout: *t.dialTimeout, DialOptions: t.discovery.dialOpts, Version: version,
		Monitor: t.monitor}
}

// signalContext is cancelled by the first SIGINT or SIGTERM, which stops the
// agents gracefully; a second signal exits at once.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		os.Exit(exitInterrupted)
	}()
	return ctx, stop
}

// exitFor maps the outcome of a run, sweep or search to an exit code: 2 for
// a plan that cannot run, 130 when interrupted (printing any error), 3 for
// a partial result the plan does not allow, 1 for another error, else 0.
func exitFor(ctx context.Context, err error, interrupted bool) int {
	var pe *controller.PlanError
	switch {
	case errors.As(err, &pe):
		return fail(err)
	case ctx.Err() != nil || interrupted:
		if err != nil {
			fail(err)
		}
		return exitInterrupted
	case errors.Is(err, controller.ErrPartial):
		fail(err)
		return exitPartial
	case err != nil:
		return fail(err)
	}
	return exitOK
}
