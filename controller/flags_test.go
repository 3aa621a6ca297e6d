package controller

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

func newFlagSet() (*flag.FlagSet, *PlanFlags) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs, BindPlanFlags(fs)
}

func TestEveryPlanFieldHasAFlag(t *testing.T) {
	t.Parallel()
	fs, _ := newFlagSet()
	fields := (&kperfv1.TestPlan{}).ProtoReflect().Descriptor().Fields()
	if fields.Len() == 0 {
		t.Fatal("TestPlan has no fields")
	}
	for i := range fields.Len() {
		key := string(fields.Get(i).Name())
		if fd := fields.Get(i); key != "sweep" && fd.Message() != nil && !fd.IsMap() {
			// A section: a flag per key, --section-key.
			sub := fd.Message().Fields()
			for j := range sub.Len() {
				name := subFlagName(key, string(sub.Get(j).Name()))
				if f := fs.Lookup(name); f == nil || strings.TrimSpace(f.Usage) == "" {
					t.Errorf("plan key %s.%s has no flag --%s with usage text", key, sub.Get(j).Name(), name)
				}
			}
			continue
		}
		name := strings.ReplaceAll(key, "_", "-")
		if got := FlagName(key); got != name {
			t.Errorf("FlagName(%q) = %q, want %q", key, got, name)
		}
		f := fs.Lookup(name)
		if f == nil {
			t.Errorf("plan key %s has no flag --%s", key, name)
			continue
		}
		if strings.TrimSpace(f.Usage) == "" {
			t.Errorf("flag --%s has no usage text", name)
		}
	}
}

func TestListFlags(t *testing.T) {
	t.Parallel()
	_, pf := newFlagSet()
	got := pf.ListFlags()
	slices.Sort(got)
	if want := []string{"consumer-props", "producer-props", "topic-configs"}; !slices.Equal(got, want) {
		t.Errorf("ListFlags() = %q, want %q", got, want)
	}
}

// parseAndApply parses args as kperf-controller run does and applies the
// flags over base.
func parseAndApply(t *testing.T, base *kperfv1.TestPlan, args ...string) (*kperfv1.TestPlan, error) {
	t.Helper()
	fs, pf := newFlagSet()
	if err := fs.Parse(ExpandListArgs(args, pf.ListFlags())); err != nil {
		t.Fatalf("Parse(%q): %v", args, err)
	}
	if fs.NArg() != 0 {
		t.Fatalf("Parse(%q) left arguments %q", args, fs.Args())
	}
	plan := proto.Clone(base).(*kperfv1.TestPlan)
	return plan, pf.Apply(plan)
}

