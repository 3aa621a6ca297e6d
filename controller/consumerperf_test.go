package controller

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConsumerPerf(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "c.properties")
	if err := os.WriteFile(cfg, []byte("session.timeout.ms=9000\nclient.id=from-file\nkey.deserializer=x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cp, err := ParseConsumerPerf([]string{"--bootstrap-server", "b:9092", "--topic", "t", "--num-rec=500", "--group", "g",
		"--fetch-size", "2048", "--from-latest", "--timeout", "2500", "--show-detailed-stats", "--reporting-interval", "1000",
		"--command-config", cfg, "--command-property", "fetch.min.bytes=10"})
	if err != nil {
		t.Fatal(err)
	}
	c := cp.Spec.GetConsumer()
	props := c.GetConsumerProps()
	switch {
	case cp.NumRecords != 500 || c.GetNumRecords() != 500:
		t.Errorf("records %d / %d, want 500", cp.NumRecords, c.GetNumRecords())
	case cp.Spec.GetBootstrapServers() != "b:9092" || cp.Spec.GetTopic() != "t" || cp.Spec.GetWorkers() != 0:
		t.Errorf("spec %v: want bootstrap b:9092, topic t, no producers", cp.Spec)
	case c.GetGroupId() != "g" || c.GetFrom() != "latest" || c.GetIdleTimeout() != "2.5s" || cp.Spec.GetInterval() != "1s":
		t.Errorf("consumer %v: want group g, latest, 2.5s idle, 1s interval", c)
	case props["max.partition.fetch.bytes"] != "2048" || props["fetch.min.bytes"] != "10" || props["session.timeout.ms"] != "9000" ||
		props["client.id"] != "from-file" || props["key.deserializer"] != "":
		t.Errorf("props %v", props)
	case !cp.Detailed || cp.TimeoutMs != 2500 || len(cp.Warnings) != 0:
		t.Errorf("parsed %+v", cp)
	}
	if _, err := Resolve(cp.Spec); err != nil {
		t.Errorf("Resolve(consumer-perf-test plan): %v", err)
	}

	def, err := ParseConsumerPerf([]string{"--bootstrap-server", "b", "--topic", "t", "--messages", "7", "--timeout"})
	if err != nil {
		t.Fatal(err)
	}
	if dc := def.Spec.GetConsumer(); dc.GetFrom() != "earliest" || !strings.HasPrefix(dc.GetGroupId(), "perf-consumer-") ||
		dc.GetConsumerProps()["client.id"] != "perf-consumer-client" || def.TimeoutMs != 10000 || dc.GetNumRecords() != 7 {
		t.Errorf("defaults: %v, timeout %d", dc, def.TimeoutMs)
	}
	if len(def.Warnings) != 1 || !strings.Contains(def.Warnings[0], "--messages is deprecated") {
		t.Errorf("warnings %q, want the --messages deprecation", def.Warnings)
	}
	if p, err := Resolve(def.Spec); err != nil || p.Consume.IdleTimeout != 10*time.Second {
		t.Errorf("Resolve: %v, idle %v", err, p.Consume.IdleTimeout)
	}
}

func TestParseConsumerPerfErrors(t *testing.T) {
	t.Parallel()
	base := []string{"--bootstrap-server", "b", "--topic", "t"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append(base[:2:2], "--topic", "t"), "[messages], [num-records]"},
		{append(base, "--num-records", "1", "--messages", "1"), "[messages], [num-records]"},
		{append(base, "--num-records", "0"), "--num-records"},
		{[]string{"--topic", "t", "--num-records", "5"}, "no bootstrap servers"},
		{[]string{"--bootstrap-server", "b", "--num-records", "5"}, "[topic, include]"},
		{append(base, "--num-records", "5", "--include", "x"), "--include"},
		{append(base, "--num-records", "5", "--t", "x"), "ambiguous"},
		{append(base, "--num-records", "5", "--nope"), "nope is not a recognized option"},
		{append(base, "--num-records", "5", "--timeout", "50"), "--timeout"},
		{append(base, "--num-records", "5", "--date-format", "yyyy QQ"), "--date-format"},
		{append(base, "--num-records", "5", "--from-latest=yes"), "does not take an argument"},
		{append(base, "--num-records", "5", "--command-property", "novalue"), "--command-property"},
		{append(base, "--num-records", "5", "--group"), "requires an argument"},
	} {
		if _, err := ParseConsumerPerf(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConsumerPerf(%q) = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}
