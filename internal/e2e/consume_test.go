//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeSummary is the consume side of summary.json.
type consumeSummary struct {
	Records int64 `json:"records"`
	Consume *struct {
		GroupID       string  `json:"group_id"`
		MaxLag        int64   `json:"max_lag"`
		FinalLag      int64   `json:"final_lag"`
		Records       int64   `json:"records"`
		RecordsPerSec float64 `json:"records_per_sec"`
		E2ERecords    int64   `json:"e2e_records"`
		E2ELatencyMs  struct {
			P50, P99, Max float64
		} `json:"e2e_latency_ms"`
		Clock struct {
			OffsetsMs     []float64 `json:"offsets_ms"`
			UncertaintyMs float64   `json:"uncertainty_ms"`
		} `json:"clock"`
		Check struct {
			Expected    int64 `json:"expected"`
			Consumed    int64 `json:"consumed"`
			Duplicates  int64 `json:"duplicates"`
			Missing     int64 `json:"missing"`
			ExactlyOnce bool  `json:"exactly_once"`
		} `json:"check"`
		Backlog *struct {
			RecordsAtResume    int64   `json:"records_at_resume"`
			Drained            bool    `json:"drained"`
			DrainS             float64 `json:"drain_s"`
			DrainRecordsPerSec float64 `json:"drain_records_per_sec"`
		} `json:"backlog"`
	} `json:"consume"`
}

func readConsumeSummary(t *testing.T, dir string) consumeSummary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatalf("read summary: %v", err)
	}
	var s consumeSummary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("decode summary: %v", err)
	}
	if s.Consume == nil {
		t.Fatalf("summary.json has no consume section:\n%s", b)
	}
	return s
}

// committedLag returns, for the group on topic, the end offsets minus the
// committed offsets summed over partitions, as the test reads them itself.
func committedLag(t *testing.T, group, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("end offsets: %v", err)
	}
	var lag int64
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(topic, o.Partition)
		if !ok {
			lag += o.Offset
			return
		}
		lag += o.Offset - c.At
	})
	return lag
}

// TestConsumeAcrossAgentsExactlyOnce produces a known number of records on
// two agent processes whose consumers (two per agent, one group) start 2 s
// late: every record is consumed exactly once, the group commits up to the
// end, and the end-to-end latency shows the injected 2 s delay.
func TestConsumeAcrossAgentsExactlyOnce(t *testing.T) {
	for _, driver := range []string{"sarama", "franz"} {
		t.Run(driver, func(t *testing.T) {
			const n, delay = 15000, 2 * time.Second
			agents := startAgents(t, 2)
			topic := topicName(t)
			out := t.TempDir()
			r := runController(t, 3*time.Minute, "run", "--agents", addrs(agents), "--bootstrap-servers", brokers,
				"--topic", topic, "--partitions", "6", "--num-records", "15000", "--throughput", "5000", "--driver", driver,
				"--consumer-workers", "2", "--consumer-start-delay", delay.String(), "--consumer-idle-timeout", "2s", "--out", out)
			if r.code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			s := readConsumeSummary(t, out)
			c := s.Consume
			if s.Records != n || c.Records != n {
				t.Errorf("produced %d, consumed %d; want %d both", s.Records, c.Records, n)
			}
			k := c.Check
			if !k.ExactlyOnce || k.Expected != n || k.Consumed != n || k.Duplicates != 0 || k.Missing != 0 {
				t.Errorf("consume check %+v, want %d expected and consumed exactly once", k, n)
			}
			if lag := committedLag(t, c.GroupID, topic); lag != 0 {
				t.Errorf("group %s committed %d records short of the end offsets, want 0", c.GroupID, lag)
			}
			if c.E2ERecords != n {
				t.Errorf("e2e latency of %d records, want %d (every record stamped)", c.E2ERecords, n)
			}
			// The first records waited for the consumers' 2 s delay; none can
			// have waited much longer than the delay plus the run.
			e := c.E2ELatencyMs
			if e.Max < float64(delay.Milliseconds())-c.Clock.UncertaintyMs || e.Max > float64(delay.Milliseconds())+5000 {
				t.Errorf("e2e max %.1f ms, want about the %v start delay", e.Max, delay)
			}
			if !(e.P50 > 0 && e.P50 <= e.P99 && e.P99 <= e.Max) {
				t.Errorf("e2e p50 %.1f, p99 %.1f, max %.1f ms: want 0 < p50 <= p99 <= max", e.P50, e.P99, e.Max)
			}
			if len(c.Clock.OffsetsMs) != 2 || c.Clock.UncertaintyMs <= 0 || c.Clock.UncertaintyMs > 50 {
				t.Errorf("clock sync %+v: want 2 offsets and a loopback uncertainty in (0, 50] ms", c.Clock)
			}
			for _, o := range c.Clock.OffsetsMs {
				if o < -50 || o > 50 { // one host: the same clock
					t.Errorf("clock offset %.3f ms on one host, want about 0", o)
				}
			}
			if !strings.Contains(r.stdout+r.stderr, "consume check: 15000 consumed, 15000 unique of 15000 in the topic's range: exactly once") {
				t.Errorf("no exactly-once consume check line:\n%s\n%s", r.stdout, r.stderr)
			}
			t.Logf("%s: consumed %.0f records/s, e2e p50 %.1f ms p99 %.1f ms max %.1f ms, clock uncertainty %.3f ms",
				driver, c.RecordsPerSec, e.P50, e.P99, e.Max, c.Clock.UncertaintyMs)
		})
	}
}

// TestBacklogDrain builds a backlog of 8000 records with the consumers
// waiting, then lets them drain it while the producers go on.
func TestBacklogDrain(t *testing.T) {
	agents := startAgents(t, 2)
	topic := topicName(t)
	out := t.TempDir()
	r := runController(t, 3*time.Minute, "run", "--agents", addrs(agents), "--bootstrap-servers", brokers,
		"--topic", topic, "--duration", "8s", "--throughput", "3000",
		"--consumer-workers", "1", "--consumer-backlog-records", "8000", "--consumer-idle-timeout", "2s", "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	s := readConsumeSummary(t, out)
	b := s.Consume.Backlog
	if b == nil {
		t.Fatal("summary has no backlog section")
	}
	if b.RecordsAtResume < 8000 || !b.Drained || b.DrainS <= 0 {
		t.Errorf("backlog %+v: want at least 8000 records at resume, drained in a positive time", *b)
	}
	// Draining while producing at 3000/s needs more than 3000/s.
	if b.DrainRecordsPerSec <= 3000 {
		t.Errorf("drain rate %.0f records/s, want above the 3000 records/s production", b.DrainRecordsPerSec)
	}
	// The lag showed the backlog, and ended drained.
	if s.Consume.MaxLag < 8000 || s.Consume.FinalLag != 0 {
		t.Errorf("max lag %d, final lag %d; want at least the 8000-record backlog, then 0", s.Consume.MaxLag, s.Consume.FinalLag)
	}
	if s.Consume.Records != s.Records || !s.Consume.Check.ExactlyOnce {
		t.Errorf("consumed %d of %d produced (check %+v), want all exactly once", s.Consume.Records, s.Records, s.Consume.Check)
	}
	t.Logf("backlog %d records drained in %.2f s at %.0f records/s", b.RecordsAtResume, b.DrainS, b.DrainRecordsPerSec)
}
