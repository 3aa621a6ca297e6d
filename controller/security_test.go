package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/protobuf/proto"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller"
	"github.com/kperf/kperf/controller/local"
)

// TestRunWithSASLRedactsSecrets runs both drivers through in-process agents
// against kfake requiring SASL (the controller's admin client included),
// and checks that the password shows nowhere: not in the output, the logs,
// nor the results, where the recorded plan holds sasl.jaas.config redacted.
func TestRunWithSASLRedactsSecrets(t *testing.T) {
	t.Parallel()
	const password = "Pa55-w0rd-for-kfake"
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256"} {
		for _, driver := range []string{"sarama", "franz"} {
			t.Run(mech+"/"+driver, func(t *testing.T) {
				t.Parallel()
				c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "kperf", password))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				var logs bytes.Buffer
				log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug})
				env, err := local.Start(1, false, "test", log)
				if err != nil {
					t.Fatal(err)
				}
				defer env.Close()
				module := "org.apache.kafka.common.security.scram.ScramLoginModule"
				if mech == "PLAIN" {
					module = "org.apache.kafka.common.security.plain.PlainLoginModule"
				}
				plan := &kperfv1.TestPlan{
					BootstrapServers: strings.Join(c.ListenAddrs(), ","),
					Topic:            "sasl-" + strings.ToLower(mech) + "-" + driver,
					NumRecords:       proto.Int64(500),
					Throughput:       proto.Float64(-1),
					Interval:         "250ms",
					Driver:           driver,
					ProducerProps: map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mech,
						"sasl.jaas.config": module + ` required username="kperf" password="` + password + `";`},
				}
				dir := t.TempDir()
				var out bytes.Buffer
				s, err := controller.Run(context.Background(), plan, controller.Options{Agents: env.Agents, OutDir: dir, Stdout: &out, Log: log})
				if err != nil {
					t.Fatalf("Run: %v\nlogs:\n%s", err, logs.String())
				}
				if s.Records != 500 || !s.DeliveryCheck.OK {
					t.Errorf("records %d, delivery check %+v; want 500, ok", s.Records, s.DeliveryCheck)
				}
				var rec struct {
					ProducerProps map[string]string `json:"producerProps"`
				}
				if err := json.Unmarshal(s.Plan, &rec); err != nil {
					t.Fatal(err)
				}
				if got := rec.ProducerProps["sasl.jaas.config"]; got != "[redacted]" {
					t.Errorf("recorded sasl.jaas.config = %q, want [redacted]", got)
				}
				if rec.ProducerProps["sasl.mechanism"] != mech {
					t.Errorf("recorded producer props %v, want sasl.mechanism kept", rec.ProducerProps)
				}
				if plan.ProducerProps["sasl.jaas.config"] == "[redacted]" {
					t.Error("Run redacted the caller's plan")
				}
				texts := map[string]string{"output": out.String(), "logs": logs.String()}
				filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						b, _ := os.ReadFile(path)
						texts[path] = string(b)
					}
					return nil
				})
				for name, text := range texts {
					if strings.Contains(text, password) {
						t.Errorf("%s shows the password", name)
					}
				}
			})
		}
	}
}
