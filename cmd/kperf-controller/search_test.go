package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

// captureStderr runs f with os.Stderr redirected and returns what it wrote.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	defer func() { os.Stderr = old }()
	f()
	w.Close()
	return <-done
}

func TestMaxRateBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--local", "1"}, "--p99-max"},
		{[]string{"--p99-max", "0s"}, "--p99-max"},
		{[]string{"--p99-max", "-5ms"}, "--p99-max"},
		{[]string{"--p99-max", "50ms", "--tolerance", "0"}, "--tolerance"},
		{[]string{"--p99-max", "50ms", "--tolerance", "1"}, "--tolerance"},
		{[]string{"--p99-max", "50ms", "--tolerance", "1.5"}, "--tolerance"},
		{[]string{"--p99-max", "50ms", "--num-records", "1000"}, "num_records"},
		{[]string{"--p99-max", "50ms", "--throughput", "5000"}, "throughput"},
		{[]string{"--p99-max", "50ms", "--steps", "0"}, "--steps"},
		{[]string{"--p99-max", "50ms", "--rate-min", "2000", "--rate-max", "1000"}, "--rate-max"},
	} {
		var code int
		msg := captureStderr(t, func() { code = maxRateCmd(tc.args) })
		if code != exitUsage || !strings.Contains(msg, tc.want) {
			t.Errorf("max-rate %v: exit %d, stderr %q; want exit 2 naming %s", tc.args, code, msg, tc.want)
		}
	}
}

func TestPprofNeedsMetricsAddr(t *testing.T) {
	for _, tc := range []struct {
		cmd  func([]string) int
		args []string
	}{
		{runCmd, []string{"--local", "1", "--pprof"}},
		{maxRateCmd, []string{"--local", "1", "--pprof", "--p99-max", "10ms"}},
	} {
		var code int
		out := captureStderr(t, func() { code = tc.cmd(tc.args) })
		if code != exitUsage || strings.Count(out, "\n") != 1 || !strings.Contains(out, "--pprof needs --metrics-addr") {
			t.Errorf("--pprof without --metrics-addr: exit %d, stderr %q; want exit 2 and one line naming both flags", code, out)
		}
	}
}
