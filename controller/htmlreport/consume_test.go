package htmlreport_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller"
	"github.com/kperf/kperf/controller/htmlreport"
)

// TestReportConsumeSide runs producers and consumers on the embedded broker
// and checks that report.html shows the consume side.
func TestReportConsumeSide(t *testing.T) {
	env := startLocal(t, 2)
	dir := t.TempDir()
	plan := smallPlan(env, "report-consume")
	plan.Driver = "franz"
	plan.Consumer = &kperfv1.ConsumerPlan{Workers: proto.Int32(1), IdleTimeout: "1s"}
	s, err := controller.Run(context.Background(), plan, controller.Options{Agents: env.Agents, OutDir: dir})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	c := s.Consume
	if c == nil || c.Records != 3000 || !c.Check.ExactlyOnce || c.E2ERecords != 3000 {
		t.Fatalf("consume summary %+v: want 3000 records consumed exactly once, all stamped", c)
	}
	path, err := htmlreport.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	page := readFile(t, path)
	for _, name := range []string{"consume-throughput", "consumer-lag", "e2e-latency", "e2e-distribution"} {
		figure(t, page, name)
		readFile(t, filepath.Join(dir, "charts", name+".svg"))
	}
	for _, want := range []string{"consumed records", "consume check", "exactly once: 3000 consumed, 3000 unique of 3000", "end-to-end p50 / p99 / max (ms)"} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	checkSelfContained(t, page)
}

// TestReportSweepConsumeColumns sweeps the consumer workers and checks that
// the sweep table shows the consume side.
func TestReportSweepConsumeColumns(t *testing.T) {
	env := startLocal(t, 1)
	dir := filepath.Join(t.TempDir(), "sweep")
	spec := smallPlan(env, "report-sweep-consume")
	spec.NumRecords = proto.Int64(1000)
	spec.Driver = "franz"
	spec.Consumer = &kperfv1.ConsumerPlan{IdleTimeout: "1s"}
	spec.Sweep = &kperfv1.Sweep{Axes: []*kperfv1.SweepAxis{{Key: "consumer-workers", Values: []string{"1", "2"}}}}
	page := sweepReport(t, env, spec, dir)
	for _, want := range []string{`<th class="num">consumed/s</th>`, `<th class="num">e2e p99 ms</th>`, "consumer-workers=2"} {
		if !strings.Contains(page, want) {
			t.Errorf("sweep report lacks %q", want)
		}
	}
	csv := readFile(t, filepath.Join(dir, "sweep.csv"))
	if !strings.Contains(strings.Split(csv, "\n")[0], "consumed_records_per_sec") {
		t.Errorf("sweep.csv header lacks the consume columns: %s", strings.Split(csv, "\n")[0])
	}
}
