package controller

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

func TestParsePerfTestEveryFlag(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "producer.properties")
	os.WriteFile(cfg, []byte("# comment\n! also a comment\n\nlinger.ms=10\nacks = 1\nbatch.size: 32768\ncompression.type lz4\n"), 0o644)
	pt, err := ParsePerfTest([]string{
		"--topic", "t1", "--num-records", "1000", "--record-size=250", "--payload-delimiter", ",",
		"--throughput", "-1", "--producer-props", "acks=all", "client.id=c1", "--producer.config", cfg,
		"--print-metrics", "--bootstrap-server", "b1:9092,b2:9092", "--reporting-interval", "1000",
		"--random-seed", "7", "--agents", "h1:7070, h2:7070", "--out", "/tmp/x", "--key-distribution", "none",
		"--expect-agents", "2", "--tls-ca", "ca.pem", "--insecure",
		"--metrics-addr", ":9091", "--pprof",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &kperfv1.TestPlan{
		Topic: "t1", NumRecords: proto.Int64(1000), RecordSize: proto.Int32(250), PayloadDelimiter: ",",
		Throughput: proto.Float64(-1), Interval: "1s", Seed: proto.Int64(7), BootstrapServers: "b1:9092,b2:9092",
		ProducerProps: map[string]string{"acks": "all", "client.id": "c1", "linger.ms": "10", "batch.size": "32768",
			"compression.type": "lz4", "bootstrap.servers": "b1:9092,b2:9092"},
	}
	if d := cmp.Diff(want, pt.Spec, protocmp.Transform()); d != "" {
		t.Errorf("spec (-want +got):\n%s", d)
	}
	if !pt.PrintMetrics || !pt.AgentsGiven || pt.Agents != "h1:7070, h2:7070" || pt.OutDir != "/tmp/x" ||
		!maps.Equal(pt.AgentFlags, map[string]string{"expect-agents": "2", "tls-ca": "ca.pem", "insecure": "true"}) {
		t.Errorf("print metrics %v, agents %v %q %v, out %q", pt.PrintMetrics, pt.AgentsGiven, pt.Agents, pt.AgentFlags, pt.OutDir)
	}
	if _, err := ParsePerfTest([]string{"--topic", "t", "--num-records", "1", "--throughput", "1", "--record-size", "1",
		"--bootstrap-server", "b:1", "--tls-ca", "ca.pem"}); err == nil || err.Error() != "--tls-ca needs --agents" {
		t.Errorf("--tls-ca without --agents: %v", err)
	}
	if pt.MetricsAddr != ":9091" || !pt.Pprof {
		t.Errorf("metrics addr %q, pprof %v; want :9091, true", pt.MetricsAddr, pt.Pprof)
	}
	if _, err := Resolve(pt.Spec); err != nil {
		t.Errorf("Resolve: %v", err)
	}
}

func TestParsePerfTestDefaultsAndForms(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want *kperfv1.TestPlan
	}{
		{"props before topic", []string{"--producer-props", "a=1", "b=2", "--topic", "t", "--num-records", "5", "--record-size", "10", "--throughput", "100", "--bootstrap-server", "b:1"},
			&kperfv1.TestPlan{Topic: "t", NumRecords: proto.Int64(5), RecordSize: proto.Int32(10), Throughput: proto.Float64(100), PayloadDelimiter: "\n",
				Interval: "5s", BootstrapServers: "b:1", ProducerProps: map[string]string{"a": "1", "b": "2", "bootstrap.servers": "b:1"}}},
		{"bootstrap from props, 4.x names, equals, prefixes", []string{"--top=t", "--num-rec=5", "--payload-file", "f.txt", "--payload-delimiter", `\n`, "--thr", "-2.5",
			"--command-property", "bootstrap.servers=b:2", "key.serializer=x", "--command-property=acks=0"},
			&kperfv1.TestPlan{Topic: "t", NumRecords: proto.Int64(5), PayloadFile: "f.txt", Throughput: proto.Float64(-1), PayloadDelimiter: "\n",
				Interval: "5s", BootstrapServers: "b:2", ProducerProps: map[string]string{"acks": "0", "bootstrap.servers": "b:2"}}},
		{"last value wins", []string{"--topic", "a", "--topic", "b", "--num-records", "1", "--record-size", "1", "--throughput", "1", "--bootstrap-server", "x:1"},
			&kperfv1.TestPlan{Topic: "b", NumRecords: proto.Int64(1), RecordSize: proto.Int32(1), Throughput: proto.Float64(1), PayloadDelimiter: "\n",
				Interval: "5s", BootstrapServers: "x:1", ProducerProps: map[string]string{"bootstrap.servers": "x:1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := ParsePerfTest(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, pt.Spec, protocmp.Transform()); d != "" {
				t.Errorf("spec (-want +got):\n%s", d)
			}
			if pt.AgentsGiven || pt.PrintMetrics {
				t.Errorf("agents given %v, print metrics %v; want neither", pt.AgentsGiven, pt.PrintMetrics)
			}
		})
	}
}

