package local

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller"
)

// TestLocalRun runs the embedded default end to end in this process:
// kfake, three agents on loopback gRPC, the controller's merge and checks.
func TestLocalRun(t *testing.T) {
	env, err := Start(3, true, "test", hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	var out strings.Builder
	spec := &kperfv1.TestPlan{
		BootstrapServers: env.Bootstrap,
		NumRecords:       proto.Int64(3000),
		Throughput:       proto.Float64(3000),
		Workers:          proto.Int32(2),
		Interval:         "250ms",
	}
	s, err := controller.Run(context.Background(), spec, controller.Options{Agents: env.Agents, OutDir: t.TempDir(), Stdout: &out})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	var perAgent int64
	for _, a := range s.Agents {
		perAgent += a.Records
	}
	if s.Records != 3000 || perAgent != 3000 || !s.DeliveryCheck.OK || s.DeliveryCheck.BrokerOffsetDelta != 3000 {
		t.Errorf("records %d, per agent %d, delivery %+v; want 3000 everywhere", s.Records, perAgent, s.DeliveryCheck)
	}
	if len(s.Agents) != 3 || s.Intervals < 4 {
		t.Errorf("agents %d, intervals %d; want 3 agents and at least 4 intervals of 250ms", len(s.Agents), s.Intervals)
	}
	if !strings.Contains(out.String(), "3000 records sent, ") {
		t.Errorf("no final line in output:\n%s", out.String())
	}
}
