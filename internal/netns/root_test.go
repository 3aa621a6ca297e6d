//go:build e2e && linux

package netns

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary a helper program run inside a
// namespace: "serve ADDR" accepts connections on ADDR and writes its host
// name to each; "dial ADDR" prints its host name, what ADDR wrote, and
// its /etc/resolv.conf.
const helperEnv = "KPERF_NETNS_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		if err := helper(strings.Fields(h)); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func helper(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("want serve|dial ADDR, got %q", args)
	}
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	switch args[0] {
	case "serve":
		l, err := net.Listen("tcp", args[1])
		if err != nil {
			return err
		}
		fmt.Println("listening")
		for {
			c, err := l.Accept()
			if err != nil {
				return err
			}
			fmt.Fprintln(c, host)
			c.Close()
		}
	case "dial":
		c, err := net.DialTimeout("tcp", args[1], 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		got, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		conf, err := os.ReadFile("/etc/resolv.conf")
		if err != nil {
			return err
		}
		fmt.Printf("me=%s\npeer=%s%s", host, got, conf)
		return nil
	}
	return fmt.Errorf("unknown helper command %q", args[0])
}

// TestNetwork builds a network of two namespaces, checks that they reach
// each other and the root namespace by address, each with its own host
// name and /etc files, and that New removes a crashed run's leftovers and
// Close leaves nothing behind.
func TestNetwork(t *testing.T) {
	if os.Getenv("KPERF_E2E_NETNS") == "" {
		t.Skip("KPERF_E2E_NETNS is not set; scripts/test sets it (needs root and ip)")
	}
	if err := Check(); err != nil {
		t.Fatalf("KPERF_E2E_NETNS is set, but: %v", err)
	}
	const prefix = "kperf-nt"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	// What a crashed run leaves: a namespace with a process in it, a
	// bridge, an /etc/netns entry.
	for _, args := range [][]string{{"netns", "add", prefix + "-old"}, {"link", "add", prefix + "-br", "type", "bridge"}} {
		if err := ip(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	if err := (&Namespace{Name: prefix + "-old"}).SetEtc("hosts", "10.214.0.99 old\n"); err != nil {
		t.Fatal(err)
	}
	stale := exec.Command("ip", "netns", "exec", prefix+"-old", "sleep", "600")
	if err := stale.Start(); err != nil {
		t.Fatal(err)
	}
	staleDone := make(chan error, 1)
	go func() { staleDone <- stale.Wait() }()
	t.Cleanup(func() { stale.Process.Kill() })

	n, err := New(ctx, prefix, netip.MustParsePrefix("10.214.0.1/24"))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	select {
	case <-staleDone:
	case <-time.After(10 * time.Second):
		t.Fatal("New left the crashed run's process running")
	}
	if left, err := Leftovers(ctx, prefix); err != nil || !slices.Equal(left, []string{"link " + prefix + "-br"}) {
		t.Fatalf("after New: Leftovers = %q, %v; want only the new bridge", left, err)
	}

	a, err := n.Add(ctx, "a", netip.MustParseAddr("10.214.0.11"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Add(ctx, "b", netip.MustParseAddr("10.214.0.12"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetEtc("resolv.conf", "nameserver 10.214.0.1\n"); err != nil {
		t.Fatal(err)
	}

	serve := a.Command(ctx, self)
	serve.Env = append(os.Environ(), helperEnv+"=serve 10.214.0.11:7000")
	stdout, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var serveErr strings.Builder
	serve.Stderr = &serveErr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	serveDone := make(chan error, 1)
	go func() { io.Copy(io.Discard, stdout); serveDone <- serve.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "listening\n" {
		t.Fatalf("server in %s: %q, %v; stderr: %s", a.Name, line, err, serveErr.String())
	}

	// From the root namespace, through the bridge.
	c, err := net.DialTimeout("tcp", "10.214.0.11:7000", 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s from the root namespace: %v", a.Addr, err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != prefix+"-a\n" {
		t.Errorf("server in %s says host %q, want %s-a", a.Name, got, prefix)
	}
	// From namespace b.
	dial := b.Command(ctx, self)
	dial.Env = append(os.Environ(), helperEnv+"=dial 10.214.0.11:7000")
	out, err := dial.Output()
	if want := "me=kperf-nt-b\npeer=kperf-nt-a\nnameserver 10.214.0.1\n"; err != nil || string(out) != want {
		t.Errorf("client in %s: %q, %v; want %q", b.Name, out, err, want)
	}
	// The server listens on a's address only: not reachable at b's.
	if c, err := net.DialTimeout("tcp", "10.214.0.12:7000", time.Second); err == nil {
		c.Close()
		t.Errorf("10.214.0.12:7000 answers; the server is in %s", a.Name)
	}

	for _, tc := range []struct {
		name string
		addr string
		want string
	}{
		{name: "A_1", addr: "10.214.0.20", want: `name "A_1"`},
		{name: "muchtoolong", addr: "10.214.0.20", want: `name "muchtoolong"`},
		{name: "c", addr: "10.215.0.20", want: "10.215.0.20 is not a free host address of 10.214.0.0/24"},
		{name: "c", addr: "10.214.0.1", want: "10.214.0.1 is not a free host address"},
		{name: "c", addr: "10.214.0.255", want: "10.214.0.255 is not a free host address"},
		{name: "c", addr: "10.214.0.11", want: "taken by kperf-nt-a 10.214.0.11"},
		{name: "a", addr: "10.214.0.20", want: "taken by kperf-nt-a 10.214.0.11"},
	} {
		if _, err := n.Add(ctx, tc.name, netip.MustParseAddr(tc.addr)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add(%s, %s): %v; want an error containing %q", tc.name, tc.addr, err, tc.want)
		}
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if n2, err := New(short, prefix, netip.MustParsePrefix("10.216.0.1/24")); err == nil || !strings.Contains(err.Error(), "prefix kperf-nt is in use by another process") {
		if n2 != nil {
			n2.Close()
		}
		t.Errorf("second New(%s): %v; want the prefix in use", prefix, err)
	}
	if n2, err := New(ctx, "kperf-nt2", netip.MustParsePrefix("10.214.0.200/24")); err == nil || !strings.Contains(err.Error(), "10.214.0.0/24 is in use on this host") {
		if n2 != nil {
			n2.Close()
		}
		t.Errorf("New on the subnet of another network: %v; want it in use", err)
	}

	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-serveDone:
	case <-time.After(10 * time.Second):
		t.Fatal("Close left the server in the namespace running")
	}
	if left, err := Leftovers(ctx, prefix); err != nil || len(left) != 0 {
		t.Errorf("after Close: Leftovers = %q, %v; want none", left, err)
	}
	if dirs, _ := filepath.Glob(filepath.Join(EtcDir, prefix+"-*")); len(dirs) != 0 {
		t.Errorf("after Close: %v left", dirs)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
