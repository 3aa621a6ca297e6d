package grpcauth

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kperf/kperf/internal/testcert"
)

// serveHealth serves grpc.health.v1 with sec until the test ends.
func serveHealth(t *testing.T, sec Server) string {
	t.Helper()
	opts, err := sec.Options()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

// check makes a new connection with c and asks for health.
func check(t *testing.T, addr string, c Client) error {
	t.Helper()
	opts, err := c.DialOptions()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// replace copies from over to and moves its modification time on, as a
// rotated Secret does.
func replace(t *testing.T, to, from string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(to, later, later); err != nil {
		t.Fatal(err)
	}
}

// TestRotatedFilesAreUsed: a server certificate or client CA replaced on
// disk is used from the next connection on, without a restart.
func TestRotatedFilesAreUsed(t *testing.T) {
	dir := t.TempDir()
	old := testcert.MustCA(t, dir, "old-ca")
	renewed := testcert.MustCA(t, dir, "new-ca")
	oldServer := old.MustIssue(t, dir, "old-agent", "127.0.0.1")
	newServer := renewed.MustIssue(t, dir, "new-agent", "127.0.0.1")
	oldClient := old.MustIssue(t, dir, "old-controller")
	newClient := renewed.MustIssue(t, dir, "new-controller")
	// The files the agent is pointed at.
	cert, key, clientCA := dir+"/live.crt", dir+"/live.key", dir+"/live-ca.crt"
	replace(t, cert, oldServer.CertFile)
	replace(t, key, oldServer.KeyFile)
	replace(t, clientCA, old.CertFile)
	addr := serveHealth(t, Server{CertFile: cert, KeyFile: key, ClientCAFile: clientCA})

	withOld := Client{CAFile: old.CertFile, CertFile: oldClient.CertFile, KeyFile: oldClient.KeyFile}
	withNew := Client{CAFile: renewed.CertFile, CertFile: newClient.CertFile, KeyFile: newClient.KeyFile}
	if err := check(t, addr, withOld); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	if err := check(t, addr, withNew); err == nil {
		t.Fatal("before rotation, the new CA's credentials were accepted")
	}

	replace(t, cert, newServer.CertFile)
	replace(t, key, newServer.KeyFile)
	replace(t, clientCA, renewed.CertFile)
	if err := check(t, addr, withNew); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if err := check(t, addr, withOld); err == nil {
		t.Fatal("after rotation, the old CA's credentials were still accepted")
	}

	// A broken file keeps the last good certificate.
	if err := os.WriteFile(cert, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(4 * time.Second)
	os.Chtimes(cert, later, later)
	if err := check(t, addr, withNew); err != nil {
		t.Fatalf("after a broken rotation: %v", err)
	}
}
