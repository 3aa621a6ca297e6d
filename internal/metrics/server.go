package metrics

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kperf/kperf/controller"
)

// NewRegistry returns a registry with the Go runtime and process
// collectors and the given collectors.
func NewRegistry(cs ...prometheus.Collector) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	all := append([]prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}, cs...)
	for _, c := range all {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return reg, nil
}

// Handler serves /metrics from g and, when withPprof, Go's profiles under
// /debug/pprof/. Every other path is 404.
func Handler(g prometheus.Gatherer, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Server serves metrics over HTTP on one listener.
type Server struct {
	lis    net.Listener
	srv    *http.Server
	done   chan error
	closed chan struct{}
	once   sync.Once
}

// shutdownGrace bounds the wait for scrapes in progress at shutdown.
const shutdownGrace = 2 * time.Second

// Serve serves h on lis until ctx is done or Close is called, then shuts
// down (scrapes in progress get up to 2 s).
func Serve(ctx context.Context, lis net.Listener, h http.Handler) *Server {
	s := &Server{lis: lis, srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan error, 1), closed: make(chan struct{})}
	go func() {
		err := s.srv.Serve(lis)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	go func() {
		select {
		case <-ctx.Done():
			s.shutdown()
		case <-s.closed:
		}
	}()
	return s
}

// Addr returns the address served.
func (s *Server) Addr() string { return s.lis.Addr().String() }

func (s *Server) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		s.srv.Close()
	}
}

// Close shuts the server down and waits for it; it returns the error that
// stopped serving, if not a shutdown. A nil *Server does nothing.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	s.once.Do(func() { close(s.closed) })
	s.shutdown()
	err := <-s.done
	s.done <- err // for another Close
	return err
}

// Flags are the --metrics-addr and --pprof flags.
type Flags struct {
	// Addr is where to serve /metrics; "" for nowhere.
	Addr string
	// Pprof also serves /debug/pprof/ on Addr.
	Pprof bool
}

// EnvAddr returns ":$name" when the environment variable name is set (as
// Marathon sets PORT_METRICS for a port named "metrics"), else "".
func EnvAddr(name string) string {
	if p := os.Getenv(name); p != "" {
		return ":" + p
	}
	return ""
}

// BindFlags defines --metrics-addr (default defaultAddr) and --pprof on fs.
func BindFlags(fs *flag.FlagSet, defaultAddr string) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Addr, "metrics-addr", defaultAddr, "serve Prometheus /metrics over HTTP on HOST:PORT")
	fs.BoolVar(&f.Pprof, "pprof", false, "also serve Go's profiles under /debug/pprof/ on --metrics-addr")
	return f
}

// Check returns an error naming the flag when the flags do not go
// together.
func (f *Flags) Check() error {
	if f.Pprof && f.Addr == "" {
		return errors.New("--pprof needs --metrics-addr HOST:PORT: profiles are served on the metrics address")
	}
	return nil
}

// Start checks the flags and, when --metrics-addr is set, listens on it and
// serves /metrics from g (and /debug/pprof/ with --pprof) until ctx is done
// or the server is closed. Without --metrics-addr it returns a nil *Server,
// whose Close does nothing. log is told the address served.
func (f *Flags) Start(ctx context.Context, g prometheus.Gatherer, log hclog.Logger) (*Server, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	if f.Addr == "" {
		return nil, nil
	}
	lis, err := net.Listen("tcp", f.Addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s: %w", f.Addr, err)
	}
	s := Serve(ctx, lis, Handler(g, f.Pprof))
	log.Info("serving metrics", "addr", s.Addr(), "pprof", f.Pprof)
	return s, nil
}

// StartAgent serves the agent's metrics (with the Go and process
// collectors) as f says; see Flags.Start.
func StartAgent(ctx context.Context, f *Flags, src AgentSource, log hclog.Logger) (*Server, error) {
	reg, err := NewRegistry(NewAgentCollector(src))
	if err != nil {
		return nil, err
	}
	return f.Start(ctx, reg, log)
}

// StartController serves the controller's metrics (with the Go and process
// collectors) as f says; see Flags.Start.
func StartController(ctx context.Context, f *Flags, m *controller.Monitor, log hclog.Logger) (*Server, error) {
	reg, err := NewRegistry(NewControllerCollector(m))
	if err != nil {
		return nil, err
	}
	return f.Start(ctx, reg, log)
}
