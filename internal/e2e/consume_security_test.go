//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecureConsumers runs producers and consumers through the secure
// listeners with each driver: the consumers take the producers' security
// properties, read every record exactly once, and no secret reaches the
// output or the results. Then consumer-perf-test reads the topic with the
// security properties given as --command-property.
func TestSecureConsumers(t *testing.T) {
	c := secureKafka(t)
	agents := startAgents(t, 2)
	const n = 3000
	for _, driver := range []string{"sarama", "franz"} {
		for _, tc := range securityCases(t, c, driver) {
			if tc.name != "SASL_SSL SCRAM-SHA-512" && tc.name != "SSL client certificate" {
				continue // the other cases differ only in what the producer tests cover
			}
			t.Run(driver+"/"+tc.name, func(t *testing.T) {
				topic := topicName(t)
				out := t.TempDir()
				args := []string{"run", "--agents", addrs(agents), "--bootstrap-servers", c.listeners[tc.listener], "--topic", topic,
					"--num-records", fmt.Sprint(n), "--throughput", "3000", "--partitions", "3", "--driver", driver,
					"--consumer-workers", "1", "--consumer-idle-timeout", "2s", "--out", out}
				r := runController(t, 2*time.Minute, append(args, propArgs(tc.props)...)...)
				if r.code != 0 {
					t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
				}
				s := readConsumeSummary(t, out)
				if s.Consume.Records != n || !s.Consume.Check.ExactlyOnce || s.Consume.E2ERecords != n {
					t.Errorf("consumed %d (check %+v, %d stamped), want %d exactly once", s.Consume.Records, s.Consume.Check, s.Consume.E2ERecords, n)
				}
				checkNoSecrets(t, c, out, r) // the consumers took the producer properties: nothing of their own to record

				// consumer-perf-test with the properties on its command line.
				perfOut := t.TempDir()
				pargs := []string{"consumer-perf-test", "--bootstrap-server", c.listeners[tc.listener], "--topic", topic,
					"--num-records", fmt.Sprint(n), "--driver", driver, "--out", perfOut}
				for k, v := range tc.props {
					pargs = append(pargs, "--command-property", k+"="+v) // one property per flag, as jopt-simple takes them
				}
				pr := runController(t, 2*time.Minute, pargs...)
				if pr.code != 0 {
					t.Fatalf("consumer-perf-test exit %d\nstdout:\n%s\nstderr:\n%s", pr.code, pr.stdout, pr.stderr)
				}
				p := parseConsumerPerf(t, "kperf", pr.stdout, false)
				if len(p.rows) != 1 || p.rows[0][3] != fmt.Sprint(n) {
					t.Errorf("consumer-perf-test rows %q, want one row of %d records", p.rows, n)
				}
				checkNoSecretText(t, c, perfOut, pr)
				checkConsumerPropsRedacted(t, perfOut)
			})
		}
	}
}

// checkNoSecretText fails when the password or the client's private key
// shows in a command's output or results. It returns the texts it read:
// "stdout", "stderr" and each results file by its path in out.
func checkNoSecretText(t *testing.T, c *secureCluster, out string, r controllerResult) map[string]string {
	t.Helper()
	key := strings.Split(strings.TrimSpace(c.read(t, "client-key.pem")), "\n")[1] // a line of the key's base64
	texts := map[string]string{"stdout": r.stdout, "stderr": r.stderr}
	err := filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		texts[strings.TrimPrefix(path, out+"/")] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range texts {
		if strings.Contains(text, c.password) || strings.Contains(text, key) {
			t.Errorf("%s shows the SASL password or the client key", name)
		}
	}
	return texts
}

// checkConsumerPropsRedacted checks that summary.json keeps the security
// properties given as consumer properties, with secrets redacted.
func checkConsumerPropsRedacted(t *testing.T, out string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Plan struct {
			Consumer struct {
				ConsumerProps map[string]string `json:"consumerProps"`
			} `json:"consumer"`
		} `json:"plan"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	if rec.Plan.Consumer.ConsumerProps["security.protocol"] == "" {
		t.Errorf("summary.json plan consumer_props = %v, want the security properties recorded", rec.Plan.Consumer.ConsumerProps)
	}
	for k, v := range rec.Plan.Consumer.ConsumerProps {
		if (k == "sasl.jaas.config" || k == "ssl.keystore.key" || strings.Contains(k, "password")) && v != "[redacted]" {
			t.Errorf("summary.json plan consumer_props[%s] = %q, want [redacted]", k, v)
		}
	}
}
