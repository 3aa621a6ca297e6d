// Command kperf-agent runs kperf's load agent: a gRPC server that runs the
// producer load a kperf-controller gives it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"

	"github.com/kperf/kperf/agent"
	"github.com/kperf/kperf/internal/metrics"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("kperf-agent", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: kperf-agent [flags]

Runs the kperf load agent: a gRPC server (kperf.v1.AgentService and
grpc.health.v1) that produces to Kafka as a kperf-controller directs.

Examples:
  kperf-agent --listen :7070
  kperf-agent --listen 127.0.0.1:0 --ready-file /tmp/agent.addr

Flags:
`)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "", "address to serve on (default :$PORT0 under Marathon, else :7070)")
	readyFile := fs.String("ready-file", "", "write the bound address to this file once serving")
	logLevel := fs.String("log-level", "info", "log level: trace, debug, info, warn, error")
	logJSON := fs.Bool("log-json", false, "log as JSON")
	limits := agent.DefaultLimits()
	fs.IntVar(&limits.MaxWorkers, "max-workers", limits.MaxWorkers, "most producer workers a test may ask of this agent")
	fs.IntVar(&limits.MaxRecordSize, "max-record-size", limits.MaxRecordSize, "largest record size in bytes a test may ask for")
	fs.Int64Var(&limits.MaxBufferBytes, "max-buffer-bytes", limits.MaxBufferBytes, "most producer buffer.memory, summed over a test's workers")
	showVersion := fs.Bool("version", false, "print the version and exit")
	mf := metrics.BindFlags(fs, metrics.EnvAddr("PORT_METRICS"))
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "kperf-agent: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Println(version)
		return 0
	}
	if err := mf.Check(); err != nil {
		fmt.Fprintf(os.Stderr, "kperf-agent: %v\n", err)
		return 2
	}
	if limits.MaxWorkers < 1 || limits.MaxRecordSize < 1 || limits.MaxBufferBytes < 1 {
		fmt.Fprintln(os.Stderr, "kperf-agent: --max-workers, --max-record-size and --max-buffer-bytes must be positive")
		return 2
	}
	addr := *listen
	if addr == "" {
		addr = ":7070"
		if p := os.Getenv("PORT0"); p != "" {
			addr = ":" + p
		}
	}
	level := hclog.LevelFromString(*logLevel)
	if level == hclog.NoLevel {
		fmt.Fprintf(os.Stderr, "kperf-agent: --log-level %q is not one of trace, debug, info, warn, error\n", *logLevel)
		return 2
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "kperf-agent", Level: level, JSONFormat: *logJSON, Output: os.Stderr})
	if level <= hclog.Debug {
		sarama.Logger = log.Named("sarama").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	}

	lis, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kperf-agent: --listen %s: %v\n", addr, err)
		return 1
	}
	if *readyFile != "" {
		if err := os.WriteFile(*readyFile, []byte(lis.Addr().String()+"\n"), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "kperf-agent: --ready-file: %v\n", err)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := agent.New(agent.WithLogger(log), agent.WithLimits(limits), agent.WithVersion(version))
	ms, err := metrics.StartAgent(ctx, mf, srv, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kperf-agent: %v\n", err)
		return 1
	}
	defer ms.Close()
	log.Info("serving", "addr", lis.Addr().String(), "version", version)
	if err := agent.Serve(ctx, lis, srv); err != nil {
		log.Error("serve", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
