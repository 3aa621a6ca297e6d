package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/kperf/kperf/agent"
	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

// AgentError is a failure of one agent, named by its address.
type AgentError struct {
	Addr string
	Err  error
}

func (e *AgentError) Error() string { return fmt.Sprintf("agent %s: %v", e.Addr, e.Err) }
func (e *AgentError) Unwrap() error { return e.Err }

// agentConn is a connection to one agent.
type agentConn struct {
	addr   string
	conn   *grpc.ClientConn
	client kperfv1.AgentServiceClient
	info   *kperfv1.InfoResponse
	rtt    time.Duration
}

// maxMessageBytes bounds gRPC messages (payload files travel in Prepare).
const maxMessageBytes = 256 << 20

// dialAgent connects to addr and checks that it is a usable agent. opts
// add transport security and credentials (plaintext without them).
func dialAgent(ctx context.Context, addr string, timeout time.Duration, opts ...grpc.DialOption) (*agentConn, error) {
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)),
	}, opts...)...)
	if err != nil {
		return nil, &AgentError{addr, fmt.Errorf("bad address: %w", err)}
	}
	a := &agentConn{addr: addr, conn: conn, client: kperfv1.NewAgentServiceClient(conn)}
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	began := time.Now()
	// Wait for the connection, so a slow start is not an error, but give up
	// at the timeout.
	a.info, err = a.client.Info(ictx, &kperfv1.InfoRequest{}, grpc.WaitForReady(true))
	a.rtt = time.Since(began)
	if err != nil {
		conn.Close()
		if errors.Is(ictx.Err(), context.DeadlineExceeded) {
			return nil, &AgentError{addr, fmt.Errorf("unreachable after %v: %s", timeout, connError(err))}
		}
		return nil, &AgentError{addr, fmt.Errorf("info: %s", connError(err))}
	}
	if v := a.info.GetProtocolVersion(); v != agent.ProtocolVersion {
		conn.Close()
		return nil, &AgentError{addr, fmt.Errorf("speaks protocol v%d, this controller v%d: run the same kperf version on both sides", v, agent.ProtocolVersion)}
	}
	return a, nil
}

// connError shortens a gRPC connection error to its cause: the TLS
// handshake's complaint, or the last connection error.
func connError(err error) string {
	msg := status.Convert(err).Message()
	if _, cause, ok := strings.Cut(msg, "authentication handshake failed: "); ok {
		return "TLS handshake failed: " + strings.TrimRight(cause, `"`)
	}
	for _, p := range []string{"latest balancer error: ", "connection error: desc = "} {
		msg = strings.TrimPrefix(msg, p)
	}
	msg = strings.Trim(msg, `"`)
	if strings.Contains(msg, "error reading server preface") {
		msg += " (an agent serving TLS closes plaintext connections: give --tls-ca)"
	}
	return msg
}

// SameVersion checks that the agents at addrs, described by infos, run
// the same kperf build: numbers from mixed builds are not comparable. The
// error lists what was found.
func SameVersion(addrs []string, infos []*kperfv1.InfoResponse) error {
	byVersion := map[string][]string{}
	for i, in := range infos {
		v := in.GetVersion()
		byVersion[v] = append(byVersion[v], addrs[i])
	}
	if len(byVersion) < 2 {
		return nil
	}
	var found []string
	for _, v := range slices.Sorted(maps.Keys(byVersion)) {
		found = append(found, fmt.Sprintf("%s on %s", v, strings.Join(byVersion[v], ",")))
	}
	return fmt.Errorf("agents run different kperf versions: %s; run one version everywhere", strings.Join(found, "; "))
}

// Info fetches the description of every agent at addrs; errors name the
// agent.
func Info(ctx context.Context, addrs []string, timeout time.Duration, opts ...grpc.DialOption) ([]*kperfv1.InfoResponse, error) {
	out := make([]*kperfv1.InfoResponse, len(addrs))
	conns, err := dialAll(ctx, addrs, timeout, opts...)
	if err != nil {
		return nil, err
	}
	for i, c := range conns {
		out[i] = c.info
		c.conn.Close()
	}
	return out, nil
}

// Ping connects to the agent at addr and checks that it answers Info
// within timeout and speaks this controller's protocol.
func Ping(ctx context.Context, addr string, timeout time.Duration, opts ...grpc.DialOption) error {
	c, err := dialAgent(ctx, addr, timeout, opts...)
	if err != nil {
		return err
	}
	return c.conn.Close()
}

// dialAll connects to every agent in parallel.
func dialAll(ctx context.Context, addrs []string, timeout time.Duration, opts ...grpc.DialOption) ([]*agentConn, error) {
	out := make([]*agentConn, len(addrs))
	errs := make([]error, len(addrs))
	done := make(chan int)
	for i, addr := range addrs {
		go func() {
			out[i], errs[i] = dialAgent(ctx, addr, timeout, opts...)
			done <- i
		}()
	}
	for range addrs {
		<-done
	}
	if err := errors.Join(errs...); err != nil {
		for _, c := range out {
			if c != nil {
				c.conn.Close()
			}
		}
		return nil, err
	}
	return out, nil
}