func TestApplyOverridesOnlySetFlags(t *testing.T) {
	t.Parallel()
	base, err := ParsePlan([]byte(`
topic: from-file
num_records: 1000
throughput: 200
record_size: 512
producer_props: {acks: "all", linger.ms: "5"}
topic_configs: {min.insync.replicas: "2"}
workers: 2
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want *kperfv1.TestPlan
	}{
		{
			name: "no flags",
			want: proto.Clone(base).(*kperfv1.TestPlan),
		},
		{
			name: "scalars",
			args: []string{"--topic", "from-flag", "--throughput", "-1", "--workers=8", "-jitter", "0.25", "--seed", "7", "--duration", "1m"},
			want: &kperfv1.TestPlan{
				Topic: "from-flag", NumRecords: proto.Int64(1000), Throughput: proto.Float64(-1), RecordSize: proto.Int32(512),
				ProducerProps: map[string]string{"acks": "all", "linger.ms": "5"},
				TopicConfigs:  map[string]string{"min.insync.replicas": "2"},
				Workers:       proto.Int32(8), Jitter: proto.Float64(0.25), Seed: proto.Int64(7), Duration: "1m",
			},
		},
		{
			name: "zero is a value, not unset",
			args: []string{"--num-records", "0", "--agent-count", "0"},
			want: &kperfv1.TestPlan{
				Topic: "from-file", NumRecords: proto.Int64(0), Throughput: proto.Float64(200), RecordSize: proto.Int32(512),
				ProducerProps: map[string]string{"acks": "all", "linger.ms": "5"},
				TopicConfigs:  map[string]string{"min.insync.replicas": "2"},
				Workers:       proto.Int32(2), AgentCount: proto.Int32(0),
			},
		},
		{
			name: "props merge over the file's",
			args: []string{"--producer-props", "acks=1", "compression.type=lz4", "--topic-configs", "retention.ms=60000"},
			want: &kperfv1.TestPlan{
				Topic: "from-file", NumRecords: proto.Int64(1000), Throughput: proto.Float64(200), RecordSize: proto.Int32(512),
				ProducerProps: map[string]string{"acks": "1", "linger.ms": "5", "compression.type": "lz4"},
				TopicConfigs:  map[string]string{"min.insync.replicas": "2", "retention.ms": "60000"},
				Workers:       proto.Int32(2),
			},
		},
		{
			name: "last scalar wins",
			args: []string{"--topic", "a", "--topic", "b"},
			want: &kperfv1.TestPlan{
				Topic: "b", NumRecords: proto.Int64(1000), Throughput: proto.Float64(200), RecordSize: proto.Int32(512),
				ProducerProps: map[string]string{"acks": "all", "linger.ms": "5"},
				TopicConfigs:  map[string]string{"min.insync.replicas": "2"},
				Workers:       proto.Int32(2),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseAndApply(t, base, tc.args...)
			if err != nil {
				t.Fatalf("Apply(%q): %v", tc.args, err)
			}
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("Apply(%q) mismatch (-want +got):\n%s", tc.args, diff)
			}
		})
	}
}

func TestMapFlagAccumulates(t *testing.T) {
	t.Parallel()
	got, err := parseAndApply(t, &kperfv1.TestPlan{},
		"--producer-props", "acks=1", "linger.ms=5",
		"--producer-props", "batch.size=65536",
		"--producer-props=client.id=a=b",
		"--producer-props", "acks=all", // a later value of a key wins
	)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"acks": "all", "linger.ms": "5", "batch.size": "65536", "client.id": "a=b"}
	if diff := cmp.Diff(want, got.GetProducerProps()); diff != "" {
		t.Errorf("producer_props mismatch (-want +got):\n%s", diff)
	}
}

func TestMapFlagRejectsValueWithoutKey(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"acks", "=1", ""} {
		fs, _ := newFlagSet()
		err := fs.Parse([]string{"--producer-props", v})
		if err == nil || !strings.Contains(err.Error(), "producer-props") {
			t.Errorf("Parse(--producer-props %q) error = %v, want one naming producer-props", v, err)
		}
	}
}

func TestExpandListArgs(t *testing.T) {
	t.Parallel()
	list := []string{"producer-props", "topic-configs"}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{
			name: "values until the next flag",
			args: []string{"--producer-props", "acks=1", "linger.ms=5", "--topic", "t"},
			want: []string{"--producer-props", "acks=1", "--producer-props", "linger.ms=5", "--topic", "t"},
		},
		{
			name: "single dash",
			args: []string{"-producer-props", "acks=1", "retries=0"},
			want: []string{"-producer-props", "acks=1", "-producer-props", "retries=0"},
		},
		{
			name: "two list flags",
			args: []string{"--topic-configs", "a=1", "--producer-props", "b=2", "c=3", "--throughput", "-1"},
			want: []string{"--topic-configs", "a=1", "--producer-props", "b=2", "--producer-props", "c=3", "--throughput", "-1"},
		},
		{
			name: "no values is kept for flag to report",
			args: []string{"--topic", "t", "--producer-props"},
			want: []string{"--topic", "t", "--producer-props"},
		},
		{
			name: "no values before the next flag",
			args: []string{"--producer-props", "--topic", "t"},
			want: []string{"--producer-props", "--topic", "t"},
		},
		{
			name: "equals form is left alone",
			args: []string{"--producer-props=acks=1", "x"},
			want: []string{"--producer-props=acks=1", "x"},
		},
		{
			name: "other flags are left alone",
			args: []string{"--topic", "a", "b"},
			want: []string{"--topic", "a", "b"},
		},
		{
			name: "stops at --",
			args: []string{"--", "--producer-props", "a=1", "b=2"},
			want: []string{"--", "--producer-props", "a=1", "b=2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ExpandListArgs(tc.args, list)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ExpandListArgs(%q) mismatch (-want +got):\n%s", tc.args, diff)
			}
		})
	}
}

func TestListFlagWithoutValuesIsAParseError(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--topic", "t", "--producer-props"},
		{"--producer-props", "--topic", "t"}, // takes "--topic" as its value, which is not k=v
	} {
		fs, pf := newFlagSet()
		err := fs.Parse(ExpandListArgs(args, pf.ListFlags()))
		if err == nil || !strings.Contains(err.Error(), "producer-props") {
			t.Errorf("Parse(ExpandListArgs(%q)) error = %v, want one naming producer-props", args, err)
		}
	}
}

func TestApplyBadValueNamesTheFlag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		flag string
	}{
		{args: []string{"--num-records", "abc"}, flag: "--num-records"},
		{args: []string{"--num-records", "1e6"}, flag: "--num-records"},
		{args: []string{"--record-size", "3000000000"}, flag: "--record-size"}, // overflows int32
		{args: []string{"--workers", "2.5"}, flag: "--workers"},
		{args: []string{"--throughput", "fast"}, flag: "--throughput"},
		{args: []string{"--seed", ""}, flag: "--seed"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			plan, err := parseAndApply(t, &kperfv1.TestPlan{}, tc.args...)
			if err == nil {
				t.Fatalf("Apply(%q) = %v, want an error", tc.args, plan)
			}
			if !strings.Contains(err.Error(), tc.flag) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.args[1])) {
				t.Errorf("Apply(%q) error = %q, want it to name %s and the value", tc.args, err, tc.flag)
			}
		})
	}
}
