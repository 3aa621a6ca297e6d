package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/kperf/kperf/agent"
	"github.com/kperf/kperf/controller/discover"
)

// captureStdout runs f with os.Stdout redirected and returns what it wrote.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	defer func() { os.Stdout = old }()
	f()
	w.Close()
	return <-done
}

// startAgent serves an agent on 127.0.0.1 until the test ends and returns
// its port.
func startAgent(t *testing.T) int {
	t.Helper()
	return startAgentVersion(t, "v-test")
}

// startAgentVersion is startAgent for an agent of build version.
func startAgentVersion(t *testing.T, version string) int {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Serve(ctx, lis, agent.New(agent.WithVersion(version))) }()
	t.Cleanup(func() { cancel(); <-done })
	return lis.Addr().(*net.TCPAddr).Port
}

// localhostResolver resolves localhost to both loopback addresses, as
// many hosts do, whatever this host's /etc/hosts says.
type localhostResolver struct{ net.Resolver }

func (*localhostResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if host != "localhost" {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []net.IPAddr{{IP: net.ParseIP("127.0.0.1")}, {IP: net.ParseIP("::1")}}, nil
}

func TestAgentsDiscovery(t *testing.T) {
	port := startAgent(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var resolver discover.Resolver = net.DefaultResolver
	run := func(args ...string) (code int, stdout, stderr string) {
		stderr = captureStderr(t, func() {
			stdout = captureStdout(t, func() { code = agentsWith(args, resolver) })
		})
		return
	}
	lists := func(stdout string) bool {
		for _, l := range strings.Split(stdout, "\n") {
			if strings.HasPrefix(l, addr+" ") && strings.Contains(l, "v-test") && strings.Contains(l, "ready") {
				return true
			}
		}
		return false
	}

	// The real resolver: localhost is 127.0.0.1 (and maybe ::1, skipped
	// when nothing answers there).
	code, out, errOut := run("--agents", fmt.Sprintf("dns:///localhost:%d", port), "--dial-timeout", "5s")
	if code != exitOK || !lists(out) {
		t.Fatalf("agents dns:///localhost: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	// localhost also resolving to ::1, where no agent listens: that address
	// is skipped with a note on stderr, and the command succeeds.
	resolver = &localhostResolver{}
	code, out, errOut = run("--agents", fmt.Sprintf("dns:///localhost:%d", port), "--dial-timeout", "5s", "--expect-agents", "1")
	if code != exitOK || !lists(out) || strings.Contains(out, "[::1]") ||
		!strings.Contains(errOut, fmt.Sprintf("skipped agent [::1]:%d", port)) || !strings.Contains(errOut, "found 1 agents: "+addr) {
		t.Fatalf("agents with ::1: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	// Waiting for more agents than answer fails after the timeout.
	code, _, errOut = run("--agents", fmt.Sprintf("dns:///localhost:%d", port), "--dial-timeout", "2s",
		"--expect-agents", "2", "--discovery-timeout", "4s")
	if code != exitFailed || !strings.Contains(errOut, "found 1 of 2 agents after 4s: ["+addr+"]") {
		t.Fatalf("expect 2: exit %d, stderr %q", code, errOut)
	}

	// A name that does not resolve names the entry.
	code, _, errOut = run("--agents", "dns:///nowhere.invalid:7070")
	if code != exitFailed || !strings.Contains(errOut, "--agents dns:///nowhere.invalid:7070: lookup nowhere.invalid") {
		t.Fatalf("unknown name: exit %d, stderr %q", code, errOut)
	}
}

func TestDiscoveryUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		cmd  func([]string) int
		args []string
		want string
	}{
		{agentsCmd, []string{"--agents", "dns:///kperf"}, "--agents dns:///kperf: want dns:///name:port"},
		{agentsCmd, []string{"--agents", "srv:"}, "--agents srv:: want srv:_service._proto.domain"},
		{agentsCmd, []string{"--agents", "h1:7070", "--expect-agents", "2"}, "--expect-agents 2: --agents lists only 1 agents"},
		{agentsCmd, []string{"--agents", "h1:7070", "--expect-agents", "-1"}, "--expect-agents -1"},
		{runCmd, []string{"--local", "1", "--expect-agents", "2"}, "--expect-agents 2: --local starts only 1 agents"},
		{runCmd, []string{"--agents", "h1:7070,h2:7070", "--expect-agents", "3"}, "--expect-agents 3: --agents lists only 2 agents"},
		{runCmd, []string{"--agents", "dns:///kperf:0"}, `--agents dns:///kperf:0: port "0": want 1-65535`},
		{maxRateCmd, []string{"--p99-max", "50ms", "--local", "2", "--expect-agents", "3"}, "--expect-agents 3: --local starts only 2 agents"},
	} {
		var code int
		msg := captureStderr(t, func() { code = tc.cmd(tc.args) })
		if code != exitUsage || !strings.Contains(msg, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with %q", tc.args, code, msg, tc.want)
		}
	}
}

// TestMixedVersions: agents of different builds are listed, and both
// agents and run fail naming each version and where it runs.
func TestMixedVersions(t *testing.T) {
	a := fmt.Sprintf("127.0.0.1:%d", startAgent(t)) // v-test
	b := fmt.Sprintf("127.0.0.1:%d", startAgentVersion(t, "v-other"))
	want := fmt.Sprintf("agents run different kperf versions: v-other on %s; v-test on %s; run one version everywhere", b, a)

	var code int
	var out string
	errOut := captureStderr(t, func() { out = captureStdout(t, func() { code = agentsCmd([]string{"--agents", a + "," + b}) }) })
	if code != exitFailed || !strings.Contains(errOut, want) || !strings.Contains(out, "v-other") || !strings.Contains(out, "v-test") {
		t.Fatalf("agents: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	errOut = captureStderr(t, func() {
		code = runCmd([]string{"--agents", a + "," + b, "--bootstrap-servers", "127.0.0.1:1", "--out", t.TempDir()})
	})
	if code != exitFailed || !strings.Contains(errOut, want) {
		t.Fatalf("run: exit %d, stderr %q", code, errOut)
	}
}
