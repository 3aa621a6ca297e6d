package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReportBadDir(t *testing.T) {
	for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), t.TempDir()} {
		var stderr bytes.Buffer
		code := reportMain([]string{dir}, &stderr)
		msg := stderr.String()
		if code != exitFailed || !strings.HasPrefix(msg, "kperf-controller: report: "+dir+": ") || strings.Count(msg, "\n") != 1 {
			t.Errorf("report %s: exit %d, stderr %q; want exit 1 and one line naming the path", dir, code, msg)
		}
	}
	if code := reportMain(nil, &bytes.Buffer{}); code != exitUsage {
		t.Errorf("report without a directory: exit %d, want %d", code, exitUsage)
	}
	if code := reportMain([]string{"a", "b", "c"}, &bytes.Buffer{}); code != exitUsage {
		t.Errorf("report with three directories: exit %d, want %d", code, exitUsage)
	}
}

// TestRunWritesReport runs 'run --local' in this process: a successful run
// ends with report.html in its results directory, which 'report' then
// compares with itself (flags after the directories).
func TestRunWritesReport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	code := runCmd([]string{"--local", "2", "--num-records", "2000", "--throughput", "2000", "--interval", "250ms", "--out", dir})
	if code != exitOK {
		t.Fatalf("run: exit %d", code)
	}
	for _, f := range []string{"report.html", "charts/throughput.svg", "charts/latency-p99.svg", "charts/latency-distribution.svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	out := filepath.Join(t.TempDir(), "cmp.html")
	var stderr bytes.Buffer
	if code := reportMain([]string{dir, dir, "--out", out}, &stderr); code != exitOK {
		t.Fatalf("report A B: exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "+0.0%") {
		t.Error("comparison of a run with itself has no +0.0% change")
	}
}
