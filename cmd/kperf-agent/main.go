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
	"github.com/kperf/kperf/internal/grpcauth"
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

Listening beyond loopback needs TLS (--tls-cert, --tls-key; add --tls-ca to
require client certificates) or a bearer token (--token-file), or --insecure
on a throwaway network.

Under Marathon, ports named grpc, health and metrics arrive as PORT_GRPC,
PORT_HEALTH and PORT_METRICS (PORT0 is used for --listen when PORT_GRPC is
not set); the agent reads them when the flags are not given.

Examples:
  kperf-agent --listen 127.0.0.1:0 --ready-file /tmp/agent.addr
  kperf-agent --tls-cert agent.crt --tls-key agent.key --tls-ca ca.crt --health-listen :7071
  kperf-agent --listen :7070 --token-file /etc/kperf/token

Flags:
`)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "", fmt.Sprintf("address to serve on (default :$PORT_GRPC or :$PORT0 when set, else :%d)", agent.DefaultPort))
	healthListen := fs.String("health-listen", "", fmt.Sprintf("also serve grpc.health.v1 alone, in plaintext, here, for probes (default :$PORT_HEALTH when set, else off; conventionally :%d)", agent.DefaultHealthPort))
	var sec grpcauth.Server
	fs.StringVar(&sec.CertFile, "tls-cert", "", "serve TLS with this certificate (PEM)")
	fs.StringVar(&sec.KeyFile, "tls-key", "", "private key (PEM) of --tls-cert")
	fs.StringVar(&sec.ClientCAFile, "tls-ca", "", "require client certificates signed by these CAs (PEM): mutual TLS")
	fs.StringVar(&sec.TokenFile, "token-file", "", "require this bearer token (the file's contents) from controllers")
	insecureOK := fs.Bool("insecure", false, "allow listening beyond loopback with neither TLS nor a token (throwaway networks only)")
	readyFile := fs.String("ready-file", "", "write the bound address to this file once serving")
	logLevel := fs.String("log-level", "info", "log level: trace, debug, info, warn, error")
	logJSON := fs.Bool("log-json", false, "log as JSON")
	limits := agent.DefaultLimits()
	fs.IntVar(&limits.MaxWorkers, "max-workers", limits.MaxWorkers, "most producer workers a test may ask of this agent")
	fs.IntVar(&limits.MaxRecordSize, "max-record-size", limits.MaxRecordSize, "largest record size in bytes a test may ask for")
	fs.Int64Var(&limits.MaxBufferBytes, "max-buffer-bytes", limits.MaxBufferBytes, "most producer buffer.memory, summed over a test's workers")
	fs.DurationVar(&limits.MaxDuration, "max-duration", limits.MaxDuration, "longest run a test may ask for; a longer run is refused, one of unknown length is stopped there")
	drain := fs.Duration("drain-timeout", agent.DefaultDrainTimeout, "on SIGTERM, how long a running test gets to stop and send its final report")
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
	if limits.MaxWorkers < 1 || limits.MaxRecordSize < 1 || limits.MaxBufferBytes < 1 || limits.MaxDuration <= 0 {
		fmt.Fprintln(os.Stderr, "kperf-agent: --max-workers, --max-record-size, --max-buffer-bytes and --max-duration must be positive")
		return 2
	}
	addr := *listen
	if addr == "" {
		addr = fmt.Sprintf(":%d", agent.DefaultPort)
		if p := firstEnv("PORT_GRPC", "PORT0"); p != "" {
			addr = ":" + p
		}
	}
	healthAddr := *healthListen
	if healthAddr == "" {
		if p := firstEnv("PORT_HEALTH"); p != "" {
			healthAddr = ":" + p
		}
	}
	loopback, err := grpcauth.Loopback(addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kperf-agent: --listen %s: %v\n", addr, err)
		return 2
	}
	if !loopback && !sec.Secured() && !*insecureOK {
		fmt.Fprintf(os.Stderr, "kperf-agent: --listen %s is reachable beyond this host: give --tls-cert/--tls-key or --token-file, or --insecure on a throwaway network\n", addr)
		return 2
	}
	grpcOpts, err := sec.Options()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kperf-agent: %v\n", err)
		return 2
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
	serveOpts := []agent.ServeOption{agent.WithServerOptions(grpcOpts...), agent.WithDrainTimeout(*drain)}
	if healthAddr != "" {
		hl, err := net.Listen("tcp", healthAddr)
		if err != nil {
			lis.Close()
			fmt.Fprintf(os.Stderr, "kperf-agent: --health-listen %s: %v\n", healthAddr, err)
			return 1
		}
		serveOpts = append(serveOpts, agent.WithHealthListener(hl))
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
	// Metrics stay up while a test drains after SIGTERM; they stop when
	// the agent does.
	ms, err := metrics.StartAgent(context.WithoutCancel(ctx), mf, srv, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kperf-agent: %v\n", err)
		return 1
	}
	defer ms.Close()
	log.Info("serving", "addr", lis.Addr().String(), "version", version, "tls", sec.TLS(), "mtls", sec.ClientCAFile != "", "token", sec.TokenFile != "", "health", healthAddr)
	if err := agent.Serve(ctx, lis, srv, serveOpts...); err != nil {
		log.Error("serve", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// firstEnv returns the value of the first of names that is set.
func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
