package agent

import (
	"context"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

// maxMessageBytes bounds gRPC messages (payload files arrive in Prepare).
const maxMessageBytes = 256 << 20

// DefaultDrainTimeout bounds how long a stopping agent waits for its
// running test to end with a Final: longer than a client's close budget
// at Kafka's default request.timeout.ms (30 s + 10 s).
const DefaultDrainTimeout = 50 * time.Second

// serveConfig is what ServeOptions set.
type serveConfig struct {
	grpcOpts     []grpc.ServerOption
	health       net.Listener
	drainTimeout time.Duration
}

// ServeOption configures Serve.
type ServeOption func(*serveConfig)

// WithServerOptions adds gRPC server options (transport credentials, auth
// interceptors).
func WithServerOptions(opts ...grpc.ServerOption) ServeOption {
	return func(c *serveConfig) { c.grpcOpts = append(c.grpcOpts, opts...) }
}

// WithHealthListener also serves grpc.health.v1, and nothing else, in
// plaintext on lis: for probes that cannot speak TLS or send a token.
func WithHealthListener(lis net.Listener) ServeOption {
	return func(c *serveConfig) { c.health = lis }
}

// WithDrainTimeout bounds the wait for a running test when ctx is done;
// the default is DefaultDrainTimeout.
func WithDrainTimeout(d time.Duration) ServeOption {
	return func(c *serveConfig) { c.drainTimeout = d }
}

// Serve serves s and the standard gRPC health service on lis until ctx is
// done. Then it reports NOT_SERVING, stops a running test gracefully (the
// test ends with its Final to the controller), waits up to the drain
// timeout for it, and stops.
func Serve(ctx context.Context, lis net.Listener, s *Server, opts ...ServeOption) error {
	cfg := serveConfig{drainTimeout: DefaultDrainTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	gs := grpc.NewServer(append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMessageBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}),
	}, cfg.grpcOpts...)...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	kperfv1.RegisterAgentServiceServer(gs, s)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(kperfv1.AgentService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)

	errc := make(chan error, 2)
	go func() { errc <- gs.Serve(lis) }()
	var hgs *grpc.Server
	if cfg.health != nil {
		hgs = grpc.NewServer()
		healthpb.RegisterHealthServer(hgs, hs)
		go func() { errc <- hgs.Serve(cfg.health) }()
	}
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	hs.Shutdown()
	s.Drain()
	drained := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(cfg.drainTimeout):
		s.log.Warn("test did not end within the drain timeout; stopping", "timeout", cfg.drainTimeout)
		gs.Stop()
		<-drained
	}
	if hgs != nil {
		hgs.Stop()
	}
	return err
}
