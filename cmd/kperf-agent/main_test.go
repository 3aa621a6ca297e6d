package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

// buildAgent builds this command into a temporary directory.
func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kperf-agent")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestBadFlags(t *testing.T) {
	bin := buildAgent(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--listen", ":0"}, nil, "--listen :0 is reachable beyond this host: give --tls-cert/--tls-key or --token-file, or --insecure"},
		{[]string{"--listen", "0.0.0.0:0"}, nil, "--listen 0.0.0.0:0 is reachable beyond this host"},
		{nil, []string{"PORT_GRPC=0"}, "--listen :0 is reachable beyond this host"},
		{[]string{"--listen", "127.0.0.1:0", "--tls-ca", missing}, nil, "--tls-ca needs --tls-cert and --tls-key"},
		{[]string{"--listen", "127.0.0.1:0", "--tls-cert", missing, "--tls-key", missing}, nil, "--tls-cert " + missing},
		{[]string{"--listen", "127.0.0.1:0", "--token-file", missing}, nil, "--token-file: open " + missing},
		{[]string{"--listen", "127.0.0.1:0", "--max-duration", "0s"}, nil, "--max-duration must be positive"},
		{[]string{"--listen", "nonsense"}, nil, "--listen nonsense"},
		{[]string{"--listen", "127.0.0.1:0", "--pprof"}, nil, "--pprof needs --metrics-addr"},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = append(os.Environ(), tc.env...)
		out, err := cmd.CombinedOutput()
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != 2 || !strings.Contains(string(out), tc.want) || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
			t.Errorf("%v %v: exit %d, output %q; want exit 2 and one line with %q", tc.env, tc.args, code, out, tc.want)
		}
	}
}

// TestMarathonPorts runs the agent as Marathon does: ports in PORT_GRPC
// and PORT_HEALTH, no --listen. The agent serves on the first, plain
// health on the second, and stops on SIGTERM with exit 0.
func TestMarathonPorts(t *testing.T) {
	bin := buildAgent(t)
	grpcPort, healthPort := freePort(t), freePort(t)
	cmd := exec.Command(bin, "--insecure")
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT_GRPC=%d", grpcPort), fmt.Sprintf("PORT_HEALTH=%d", healthPort), "PORT0=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dial := func(port int) *grpc.ClientConn {
		c, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", port), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	info, err := kperfv1.NewAgentServiceClient(dial(grpcPort)).Info(ctx, &kperfv1.InfoRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("Info on PORT_GRPC %d: %v\nagent stderr:\n%s", grpcPort, err, stderr.String())
	}
	if info.GetProtocolVersion() == 0 {
		t.Fatalf("Info: %v", info)
	}
	health := dial(healthPort)
	h, err := healthpb.NewHealthClient(health).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health on PORT_HEALTH %d: %v %v", healthPort, h, err)
	}
	// The health port serves health only.
	if _, err := kperfv1.NewAgentServiceClient(health).Info(ctx, &kperfv1.InfoRequest{}); err == nil || !strings.Contains(err.Error(), "Unimplemented") {
		t.Fatalf("Info on the health port: %v; want Unimplemented", err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("agent still running 10s after SIGTERM\n%s", stderr.String())
	}
}
