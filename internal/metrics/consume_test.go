package metrics

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/protobuf/proto"

	"github.com/kperf/kperf/agent"
	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller"
)

// TestControllerConsumeMetrics runs producers and consumers on kfake and
// one in-process agent, then checks the controller's consume metrics
// against the run's summary.
func TestControllerConsumeMetrics(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agentAddr := serveAgent(ctx, cancel, t, agent.New())
	mon := controller.NewMonitor()
	ctlMetrics := startMetrics(t, func(ctx context.Context, f *Flags) (*Server, error) {
		return StartController(ctx, f, mon, hclog.NewNullLogger())
	})
	spec := &kperfv1.TestPlan{
		BootstrapServers: strings.Join(cluster.ListenAddrs(), ","), Driver: "franz",
		NumRecords: proto.Int64(2000), Throughput: proto.Float64(2000), Interval: "200ms",
		Consumer: &kperfv1.ConsumerPlan{IdleTimeout: "1s"},
	}
	s, err := controller.Run(ctx, spec, controller.Options{Agents: []string{agentAddr}, OutDir: t.TempDir(), Monitor: mon})
	if err != nil {
		t.Fatal(err)
	}
	ctl := scrape(t, ctlMetrics)
	if got := mustValue(t, ctl, "kperf_controller_records_consumed_total"); got != float64(s.Consume.Records) || got != 2000 {
		t.Errorf("records_consumed_total = %v, want the summary's %d (2000)", got, s.Consume.Records)
	}
	if got := mustValue(t, ctl, "kperf_controller_run_records_consumed"); got != 2000 {
		t.Errorf("run_records_consumed = %v, want 2000", got)
	}
	if got := mustValue(t, ctl, "kperf_controller_consumer_lag_records"); got != 0 {
		t.Errorf("consumer_lag_records after the run = %v, want 0", got)
	}
	if p99 := mustValue(t, ctl, "kperf_controller_interval_e2e_latency_seconds", "quantile", "0.99"); p99 <= 0 {
		t.Errorf("interval e2e p99 = %v s, want > 0", p99)
	}
}
