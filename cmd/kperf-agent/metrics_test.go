package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startAgentProc starts the agent binary with args and env and returns a
// function that sends SIGTERM and waits for exit 0.
func startAgentProc(t *testing.T, bin string, env []string, args ...string) (stop func(), stderr *strings.Builder) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr = &strings.Builder{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("after SIGTERM: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("agent still running 10s after SIGTERM")
		}
	}, stderr
}

// get polls url until it answers, then returns its status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetricsOnMarathonPort runs the agent as Marathon does, with the
// metrics port in PORT_METRICS and --pprof: /metrics and /debug/pprof/ are
// served there, and stop with the process.
func TestMetricsOnMarathonPort(t *testing.T) {
	bin := buildAgent(t)
	port := freePort(t)
	stop, stderr := startAgentProc(t, bin, []string{fmt.Sprintf("PORT_METRICS=%d", port)}, "--listen", "127.0.0.1:0", "--pprof")
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, `kperf_agent_run_state{state="idle"} 1`) || !strings.Contains(body, "go_goroutines") {
		t.Errorf("GET /metrics on PORT_METRICS: %d\n%s\nagent stderr:\n%s", code, body, stderr)
	}
	if code, body := get(t, base+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("with --pprof: GET /debug/pprof/ = %d, want 200 listing profiles", code)
	}
	stop()
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Errorf("metrics port %d still open after the agent exited", port)
	}
}

func TestPprofOffByDefault(t *testing.T) {
	bin := buildAgent(t)
	port := freePort(t)
	stop, _ := startAgentProc(t, bin, nil, "--listen", "127.0.0.1:0", "--metrics-addr", fmt.Sprintf("127.0.0.1:%d", port))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if code, _ := get(t, base+"/metrics"); code != http.StatusOK {
		t.Errorf("GET /metrics = %d, want 200", code)
	}
	if code, _ := get(t, base+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("without --pprof: GET /debug/pprof/ = %d, want 404", code)
	}
	stop()
}

func TestMetricsAddrInUse(t *testing.T) {
	bin := buildAgent(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	out, err := exec.Command(bin, "--listen", "127.0.0.1:0", "--metrics-addr", busy.Addr().String()).CombinedOutput()
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	if code != 1 || !strings.HasPrefix(last, "kperf-agent: --metrics-addr "+busy.Addr().String()) {
		t.Errorf("metrics address in use: exit %d, output %q; want exit 1 and a line naming --metrics-addr", code, out)
	}
}