func TestParsePerfTestConfigFileOverridden(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "p.properties")
	os.WriteFile(cfg, []byte("bootstrap.servers=file:1\nacks=0\nlinger.ms=\\\n  20\nclient.id=a\\u0062c\n"), 0o644)
	base := []string{"--topic", "t", "--num-records", "1", "--record-size", "1", "--throughput", "1"}
	pt, err := ParsePerfTest(append(base, "--command-config", cfg, "--command-property", "acks=1"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"bootstrap.servers": "file:1", "acks": "1", "linger.ms": "20", "client.id": "abc"}
	if d := cmp.Diff(want, pt.Spec.GetProducerProps()); d != "" || pt.Spec.GetBootstrapServers() != "file:1" {
		t.Errorf("props (-want +got):\n%s\nbootstrap %q", d, pt.Spec.GetBootstrapServers())
	}
	// --bootstrap-server overrides both.
	pt, err = ParsePerfTest(append(base, "--producer.config", cfg, "--producer-props", "bootstrap.servers=cmd:1", "--bootstrap-server", "flag:1"))
	if err != nil {
		t.Fatal(err)
	}
	if pt.Spec.GetBootstrapServers() != "flag:1" || pt.Spec.GetProducerProps()["bootstrap.servers"] != "flag:1" {
		t.Errorf("bootstrap %q, props %v; want flag:1", pt.Spec.GetBootstrapServers(), pt.Spec.GetProducerProps())
	}
	if _, err := ParsePerfTest(append(base, "--producer.config", filepath.Join(t.TempDir(), "missing"))); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing config file: err %v", err)
	}
}

func TestParsePerfTestErrors(t *testing.T) {
	ok := []string{"--topic", "t", "--num-records", "10", "--record-size", "10", "--throughput", "-1", "--bootstrap-server", "b:1"}
	without := func(flag string) []string {
		var out []string
		for i := 0; i < len(ok); i += 2 {
			if ok[i] != flag {
				out = append(out, ok[i], ok[i+1])
			}
		}
		return out
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{without("--topic"), "--topic is required"},
		{without("--num-records"), "--num-records is required"},
		{without("--throughput"), "--throughput is required"},
		{without("--record-size"), "--record-size --payload-file is required"},
		{without("--bootstrap-server"), "no bootstrap servers"},
		{append(ok, "--payload-file", "f"), "--payload-file: not allowed with argument --record-size"},
		{append(ok, "--transactional-id", "x"), "--transactional-id: transactions are not supported by kperf"},
		{append(ok, "--transaction-duration-ms", "100"), "--transaction-duration-ms: transactions are not supported by kperf"},
		{append(ok, "--producer-props", "transactional.id=x"), "transactional.id: transactions are not supported by kperf"},
		{append(ok, "--warmup-records", "5"), "--warmup-records"},
		{append(ok, "--payload-monotonic"), "--payload-monotonic"},
		{append(ok, "--key-distribution", "random"), "--key-distribution random"},
		{append(ok, "--bogus"), "unrecognized argument: --bogus"},
		{append(ok, "stray"), "unrecognized argument: stray"},
		{append(ok, "-topic", "t"), "unrecognized argument: -topic"},
		{append(ok, "--p", "x"), "ambiguous option: --p"},
		{append(ok, "--producer-props"), "--producer-props: expected one or more arguments"},
		{append(ok, "--producer-props", "novalue"), `invalid property "novalue"`},
		{append(ok, "--producer-props", "a=b=c"), `invalid property "a=b=c"`},
		{append(ok, "--topic"), "--topic: expected one argument"},
		{append(ok, "--topic", "--out", "x"), "--topic: expected one argument"},
		{append(ok, "--print-metrics=yes"), "--print-metrics takes no value"},
		{append(ok, "--num-records", "0"), "--num-records \"0\""},
		{append(ok, "--num-records", "x"), "--num-records \"x\""},
		{append(ok, "--record-size", "0"), "--record-size \"0\""},
		{append(ok, "--throughput", "0"), "--throughput 0"},
		{append(ok, "--throughput", "fast"), "--throughput \"fast\""},
		{append(ok, "--reporting-interval", "10"), "--reporting-interval \"10\""},
		{append(ok, "--agents", ","), "lists no agent"},
	} {
		_, err := ParsePerfTest(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
	for _, h := range [][]string{{"-h"}, {"--help"}, {"--topic", "t", "--help"}} {
		if pt, err := ParsePerfTest(h); err != nil || !pt.Help {
			t.Errorf("%q: %+v, %v; want help", h, pt, err)
		}
	}
}
