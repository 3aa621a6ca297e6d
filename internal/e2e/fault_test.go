//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBrokerDeathEndsTheRun kills the only broker during a run: kperf must
// end on its own with a clear error naming Kafka, keep the records it
// measured, and not hang.
func TestBrokerDeathEndsTheRun(t *testing.T) {
	run := t.TempDir()
	kafka := func(args ...string) *exec.Cmd {
		cmd := exec.Command("../../scripts/kafka", args...)
		cmd.Env = append(os.Environ(), "KPERF_KAFKA_RUN="+run)
		return cmd
	}
	out, err := kafka("up").Output()
	if err != nil {
		t.Fatalf("scripts/kafka up: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	bootstrap := lines[len(lines)-1]
	t.Cleanup(func() { kafka("down").Run() })

	agents := startAgents(t, 2)
	dir := t.TempDir()
	cmd := exec.Command(filepath.Join(binDir, "kperf-controller"), "run", "--agents", addrs(agents),
		"--bootstrap-servers", bootstrap, "--topic", "doomed", "--throughput", "4000", "--duration", "10s",
		"--producer-props", "request.timeout.ms=5000", "--out", dir)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "records on the broker", func() bool { return strings.Count(stdout.String(), "records sent") >= 2 })
	(&kafkaCluster{run: run}).kill(t)
	killed := time.Now()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case <-waited:
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("kperf-controller still running 90s after the broker died\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	t.Logf("controller exited %v after the broker died", time.Since(killed).Round(time.Second))
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit %d, want 1\nstderr:\n%s", code, stderr.String())
	}
	last := strings.TrimSpace(stderr.String())
	last = last[strings.LastIndex(last, "\n")+1:]
	if !strings.Contains(last, "kafka") {
		t.Errorf("last error line %q does not name kafka", last)
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatalf("no summary.json after the broker died: %v", err)
	}
	var s struct {
		Records       int64 `json:"records"`
		DeliveryCheck struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"delivery_check"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Records == 0 || s.DeliveryCheck.OK || s.DeliveryCheck.Error == "" {
		t.Errorf("summary: records %d, delivery_check %+v; want the records measured before the death and a failed check with its reason", s.Records, s.DeliveryCheck)
	}
	for _, a := range agents {
		waitFor(t, 30*time.Second, "agent "+a.addr+" free", func() bool { return !agentInfo(t, a.addr).GetBusy() })
	}
}

// syncBuffer is a bytes.Buffer that a child process writes while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
