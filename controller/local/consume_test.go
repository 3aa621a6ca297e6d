package local

import (
	"context"
	"testing"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller"
)

func startEnv(t *testing.T, agents int) *Env {
	t.Helper()
	env, err := Start(agents, true, "test", hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })
	return env
}

// TestLocalBacklog runs the backlog test on the embedded broker: the
// consumers wait for 2000 records, then drain them while the producers go
// on, and every record is consumed once.
func TestLocalBacklog(t *testing.T) {
	env := startEnv(t, 2)
	spec := &kperfv1.TestPlan{
		BootstrapServers: env.Bootstrap, Topic: "backlog", Driver: "franz",
		NumRecords: proto.Int64(6000), Throughput: proto.Float64(2000), Interval: "250ms",
		Consumer: &kperfv1.ConsumerPlan{BacklogRecords: proto.Int64(2000), IdleTimeout: "1s"},
	}
	s, err := controller.Run(context.Background(), spec, controller.Options{Agents: env.Agents, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Consume
	if c == nil || c.Backlog == nil {
		t.Fatalf("no backlog in the summary: %+v", c)
	}
	b := c.Backlog
	if b.RecordsAtResume < 2000 || b.RecordsAtResume >= 6000 || !b.Drained || b.DrainRecordsPerSec <= 0 {
		t.Errorf("backlog %+v: want a drained backlog of 2000..6000 records", *b)
	}
	if c.MaxLag < 2000 {
		t.Errorf("max lag %d, want the backlog of at least 2000 to show", c.MaxLag)
	}
	if c.Records != 6000 || !c.Check.ExactlyOnce {
		t.Errorf("consumed %d (check %+v), want 6000 exactly once", c.Records, c.Check)
	}
}

// TestLocalConsumersAlone fills a topic, then runs consumers alone on two
// agents until they consumed 3000 of its 5000 records.
func TestLocalConsumersAlone(t *testing.T) {
	env := startEnv(t, 2)
	fill := &kperfv1.TestPlan{BootstrapServers: env.Bootstrap, Topic: "alone", NumRecords: proto.Int64(5000), Throughput: proto.Float64(-1)}
	if _, err := controller.Run(context.Background(), fill, controller.Options{Agents: env.Agents, OutDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	spec := &kperfv1.TestPlan{
		BootstrapServers: env.Bootstrap, Topic: "alone", Workers: proto.Int32(0), Interval: "200ms",
		Consumer: &kperfv1.ConsumerPlan{From: "earliest", NumRecords: proto.Int64(3000), IdleTimeout: "2s"},
	}
	s, err := controller.Run(context.Background(), spec, controller.Options{Agents: env.Agents, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Consume
	// Each agent stops at 3000 on its own; the controller stops the other
	// at the interval where the total passed 3000.
	if c == nil || c.Records < 3000 || c.Records > 5000 || c.Check.Duplicates != 0 || c.Check.Expected != 5000 {
		t.Errorf("consume %+v: want 3000..5000 of the topic's 5000 records, none twice", c)
	}
	if s.Records != 0 || c.E2ERecords != 0 || c.Unstamped != c.Records {
		t.Errorf("produced %d, stamped %d, unstamped %d: want no producers and the fill's unstamped records", s.Records, c.E2ERecords, c.Unstamped)
	}
}
