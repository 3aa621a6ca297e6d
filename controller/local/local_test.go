package local

import (
	"context"
	"os"
	"path/filepath"
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

// TestLocalRunWithPayloadFile checks that records carry the payload file's
// lines, not random bytes of record_size.
func TestLocalRunWithPayloadFile(t *testing.T) {
	env, err := Start(2, true, "test", hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	file := filepath.Join(t.TempDir(), "payloads.txt")
	if err := os.WriteFile(file, []byte("seven-1\nseven-2\n\nseven-3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := &kperfv1.TestPlan{
		BootstrapServers: env.Bootstrap,
		NumRecords:       proto.Int64(600),
		Throughput:       proto.Float64(-1),
		PayloadFile:      file,
	}
	s, err := controller.Run(context.Background(), spec, controller.Options{Agents: env.Agents, OutDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if s.Records != 600 || s.Bytes != 600*7 {
		t.Errorf("records %d bytes %d, want 600 records of 7 bytes (%d)", s.Records, s.Bytes, 600*7)
	}
}
