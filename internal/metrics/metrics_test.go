package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/protobuf/proto"

	"github.com/kperf/kperf/agent"
	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller"
	"github.com/kperf/kperf/controller/report"
)

// scrape fetches addr's /metrics and parses it.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", addr, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s/metrics: %v", addr, err)
	}
	return fams
}

// value returns the value of family name's series with the given label
// pairs (name, value, ...); ok is false when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func mustValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, ok := value(fams, name, labels...)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return v
}

// serveAgent serves srv on loopback until ctx ends and returns its
// address. When the test ends it cancels ctx and waits for the server.
func serveAgent(ctx context.Context, cancel context.CancelFunc, t *testing.T, srv *agent.Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- agent.Serve(ctx, lis, srv) }()
	t.Cleanup(func() { cancel(); <-done })
	return lis.Addr().String()
}

// startMetrics serves a registry of cs on loopback until the test ends.
func startMetrics(t *testing.T, start func(context.Context, *Flags) (*Server, error)) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := start(ctx, &Flags{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := s.Close(); err != nil {
			t.Errorf("metrics server: %v", err)
		}
	})
	return s.Addr()
}

// TestScrapeDuringLocalRun runs a test on kfake and two in-process agents,
// scrapes the agents' and the controller's /metrics while it runs and after
// it ends, and checks the counters against the run's summary.
func TestScrapeDuringLocalRun(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := hclog.NewNullLogger()

	var agentAddrs []string
	metricsOf := map[string]string{} // agent gRPC address -> metrics address
	for range 2 {
		srv := agent.New()
		addr := serveAgent(ctx, cancel, t, srv)
		agentAddrs = append(agentAddrs, addr)
		metricsOf[addr] = startMetrics(t, func(ctx context.Context, f *Flags) (*Server, error) {
			return StartAgent(ctx, f, srv, log)
		})
	}
	mon := controller.NewMonitor()
	ctlMetrics := startMetrics(t, func(ctx context.Context, f *Flags) (*Server, error) {
		return StartController(ctx, f, mon, log)
	})
	for addr, m := range metricsOf {
		if v := mustValue(t, scrape(t, m), "kperf_agent_run_state", "state", "idle"); v != 1 {
			t.Errorf("agent %s before the run: run_state{idle} = %v, want 1", addr, v)
		}
	}

	spec := &kperfv1.TestPlan{
		BootstrapServers: strings.Join(cluster.ListenAddrs(), ","),
		NumRecords:       proto.Int64(4000),
		Throughput:       proto.Float64(2000),
		Workers:          proto.Int32(2),
		Interval:         "200ms",
	}
	var sum *report.Summary // written before runDone is sent
	runDone := make(chan error, 1)
	go func() {
		s, err := controller.Run(ctx, spec, controller.Options{Agents: agentAddrs, OutDir: t.TempDir(), Monitor: mon})
		sum = s
		runDone <- err
	}()

	// While the run is producing, both the controller and the agents say so.
	sawRunning := false
	deadline := time.Now().Add(20 * time.Second)
	for !sawRunning && time.Now().Before(deadline) {
		ctl := scrape(t, ctlMetrics)
		if v, _ := value(ctl, "kperf_controller_run_state", "state", "running"); v == 1 && mustValue(t, ctl, "kperf_controller_run_records_acked") > 0 {
			sawRunning = true
			if n := mustValue(t, ctl, "kperf_controller_agents_connected"); n != 2 {
				t.Errorf("mid-run: agents_connected = %v, want 2", n)
			}
			if r := mustValue(t, ctl, "kperf_controller_records_per_second"); r <= 0 {
				t.Errorf("mid-run: controller records_per_second = %v, want > 0", r)
			}
			for addr, m := range metricsOf {
				a := scrape(t, m)
				if w := mustValue(t, a, "kperf_agent_workers"); w != float64(spec.GetWorkers()) {
					t.Errorf("agent %s mid-run: workers = %v, want the plan's %d per agent", addr, w, spec.GetWorkers())
				}
				if s := mustValue(t, a, "kperf_agent_records_sent_total"); s <= 0 {
					t.Errorf("agent %s mid-run: records_sent_total = %v, want > 0", addr, s)
				}
				running, _ := value(a, "kperf_agent_run_state", "state", "running")
				stopping, _ := value(a, "kperf_agent_run_state", "state", "stopping")
				if running+stopping != 1 {
					t.Errorf("agent %s mid-run: run_state running %v stopping %v, want one of them 1", addr, running, stopping)
				}
			}
		}
		select {
		case err := <-runDone:
			runDone <- err
			deadline = time.Now() // the run ended before a running scrape
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !sawRunning {
		t.Fatal("never scraped the controller in state running with records acked")
	}
	if err := <-runDone; err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := sum
	if s.Records != 4000 {
		t.Fatalf("summary records %d, want 4000", s.Records)
	}
	perAgent := map[string]report.Agent{}
	for _, a := range s.Agents {
		perAgent[a.Address] = a
	}

	ctl := scrape(t, ctlMetrics)
	for _, c := range []struct {
		name string
		want float64
	}{
		{"kperf_controller_records_acked_total", float64(s.Records)},
		{"kperf_controller_run_records_acked", float64(s.Records)},
		{"kperf_controller_bytes_acked_total", float64(s.Bytes)},
		{"kperf_controller_records_failed_total", 0},
		{"kperf_controller_agents_connected", 0},
		{"kperf_controller_agents_lost_total", 0},
	} {
		if got := mustValue(t, ctl, c.name); got != c.want {
			t.Errorf("after the run: %s = %v, want %v", c.name, got, c.want)
		}
	}
	if got := mustValue(t, ctl, "kperf_controller_runs_total", "result", "ok"); got != 1 {
		t.Errorf("after the run: runs_total{result=ok} = %v, want 1", got)
	}
	if got := mustValue(t, ctl, "kperf_controller_run_state", "state", "idle"); got != 1 {
		t.Errorf("after the run: controller run_state{idle} = %v, want 1", got)
	}
	if p99 := mustValue(t, ctl, "kperf_controller_interval_latency_seconds", "quantile", "0.99"); p99 <= 0 {
		t.Errorf("after the run: interval p99 latency = %v s, want > 0", p99)
	}
	var ackedSum float64
	for addr, m := range metricsOf {
		a := scrape(t, m)
		want := perAgent[addr]
		acked := mustValue(t, a, "kperf_agent_records_acked_total")
		ackedSum += acked
		for _, c := range []struct {
			name string
			got  float64
			want int64
		}{
			{"kperf_agent_records_acked_total", acked, want.Records},
			{"kperf_agent_records_sent_total", mustValue(t, a, "kperf_agent_records_sent_total"), want.Sent},
			{"kperf_agent_bytes_acked_total", mustValue(t, a, "kperf_agent_bytes_acked_total"), want.Bytes},
			{"kperf_agent_runs_total{reason=done}", mustValue(t, a, "kperf_agent_runs_total", "reason", "done"), 1},
			{"kperf_agent_run_state{state=idle}", mustValue(t, a, "kperf_agent_run_state", "state", "idle"), 1},
			{"kperf_agent_records_in_flight", mustValue(t, a, "kperf_agent_records_in_flight"), 0},
			{"kperf_agent_workers", mustValue(t, a, "kperf_agent_workers"), 0},
		} {
			if c.got != float64(c.want) {
				t.Errorf("agent %s after the run: %s = %v, want %d", addr, c.name, c.got, c.want)
			}
		}
		if _, ok := value(a, "kperf_agent_records_failed_total"); ok {
			t.Errorf("agent %s: records_failed_total has a series, want none (no record failed)", addr)
		}
		if _, ok := a["go_goroutines"]; !ok {
			t.Errorf("agent %s: no go_goroutines: Go collector missing", addr)
		}
		checkNames(t, a)
	}
	if ackedSum != float64(s.Records) {
		t.Errorf("agents' records_acked_total sum to %v, summary has %d", ackedSum, s.Records)
	}
	checkNames(t, ctl)
}

// checkNames checks that every metric other than the Go runtime's, the
// process's and the HTTP handler's is prefixed kperf_.
func checkNames(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	kperf := 0
	for name := range fams {
		switch {
		case strings.HasPrefix(name, "kperf_"):
			kperf++
		case strings.HasPrefix(name, "go_"), strings.HasPrefix(name, "process_"), strings.HasPrefix(name, "promhttp_"):
		default:
			t.Errorf("metric %s is not prefixed kperf_", name)
		}
	}
	if kperf < 8 {
		t.Errorf("%d kperf_ metrics, want at least 8", kperf)
	}
}

// TestPprofOnlyWhenAsked checks that /debug/pprof/ is served with --pprof
// and is 404 without it, while /metrics is served either way.
func TestPprofOnlyWhenAsked(t *testing.T) {
	for _, withPprof := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		reg, err := NewRegistry()
		if err != nil {
			t.Fatal(err)
		}
		s, err := (&Flags{Addr: "127.0.0.1:0", Pprof: withPprof}).Start(ctx, reg, hclog.NewNullLogger())
		if err != nil {
			t.Fatal(err)
		}
		get := func(path string) (int, string) {
			resp, err := http.Get("http://" + s.Addr() + path)
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		code, body := get("/debug/pprof/")
		switch {
		case withPprof && (code != http.StatusOK || !strings.Contains(body, "goroutine")):
			t.Errorf("--pprof: GET /debug/pprof/ = %d, want 200 listing profiles", code)
		case !withPprof && code != http.StatusNotFound:
			t.Errorf("no --pprof: GET /debug/pprof/ = %d, want 404", code)
		}
		if code, _ := get("/debug/pprof/goroutine?debug=1"); withPprof != (code == http.StatusOK) {
			t.Errorf("pprof %v: GET /debug/pprof/goroutine = %d", withPprof, code)
		}
		if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
			t.Errorf("pprof %v: GET /metrics = %d, want 200 with go_goroutines", withPprof, code)
		}
		cancel()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

// TestServerStopsWithContext checks that cancelling the context closes
// the listener.
func TestServerStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	s, err := (&Flags{Addr: "127.0.0.1:0"}).Start(ctx, reg, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections 5 s after its context ended", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after shutdown: %v", err)
	}
}

func TestFlags(t *testing.T) {
	if err := (&Flags{Pprof: true}).Check(); err == nil || !strings.Contains(err.Error(), "--pprof") || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Errorf("Check(--pprof without --metrics-addr) = %v, want an error naming both flags", err)
	}
	for _, f := range []Flags{{}, {Addr: ":9090"}, {Addr: ":9090", Pprof: true}} {
		if err := f.Check(); err != nil {
			t.Errorf("Check(%+v) = %v, want nil", f, err)
		}
	}
	s, err := (&Flags{}).Start(context.Background(), nil, hclog.NewNullLogger())
	if s != nil || err != nil {
		t.Errorf("Start without --metrics-addr = %v, %v; want nil, nil (off)", s, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("nil Server Close = %v", err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	reg, _ := NewRegistry()
	_, err = (&Flags{Addr: busy.Addr().String()}).Start(context.Background(), reg, hclog.NewNullLogger())
	if err == nil || !strings.HasPrefix(err.Error(), "--metrics-addr "+busy.Addr().String()) {
		t.Errorf("Start on a busy address = %v, want an error starting with --metrics-addr ADDR", err)
	}
	t.Setenv("PORT_METRICS", "9123")
	if got := EnvAddr("PORT_METRICS"); got != ":9123" {
		t.Errorf("EnvAddr(PORT_METRICS=9123) = %q, want :9123", got)
	}
}
