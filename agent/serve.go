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

// Serve serves s and the standard gRPC health service on lis until ctx is
// done, then stops.
func Serve(ctx context.Context, lis net.Listener, s *Server) error {
	gs := grpc.NewServer(
		grpc.MaxRecvMsgSize(maxMessageBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}),
	)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	kperfv1.RegisterAgentServiceServer(gs, s)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(kperfv1.AgentService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)

	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// A stopping agent stops producing at once: Stop cancels the running
	// test's stream, and its controller sees the agent lost.
	hs.Shutdown()
	gs.Stop()
	return nil
}
