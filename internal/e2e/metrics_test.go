//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// jsonLog collects a process's stderr, one JSON log object per line.
type jsonLog struct {
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func readJSONLog(r io.Reader) *jsonLog {
	l := &jsonLog{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.mu.Lock()
			l.lines = append(l.lines, sc.Text())
			l.mu.Unlock()
		}
	}()
	return l
}

// field returns field key of the first line whose @message is msg.
func (l *jsonLog) field(msg, key string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["@message"] == msg {
			v, ok := m[key].(string)
			return v, ok
		}
	}
	return "", false
}

// nonJSON returns the lines that are not JSON objects.
func (l *jsonLog) nonJSON() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var bad []string
	for _, line := range l.lines {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			bad = append(bad, line)
		}
	}
	return bad
}

func (l *jsonLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue scrapes addr and returns the value of name's series with
// label=value (when label is given); ok is false when there is none.
func metricValue(t *testing.T, addr, name, label, value string) (float64, bool) {
	t.Helper()
	code, body := httpGet(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET %s/metrics: %d", addr, code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse %s/metrics: %v", addr, err)
	}
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if label != "" && !hasLabel(m, label, value) {
			continue
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue(), true
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// TestMetricsOfRealProcesses runs an agent process with --metrics-addr,
// --pprof and --log-json and a controller process with --metrics-addr and
// --log-json against real Kafka, scrapes both while the test runs, and
// checks the agent's counters against summary.json and the broker.
func TestMetricsOfRealProcesses(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "addr")
	agent := exec.Command(filepath.Join(binDir, "kperf-agent"), "--listen", "127.0.0.1:0", "--ready-file", ready,
		"--metrics-addr", "127.0.0.1:0", "--pprof", "--log-json")
	agentErr, err := agent.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	alog := readJSONLog(agentErr)
	t.Cleanup(func() {
		agent.Process.Kill()
		<-alog.done
		agent.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", alog)
		}
	})
	var agentAddr, agentMetrics string
	waitFor(t, 10*time.Second, "agent ready file and metrics log line", func() bool {
		b, err := os.ReadFile(ready)
		agentAddr = strings.TrimSpace(string(b))
		var ok bool
		agentMetrics, ok = alog.field("serving metrics", "addr")
		return err == nil && agentAddr != "" && ok
	})
	if code, body := httpGet(t, "http://"+agentMetrics+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("agent with --pprof: GET /debug/pprof/ = %d, want 200 listing profiles", code)
	}
	if v, ok := metricValue(t, agentMetrics, "kperf_agent_run_state", "state", "idle"); !ok || v != 1 {
		t.Errorf("agent before the run: kperf_agent_run_state{state=idle} = %v (present %v), want 1", v, ok)
	}

	topic := topicName(t)
	out := t.TempDir()
	const records = 30_000
	ctl := exec.Command(filepath.Join(binDir, "kperf-controller"), "run", "--agents", agentAddr, "--bootstrap-servers", brokers,
		"--topic", topic, "--num-records", fmt.Sprint(records), "--record-size", "100", "--throughput", "10000",
		"--workers", "2", "--interval", "500ms", "--out", out,
		"--metrics-addr", "127.0.0.1:0", "--log-json", "--log-level", "info")
	ctlErr, err := ctl.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	ctl.Stdout = io.Discard
	if err := ctl.Start(); err != nil {
		t.Fatal(err)
	}
	clog := readJSONLog(ctlErr)
	exited := make(chan error, 1)
	go func() { <-clog.done; exited <- ctl.Wait() }()
	t.Cleanup(func() { ctl.Process.Kill() })

	var ctlMetrics string
	waitFor(t, 30*time.Second, "controller metrics log line", func() bool {
		var ok bool
		ctlMetrics, ok = clog.field("serving metrics", "addr")
		return ok
	})
	if code, _ := httpGet(t, "http://"+ctlMetrics+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("controller without --pprof: GET /debug/pprof/ = %d, want 404", code)
	}
	// Mid-run: both say running, and acked records grow.
	waitFor(t, 30*time.Second, "controller and agent running with records acked", func() bool {
		c, _ := metricValue(t, ctlMetrics, "kperf_controller_run_state", "state", "running")
		a, _ := metricValue(t, agentMetrics, "kperf_agent_run_state", "state", "running")
		acked, _ := metricValue(t, ctlMetrics, "kperf_controller_run_records_acked", "", "")
		return c == 1 && a == 1 && acked > 0
	})
	if rate, _ := metricValue(t, agentMetrics, "kperf_agent_records_per_second", "", ""); rate < 5000 || rate > 15000 {
		t.Errorf("agent mid-run: records_per_second = %v, want about the target 10000", rate)
	}
	if w, _ := metricValue(t, agentMetrics, "kperf_agent_workers", "", ""); w != 2 {
		t.Errorf("agent mid-run: workers = %v, want 2", w)
	}

	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("controller: %v\n%s", err, clog)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("controller did not finish within 2m\n%s", clog)
	}
	s := readSummary(t, out)
	broker := endOffsets(t, topic)
	if s.Records != records || broker != records {
		t.Fatalf("summary records %d, broker %d; want %d", s.Records, broker, records)
	}
	waitFor(t, 10*time.Second, "agent idle after the run", func() bool {
		v, _ := metricValue(t, agentMetrics, "kperf_agent_run_state", "state", "idle")
		return v == 1
	})
	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"kperf_agent_records_acked_total", "", "", records},
		{"kperf_agent_records_sent_total", "", "", records},
		{"kperf_agent_bytes_acked_total", "", "", records * 100},
		{"kperf_agent_runs_total", "reason", "done", 1},
		{"kperf_agent_records_in_flight", "", "", 0},
	} {
		if v, ok := metricValue(t, agentMetrics, c.name, c.label, c.value); !ok || v != c.want {
			t.Errorf("agent after the run: %s{%s=%s} = %v (present %v), want %v", c.name, c.label, c.value, v, ok, c.want)
		}
	}
	if bad := alog.nonJSON(); len(bad) > 0 {
		t.Errorf("agent with --log-json wrote non-JSON lines: %q", bad)
	}
	// The controller's stderr also has plain notes (report in DIR); its log
	// lines must be JSON, none in hclog's plain format.
	for _, line := range strings.Split(clog.String(), "\n") {
		for _, lvl := range []string{"[INFO]", "[WARN]", "[ERROR]", "[DEBUG]"} {
			if strings.Contains(line, lvl) {
				t.Errorf("controller with --log-json wrote a plain log line: %q", line)
			}
		}
	}
	if _, ok := clog.field("starting", "run_id"); !ok {
		t.Errorf("controller with --log-json --log-level info: no JSON \"starting\" line with run_id in:\n%s", clog)
	}
}
