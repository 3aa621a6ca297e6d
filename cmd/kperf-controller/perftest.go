package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"

	"github.com/kperf/kperf/controller"
	"github.com/kperf/kperf/controller/report"
	"github.com/kperf/kperf/internal/metrics"
)

const perfTestUsage = `Usage: kperf-controller producer-perf-test --topic TOPIC --num-records N
           (--record-size N | --payload-file FILE) --throughput R
           [--bootstrap-server B] [--command-property k=v [k=v ...]] [--command-config FILE]
           [--payload-delimiter D] [--print-metrics] [--reporting-interval MS] [--random-seed N]
           [--agents host:port,...] [--out DIR]

A drop-in for kafka-producer-perf-test (Kafka 4.x): it takes the Java tool's
flags and prints its lines on stdout, and nothing else there (notes, the
latency kinds, per-agent lines and the delivery check go to stderr):

  N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency.
  N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency, P ms 50th, P ms 95th, P ms 99th, P ms 99.9th.

one line every 5 s (--reporting-interval), then the final line. Latency is
from each record's intended send time (its slot in the --throughput schedule)
to its ack, so a slow broker shows up as latency rather than as a lower rate;
the Java tool times from send(). With --throughput -1 the two are the same.

Without --agents it runs one agent in this process against the bootstrap
servers; with --agents it splits the test exactly across them, as 'run' does.
Results (summary.json, intervals.csv, latency.hlog) go to --out (default
results/<timestamp>). Exit 0 ok, 1 run failed (including the delivery check),
2 bad flags.

Flags (--name value or --name=value; unambiguous prefixes work):
  --topic TOPIC                    produce to this topic (created when missing)
  --num-records N                  records to produce, over all agents
  --record-size N                  record value size in bytes
  --payload-file FILE              record values from FILE, split by --payload-delimiter
  --payload-delimiter D            default \n
  --throughput R                   records/sec over all agents; -1 unlimited
  --producer-props k=v ...         producer properties (Java names); also --command-property
  --producer.config FILE           Java properties file; also --command-config. Properties
                                   on the command line override it
  --bootstrap-server B             overrides bootstrap.servers in the properties
  --print-metrics                  print kperf's metrics at the end as "name : value"
                                   lines (kperf's names, not the Java client's)
  --reporting-interval MS          interval of the periodic lines (default 5000)
  --random-seed N                  seed of payloads
  --agents host:port,...           kperf agents to run on (default: one in this process);
                                   also dns:///name:port and srv:_service._proto.domain, with
                                   --expect-agents, --discovery-timeout, --dial-timeout, and
                                   --tls-ca, --tls-cert, --tls-key, --tls-server-name,
                                   --token-file, --insecure as for 'run' 
  --out DIR                        results directory
  --metrics-addr HOST:PORT         serve Prometheus /metrics (kperf_controller_*) while running
  --pprof                          also serve /debug/pprof/ on --metrics-addr
Not supported (exit 2): --transactional-id, --transaction-duration-ms, transactional.id,
--warmup-records, --payload-monotonic, --record-key-range, --key-distribution other than none.
`

func perfTestCmd(args []string) int {
	ctx, stop := signalContext()
	defer stop()
	return perfTest(ctx, args, os.Stdout, os.Stderr)
}

// perfTest runs producer-perf-test with its report lines on stdout and
// everything else on stderr, and returns the exit code.
func perfTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	tool := javaTool{name: "producer-perf-test", stderr: stderr, partial: true}
	errf := tool.errf
	pt, err := controller.ParsePerfTest(args)
	switch {
	case err != nil:
		return tool.usageErr(err)
	case pt.Help:
		fmt.Fprint(stdout, perfTestUsage)
		return exitOK
	}
	spec := pt.Spec
	if _, err := controller.Resolve(spec); err != nil {
		return errf(exitUsage, "%v", err)
	}
	mf := &metrics.Flags{Addr: pt.MetricsAddr, Pprof: pt.Pprof}
	if err := mf.Check(); err != nil {
		return errf(exitUsage, "%v", err)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "kperf-controller", Level: hclog.Warn, Output: stderr})
	mon := controller.NewMonitor()
	ms, err := metrics.StartController(ctx, mf, mon, log)
	if err != nil {
		return errf(exitFailed, "%v", err)
	}
	defer ms.Close()
	var agents []string
	var dialOpts []grpc.DialOption
	dialTimeout := 10 * time.Second
	if pt.AgentsGiven {
		// kperf's agent flags, parsed as run parses them.
		fs := flag.NewFlagSet("producer-perf-test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		d := bindDiscoveryFlags(fs)
		fs.DurationVar(&dialTimeout, "dial-timeout", dialTimeout, "")
		for name, v := range pt.AgentFlags {
			if err := fs.Set(name, v); err != nil {
				return errf(exitUsage, "--%s %s: %v", name, v, err)
			}
		}
		var code int
		if agents, code = d.find(pt.Agents, dialTimeout); code != 0 {
			return code
		}
		dialOpts = d.dialOpts
	} else {
		env, code := tool.startLocal(log, spec.GetBootstrapServers())
		if env == nil {
			return code
		}
		defer env.Close()
		agents = env.Agents
	}
	if f := spec.GetPayloadFile(); f != "" {
		// The Java tool prints these two on stdout; kperf keeps stdout to
		// the report lines.
		payloads, err := controller.ReadPayloads(f, spec.GetPayloadDelimiter())
		if err != nil {
			return errf(exitUsage, "--payload-file: %v", err)
		}
		fmt.Fprintf(stderr, "Reading payloads from: %s\nNumber of messages read: %d\n", f, len(payloads))
	}
	s, err := controller.Run(ctx, spec, controller.Options{
		Agents: agents, OutDir: pt.OutDir, Stdout: stdout, Details: stderr, Log: log, Version: version, Monitor: mon,
		DialTimeout: dialTimeout, DialOptions: dialOpts,
	})
	if s != nil && pt.PrintMetrics {
		report.PrintMetrics(stdout, s)
	}
	if code, done := tool.runExit(ctx, err); done {
		return code
	}
	if s.Interrupted {
		return exitInterrupted
	}
	return exitOK
}
