//go:build e2e

package e2e

import (
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

var sweepSteps = []string{
	"step-01-agents=1,record-size=100",
	"step-02-agents=1,record-size=1024",
	"step-03-agents=2,record-size=100",
	"step-04-agents=2,record-size=1024",
}

// checkSweep checks a finished 2x2 sweep's folders and sweep.csv.
func checkSweep(t *testing.T, out string, records int64) {
	t.Helper()
	var dirs []string
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "step-") { // not charts/
			dirs = append(dirs, e.Name())
		}
	}
	if !slices.Equal(dirs, sweepSteps) {
		t.Errorf("step folders %q, want %q", dirs, sweepSteps)
	}
	for i, d := range sweepSteps {
		s := readSummary(t, filepath.Join(out, d))
		if s.Records != records || !s.DeliveryCheck.OK || len(s.Agents) != 1+i/2 {
			t.Errorf("%s: %d records on %d agents, delivery ok %v; want %d on %d, ok", d, s.Records, len(s.Agents), s.DeliveryCheck.OK, records, 1+i/2)
		}
	}
	f, err := os.Open(filepath.Join(out, "sweep.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 {
		t.Fatalf("sweep.csv has %d lines, want header + 4:\n%q", len(recs), recs)
	}
	for i, r := range recs[1:] {
		if r[0] != string(rune('1'+i)) || r[len(r)-1] != sweepSteps[i] {
			t.Errorf("sweep.csv row %d = %q", i+1, r)
		}
	}
}

// TestSweepAgentsAndRecordSize runs a 2x2 sweep on real agent processes.
func TestSweepAgentsAndRecordSize(t *testing.T) {
	agents := startAgents(t, 2)
	out := filepath.Join(t.TempDir(), "sweep")
	r := runController(t, 3*time.Minute, "run", "--agents", addrs(agents), "--bootstrap-servers", brokers,
		"--topic", topicName(t), "--num-records", "5000", "--throughput", "10000", "--producer-props", "acks=all",
		"--sweep", "agents=1,2", "--sweep", "record-size=100,1024", "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	checkSweep(t, out, 5000)
	for _, w := range []string{"records/s", "p99.9 ms", "record-size=1024"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("no %q in the table:\n%s", w, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "step 4 of 4: agents=2 record-size=1024") {
		t.Errorf("no progress lines on stderr:\n%s", r.stderr)
	}
	// Again into the same folder without --resume: refused before anything runs.
	r = runController(t, time.Minute, "run", "--agents", addrs(agents), "--bootstrap-servers", brokers,
		"--topic", topicName(t), "--num-records", "5000", "--sweep", "agents=1,2", "--sweep", "record-size=100,1024", "--out", out)
	if r.code != 2 || !strings.Contains(r.stderr, "--resume") {
		t.Errorf("rerun without --resume: exit %d, stderr %s; want 2 naming --resume", r.code, r.stderr)
	}
}

// TestSweepResumeAfterKill kills a sweep with SIGKILL once its first step is
// done and resumes it: every step is run exactly once.
func TestSweepResumeAfterKill(t *testing.T) {
	agents := startAgents(t, 2)
	out := filepath.Join(t.TempDir(), "sweep")
	topic := topicName(t)
	args := []string{"run", "--agents", addrs(agents), "--bootstrap-servers", brokers, "--topic", topic,
		"--num-records", "5000", "--throughput", "2500", "--producer-props", "acks=all",
		"--sweep", "agents=1,2", "--sweep", "record-size=100,1024", "--out", out}
	cmd := exec.Command(filepath.Join(binDir, "kperf-controller"), args...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, time.Minute, "the first step's summary.json", func() bool {
		_, err := os.Stat(filepath.Join(out, sweepSteps[0], "summary.json"))
		return err == nil
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// The killed controller's agents become free (their streams broke).
	for _, a := range agents {
		waitFor(t, 15*time.Second, "agent "+a.addr+" free", func() bool { return !agentInfo(t, a.addr).GetBusy() })
	}
	first, err := os.ReadFile(filepath.Join(out, sweepSteps[0], "summary.json"))
	if err != nil {
		t.Fatal(err)
	}

	r := runController(t, 3*time.Minute, append(args, "--resume")...)
	if r.code != 0 {
		t.Fatalf("resume: exit %d\nstdout:\n%s\nstderr:\n%s\nfirst run stderr:\n%s", r.code, r.stdout, r.stderr, stderr.String())
	}
	if !strings.Contains(r.stderr, "step 1 of 4: agents=1 record-size=100: done before, skipped") {
		t.Errorf("step 1 not skipped on resume:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "step 1 of 4: agents=1 record-size=100\n") {
		t.Errorf("step 1 run again on resume:\n%s", r.stderr)
	}
	again, err := os.ReadFile(filepath.Join(out, sweepSteps[0], "summary.json"))
	if err != nil || string(again) != string(first) {
		t.Errorf("step 1's summary.json changed on resume (%v)", err)
	}
	checkSweep(t, out, 5000)
	// Each step produced its records exactly once: the topic holds every
	// finished step's records plus whatever the killed step sent before it
	// died, which the resumed run does not count as its own.
	if got := endOffsets(t, topic); got < 4*5000 {
		t.Errorf("topic holds %d records, want at least %d", got, 4*5000)
	}
}
