package controller

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

func TestParsePlanAcceptsYAMLAndJSON(t *testing.T) {
	t.Parallel()
	want := &kperfv1.TestPlan{
		Topic:            "orders",
		NumRecords:       proto.Int64(1000),
		RecordSize:       proto.Int32(250),
		Throughput:       proto.Float64(-1),
		Duration:         "30s",
		ProducerProps:    map[string]string{"acks": "1", "linger.ms": "10"},
		BootstrapServers: "b1:9092,b2:9092",
		TopicConfigs:     map[string]string{"min.insync.replicas": "2"},
		Workers:          proto.Int32(4),
		Jitter:           proto.Float64(0.5),
	}
	tests := []struct {
		name string
		in   string
	}{
		{name: "yaml", in: `
topic: orders
num_records: 1000
record_size: 250
throughput: -1
duration: 30s
producer_props:
  acks: "1"
  linger.ms: "10"
bootstrap_servers: b1:9092,b2:9092
topic_configs: {min.insync.replicas: "2"}
workers: 4
jitter: 0.5
`},
		{name: "json", in: `{"topic": "orders", "num_records": 1000, "record_size": 250, "throughput": -1,
			"duration": "30s", "producer_props": {"acks": "1", "linger.ms": "10"},
			"bootstrap_servers": "b1:9092,b2:9092", "topic_configs": {"min.insync.replicas": "2"},
			"workers": 4, "jitter": 0.5}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePlan([]byte(tc.in))
			if err != nil {
				t.Fatalf("ParsePlan: %v", err)
			}
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("ParsePlan mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParsePlanEmptyIsEmptyPlan(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "  \n", "# only a comment\n", "null"} {
		got, err := ParsePlan([]byte(in))
		if err != nil {
			t.Errorf("ParsePlan(%q) error = %v, want nil", in, err)
			continue
		}
		if diff := cmp.Diff(&kperfv1.TestPlan{}, got, protocmp.Transform()); diff != "" {
			t.Errorf("ParsePlan(%q) mismatch (-want +got):\n%s", in, diff)
		}
	}
}

func TestParsePlanRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string // in the error
	}{
		{name: "unknown key", in: "topic: t\nthroughputt: 5\n", want: `unknown key "throughputt"`},
		{name: "unknown key in json", in: `{"num_record": 5}`, want: `"num_record"`},
		{name: "string for an integer", in: "num_records: lots\n", want: "num"},
		{name: "list for a string", in: "topic: [a, b]\n", want: "topic"},
		// protojson's error for this one names no field ("unexpected token 5").
		{name: "number for a map", in: "producer_props: 5\n", want: ""},
		{name: "fraction for an integer", in: "record_size: 1.5\n", want: "record"},
		{name: "not yaml", in: "topic: [unclosed\n", want: "not YAML or JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePlan([]byte(tc.in))
			if err == nil {
				t.Fatalf("ParsePlan(%q) = %v, want an error", tc.in, p)
			}
			// Wrong-type errors come from protojson, which may spell the
			// field by its JSON name (numRecords); compare case-insensitively
			// without underscores.
			norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
			if !strings.Contains(norm(err.Error()), norm(tc.want)) {
				t.Errorf("ParsePlan(%q) error = %q, want it to contain %q", tc.in, err, tc.want)
			}
		})
	}
}

// resolveYAML parses a YAML plan and resolves it.
func resolveYAML(t *testing.T, yaml string) (*Plan, error) {
	t.Helper()
	spec, err := ParsePlan([]byte(yaml))
	if err != nil {
		t.Fatalf("ParsePlan(%q): %v", yaml, err)
	}
	return Resolve(spec)
}

func TestResolveDefaults(t *testing.T) {
	t.Parallel()
	spec := &kperfv1.TestPlan{}
	p, err := Resolve(spec)
	if err != nil {
		t.Fatalf("Resolve(empty plan): %v", err)
	}
	want := &kperfv1.TestPlan{
		Topic:             "kperf-test",
		NumRecords:        proto.Int64(0),
		RecordSize:        proto.Int32(100),
		Throughput:        proto.Float64(5000),
		Duration:          "5s",
		PayloadDelimiter:  "\n",
		Partitions:        proto.Int32(6),
		ReplicationFactor: proto.Int32(1),
		Workers:           proto.Int32(1),
		AgentCount:        proto.Int32(0),
		Driver:            "sarama",
		Interval:          "1s",
		Jitter:            proto.Float64(0),
		Seed:              proto.Int64(1),
		LeaseTimeout:      "5s",
	}
	if diff := cmp.Diff(want, p.Spec, protocmp.Transform()); diff != "" {
		t.Errorf("Resolve(empty).Spec mismatch (-want +got):\n%s", diff)
	}
	if p.Duration != 5*time.Second || p.Interval != time.Second || p.LeaseTimeout != 5*time.Second {
		t.Errorf("Resolve(empty) durations = %v, %v, %v, want 5s, 1s, 5s", p.Duration, p.Interval, p.LeaseTimeout)
	}
	if got := p.RatePerSec(); got != 5000 {
		t.Errorf("RatePerSec() = %v, want 5000", got)
	}
	if p.Unlimited() {
		t.Error("Unlimited() = true for the default plan, want false")
	}
	if len(p.BootstrapServer) != 0 {
		t.Errorf("BootstrapServer = %q, want none", p.BootstrapServer)
	}
	if !proto.Equal(spec, &kperfv1.TestPlan{}) {
		t.Errorf("Resolve changed its argument to %v", spec)
	}
}

func TestResolveNumRecordsRunsUntilDone(t *testing.T) {
	t.Parallel()
	p, err := resolveYAML(t, "num_records: 1000\n")
	if err != nil {
		t.Fatal(err)
	}
	if p.Duration != 0 || p.Spec.GetDuration() != "" {
		t.Errorf("Resolve(num_records: 1000) duration = %v (%q), want 0: run until the records are sent", p.Duration, p.Spec.GetDuration())
	}
	p, err = resolveYAML(t, "num_records: 1000\nduration: 1m\n")
	if err != nil {
		t.Fatal(err)
	}
	if p.Duration != time.Minute {
		t.Errorf("Resolve(num_records and duration 1m) duration = %v, want 1m", p.Duration)
	}
}

func TestResolveErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		plan string
		key  string
	}{
		{name: "zero throughput", plan: "throughput: 0", key: "throughput"},
		{name: "negative throughput", plan: "throughput: -5", key: "throughput"},
		{name: "throughput -0.5", plan: "throughput: -0.5", key: "throughput"},
		{name: "zero throughput_bytes", plan: "throughput_bytes: 0", key: "throughput_bytes"},
		{name: "negative num_records", plan: "num_records: -1", key: "num_records"},
		{name: "zero record_size", plan: "record_size: 0", key: "record_size"},
		{name: "bad duration", plan: "duration: 5x", key: "duration"},
		{name: "zero duration", plan: "duration: 0s", key: "duration"},
		{name: "short interval", plan: "interval: 10ms", key: "interval"},
		{name: "bad lease_timeout", plan: "lease_timeout: soon", key: "lease_timeout"},
		{name: "jitter above 1", plan: "jitter: 2", key: "jitter"},
		{name: "negative jitter", plan: "jitter: -0.1", key: "jitter"},
		{name: "unknown producer prop", plan: `producer_props: {lingerms: "5"}`, key: "producer_props"},
		{name: "bad producer prop value", plan: `producer_props: {acks: "2"}`, key: "producer_props"},
		{name: "record_size above default max.request.size", plan: "record_size: 1048577", key: "record_size"},
		{name: "record_size above max.request.size", plan: "record_size: 2000\nproducer_props: {max.request.size: \"1000\"}", key: "record_size"},
		{name: "zero partitions", plan: "partitions: 0", key: "partitions"},
		{name: "zero replication_factor", plan: "replication_factor: 0", key: "replication_factor"},
		{name: "zero workers", plan: "workers: 0", key: "workers"},
		{name: "too many workers", plan: "workers: 1025", key: "workers"},
		{name: "negative agent_count", plan: "agent_count: -1", key: "agent_count"},
		{name: "unknown driver", plan: "driver: kafka-go", key: "driver"},
		{name: "topic with a space", plan: "topic: a b", key: "topic"},
		{name: "topic with a slash", plan: "topic: a/b", key: "topic"},
		{name: "topic dot", plan: `topic: "."`, key: "topic"},
		{name: "topic dot dot", plan: `topic: ".."`, key: "topic"},
		{name: "topic too long", plan: "topic: " + strings.Repeat("t", 250), key: "topic"},
		{name: "topic not ascii", plan: "topic: tøpic", key: "topic"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := resolveYAML(t, tc.plan)
			if err == nil {
				t.Fatalf("Resolve(%q) = %+v, want an error", tc.plan, p.Spec)
			}
			if want := "plan key " + tc.key + ":"; !strings.Contains(err.Error(), want) {
				t.Errorf("Resolve(%q) error = %q, want it to contain %q", tc.plan, err, want)
			}
		})
	}
}

func TestResolveReportsEveryBadKey(t *testing.T) {
	t.Parallel()
	_, err := resolveYAML(t, "throughput: 0\njitter: 2\nrecord_size: 0\n")
	if err == nil {
		t.Fatal("Resolve(three bad keys) = nil error")
	}
	for _, key := range []string{"throughput", "jitter", "record_size"} {
		if !strings.Contains(err.Error(), "plan key "+key+":") {
			t.Errorf("Resolve error = %q, want it to name %s", err, key)
		}
	}
}

func TestResolveAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		plan          string
		wantRate      float64
		wantUnlimited bool
	}{
		{name: "unlimited", plan: "throughput: -1", wantRate: -1, wantUnlimited: true},
		{name: "fractional rate", plan: "throughput: 0.5", wantRate: 0.5},
		{name: "bytes cap only", plan: "throughput_bytes: 100000\nrecord_size: 100", wantRate: 1000},
		{name: "bytes cap is lower", plan: "throughput: 5000\nthroughput_bytes: 100000\nrecord_size: 100", wantRate: 1000},
		{name: "records rate is lower", plan: "throughput: 500\nthroughput_bytes: 100000\nrecord_size: 100", wantRate: 500},
		{name: "bytes cap on unlimited", plan: "throughput: -1\nthroughput_bytes: 1048576\nrecord_size: 1024", wantRate: 1024},
		{name: "jitter 1", plan: "jitter: 1", wantRate: 5000},
		{name: "franz driver", plan: "driver: franz", wantRate: 5000},
		{name: "topic of every legal character", plan: "topic: aZ09._-", wantRate: 5000},
		{name: "longest topic", plan: "topic: " + strings.Repeat("t", 249), wantRate: 5000},
		{name: "record_size at max.request.size", plan: "record_size: 1048576", wantRate: 5000},
		{name: "big record_size with a payload file", plan: "record_size: 2000000\npayload_file: values.txt", wantRate: 5000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := resolveYAML(t, tc.plan)
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tc.plan, err)
			}
			if got := p.RatePerSec(); got != tc.wantRate {
				t.Errorf("Resolve(%q).RatePerSec() = %v, want %v", tc.plan, got, tc.wantRate)
			}
			if got := p.Unlimited(); got != tc.wantUnlimited {
				t.Errorf("Resolve(%q).Unlimited() = %v, want %v", tc.plan, got, tc.wantUnlimited)
			}
		})
	}
}

func TestResolveProducerProps(t *testing.T) {
	t.Parallel()
	p, err := resolveYAML(t, `producer_props: {acks: "1", linger.ms: "20", max.request.size: "2097152"}`)
	if err != nil {
		t.Fatal(err)
	}
	if p.Producer.Acks != 1 || p.Producer.Linger != 20*time.Millisecond || p.Producer.MaxRequestBytes != 2<<20 {
		t.Errorf("Producer = %+v, want acks 1, linger 20ms, max.request.size 2 MiB", p.Producer)
	}
}

func TestResolveBootstrapServers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		plan string
		want []string
	}{
		{name: "key", plan: "bootstrap_servers: b1:9092, b2:9092 ,,", want: []string{"b1:9092", "b2:9092"}},
		{name: "from producer_props", plan: `producer_props: {bootstrap.servers: "p1:9092,p2:9092"}`, want: []string{"p1:9092", "p2:9092"}},
		{name: "key wins over producer_props", plan: "bootstrap_servers: k:9092\nproducer_props: {bootstrap.servers: \"p:9092\"}", want: []string{"k:9092"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := resolveYAML(t, tc.plan)
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tc.plan, err)
			}
			if diff := cmp.Diff(tc.want, p.BootstrapServer); diff != "" {
				t.Errorf("Resolve(%q).BootstrapServer mismatch (-want +got):\n%s", tc.plan, diff)
			}
		})
	}
}

func writePlanFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadPlan(t *testing.T) {
	t.Parallel()
	path := writePlanFile(t, "plan.yaml", "topic: t\nnum_records: 10\nproducer_props:\n  acks: all\n")
	got, err := LoadPlan(path)
	if err != nil {
		t.Fatalf("LoadPlan: %v", err)
	}
	want := &kperfv1.TestPlan{Topic: "t", NumRecords: proto.Int64(10), ProducerProps: map[string]string{"acks": "all"}}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("LoadPlan mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadPlanUnknownKeyNamesKeyAndFile(t *testing.T) {
	t.Parallel()
	path := writePlanFile(t, "bad.yaml", "topic: t\nthroughputt: 5000\n")
	_, err := LoadPlan(path)
	if err == nil {
		t.Fatal("LoadPlan(plan with throughputt) = nil error")
	}
	for _, want := range []string{`"throughputt"`, "bad.yaml"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("LoadPlan error = %q, want it to contain %s", err, want)
		}
	}
}

func TestLoadPlanMissingFile(t *testing.T) {
	t.Parallel()
	if _, err := LoadPlan(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("LoadPlan(missing file) = nil error")
	}
}

func TestReadPayloads(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		delim   string
		want    []string
	}{
		{name: "lines", content: "a\nbb\nccc\n", delim: "\n", want: []string{"a", "bb", "ccc"}},
		{name: "empty lines skipped", content: "\n\na\n\n\nb\n\n", delim: "\n", want: []string{"a", "b"}},
		{name: "no trailing delimiter", content: "a\nb", delim: "\n", want: []string{"a", "b"}},
		{name: "multi-byte delimiter", content: "x||y||||z", delim: "||", want: []string{"x", "y", "z"}},
		{name: "spaces are kept", content: " a \n", delim: "\n", want: []string{" a "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadPayloads(writePlanFile(t, "payloads.txt", tc.content), tc.delim)
			if err != nil {
				t.Fatalf("ReadPayloads(%q, %q): %v", tc.content, tc.delim, err)
			}
			var gotS []string
			for _, b := range got {
				gotS = append(gotS, string(b))
			}
			if diff := cmp.Diff(tc.want, gotS); diff != "" {
				t.Errorf("ReadPayloads(%q, %q) mismatch (-want +got):\n%s", tc.content, tc.delim, diff)
			}
		})
	}
}

func TestReadPayloadsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		path string
	}{
		{name: "empty file", path: writePlanFile(t, "empty.txt", "")},
		{name: "only delimiters", path: writePlanFile(t, "blank.txt", "\n\n\n")},
		{name: "missing file", path: filepath.Join(t.TempDir(), "missing.txt")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadPayloads(tc.path, "\n")
			if err == nil {
				t.Fatalf("ReadPayloads(%s) = %d records, want an error", tc.name, len(got))
			}
			if !strings.Contains(err.Error(), "plan key payload_file:") {
				t.Errorf("ReadPayloads(%s) error = %q, want it to name payload_file", tc.name, err)
			}
		})
	}
}
