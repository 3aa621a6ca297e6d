package main

import (
	"io"
	"net"
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

func TestMetricsFlagErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"pprof without metrics address", []string{"--listen", "127.0.0.1:0", "--pprof"}, 2, "--pprof needs --metrics-addr"},
		{"metrics address in use", []string{"--listen", "127.0.0.1:0", "--metrics-addr", busy.Addr().String()}, 1, "--metrics-addr " + busy.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var code int
			out := captureStderr(t, func() { code = run(tc.args) })
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			if code != tc.code || !strings.HasPrefix(last, "kperf-agent: ") || !strings.Contains(last, tc.want) {
				t.Errorf("run(%q) = %d, last line %q; want exit %d and one line naming %q", tc.args, code, last, tc.code, tc.want)
			}
		})
	}
}
