//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kperf/kperf/agent/producer"
	"github.com/kperf/kperf/internal/props"
	"github.com/kperf/kperf/internal/testcert"
)

// secureCluster is the cluster `scripts/kafka up --security` started; its
// output is in KPERF_E2E_SECURE (scripts/test sets it).
type secureCluster struct {
	dir       string            // security_dir: ca.pem, client.pem, client-key.pem, credentials
	listeners map[string]string // SSL, MTLS, SASL_PLAINTEXT, SASL_SSL, PLAINTEXT -> bootstrap
	user      string
	password  string
}

func secureKafka(t *testing.T) *secureCluster {
	t.Helper()
	out := os.Getenv("KPERF_E2E_SECURE")
	if out == "" {
		t.Fatal("KPERF_E2E_SECURE is not set; scripts/test sets it to the output of `scripts/kafka up --security`")
	}
	c := &secureCluster{listeners: map[string]string{}}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines[:len(lines)-1] {
		k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
		if !ok {
			continue // progress output, if any
		}
		if k == "security_dir" {
			c.dir = v
		} else {
			c.listeners[k] = v
		}
	}
	c.listeners["PLAINTEXT"] = strings.TrimSpace(lines[len(lines)-1])
	creds, err := os.ReadFile(filepath.Join(c.dir, "credentials"))
	if err != nil {
		t.Fatalf("KPERF_E2E_SECURE: %v", err)
	}
	for _, l := range strings.Split(string(creds), "\n") {
		if v, ok := strings.CutPrefix(l, "username="); ok {
			c.user = v
		} else if v, ok := strings.CutPrefix(l, "password="); ok {
			c.password = v
		}
	}
	for _, k := range []string{"SSL", "MTLS", "SASL_PLAINTEXT", "SASL_SSL", "PLAINTEXT"} {
		if c.listeners[k] == "" {
			t.Fatalf("KPERF_E2E_SECURE has no %s listener:\n%s", k, out)
		}
	}
	if c.user == "" || c.password == "" {
		t.Fatalf("%s/credentials has no username or password", c.dir)
	}
	return c
}

func (c *secureCluster) file(name string) string { return filepath.Join(c.dir, name) }

func (c *secureCluster) read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(c.file(name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jaas(mechanism, user, password string) string {
	module := "org.apache.kafka.common.security.scram.ScramLoginModule"
	if mechanism == "PLAIN" {
		module = "org.apache.kafka.common.security.plain.PlainLoginModule"
	}
	return fmt.Sprintf(`%s required username="%s" password="%s";`, module, user, password)
}

// securityCase is one way of connecting: the listener and the properties.
type securityCase struct {
	name     string
	listener string
	props    map[string]string
}

func securityCases(t *testing.T, c *secureCluster, driver string) []securityCase {
	trust := map[string]string{"ssl.truststore.type": "PEM", "ssl.truststore.location": c.file("ca.pem")}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	// The client certificate: inline PEM for one driver, a key store file
	// for the other, so both forms are used against the broker.
	var clientCert map[string]string
	if driver == "sarama" {
		clientCert = with(trust, "security.protocol", "SSL", "ssl.keystore.type", "PEM",
			"ssl.keystore.key", c.read(t, "client-key.pem"), "ssl.keystore.certificate.chain", c.read(t, "client.pem"))
	} else {
		ks := filepath.Join(t.TempDir(), "keystore.pem")
		if err := os.WriteFile(ks, []byte(c.read(t, "client-key.pem")+c.read(t, "client.pem")), 0o600); err != nil {
			t.Fatal(err)
		}
		clientCert = with(trust, "security.protocol", "SSL", "ssl.keystore.type", "PEM", "ssl.keystore.location", ks)
	}
	return []securityCase{
		{name: "SSL", listener: "SSL", props: with(trust, "security.protocol", "SSL")},
		{name: "SSL client certificate", listener: "MTLS", props: clientCert},
		{name: "SASL_PLAINTEXT PLAIN", listener: "SASL_PLAINTEXT", props: map[string]string{"security.protocol": "SASL_PLAINTEXT",
			"sasl.mechanism": "PLAIN", "sasl.jaas.config": jaas("PLAIN", c.user, c.password)}},
		{name: "SASL_SSL SCRAM-SHA-256", listener: "SASL_SSL", props: with(trust, "security.protocol", "SASL_SSL",
			"sasl.mechanism", "SCRAM-SHA-256", "sasl.jaas.config", jaas("SCRAM-SHA-256", c.user, c.password))},
		{name: "SASL_SSL SCRAM-SHA-512", listener: "SASL_SSL", props: with(trust, "security.protocol", "SASL_SSL",
			"sasl.mechanism", "SCRAM-SHA-512", "sasl.jaas.config", jaas("SCRAM-SHA-512", c.user, c.password))},
	}
}

func propArgs(m map[string]string) []string {
	args := []string{"--producer-props", "acks=all"}
	for k, v := range m {
		args = append(args, k+"="+v)
	}
	return args
}

// TestSecureListeners runs a short test through agent processes against
// each secure listener with each driver: the controller's topic setup and
// end-offset check and the agents' producers all go through it.
func TestSecureListeners(t *testing.T) {
	c := secureKafka(t)
	agents := startAgents(t, 2)
	const n = 4000
	for _, driver := range []string{"sarama", "franz"} {
		for _, tc := range securityCases(t, c, driver) {
			t.Run(driver+"/"+tc.name, func(t *testing.T) {
				topic := topicName(t)
				out := t.TempDir()
				args := []string{"run", "--agents", addrs(agents), "--bootstrap-servers", c.listeners[tc.listener], "--topic", topic,
					"--num-records", fmt.Sprint(n), "--record-size", "256", "--throughput", "-1", "--workers", "2", "--partitions", "3",
					"--driver", driver, "--out", out}
				began := time.Now()
				r := runController(t, 2*time.Minute, append(args, propArgs(tc.props)...)...)
				if r.code != 0 {
					t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
				}
				s := readSummary(t, out)
				stored := endOffsetsOn(t, c.listeners["PLAINTEXT"], topic) // independent of kperf, over plaintext
				if s.Records != n || stored != n || !s.DeliveryCheck.OK || s.Failed != 0 {
					t.Errorf("acked %d, failed %d %v, broker stored %d, delivery_check %+v; want %d acked and stored",
						s.Records, s.Failed, s.Errors, stored, s.DeliveryCheck, n)
				}
				checkNoSecrets(t, c, out, r)
				t.Logf("%s: %d records in %v", tc.listener, n, time.Since(began).Round(time.Millisecond))
			})
		}
	}
}

// checkNoSecrets fails when the password or the client's private key shows
// in the run's output or results, and checks that the recorded plan keeps
// the secret properties, redacted.
func checkNoSecrets(t *testing.T, c *secureCluster, out string, r controllerResult) {
	t.Helper()
	texts := checkNoSecretText(t, c, out, r)
	var rec struct {
		Plan struct {
			ProducerProps map[string]string `json:"producerProps"`
		} `json:"plan"`
	}
	if err := json.Unmarshal([]byte(texts["summary.json"]), &rec); err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	pp := rec.Plan.ProducerProps
	if pp["security.protocol"] == "" {
		t.Errorf("summary.json plan producer_props = %v, want the security properties recorded", pp)
	}
	for _, k := range []string{"sasl.jaas.config", "ssl.keystore.key"} {
		if v, ok := pp[k]; ok && v != "[redacted]" {
			t.Errorf("summary.json plan producer_props[%s] = %q, want [redacted]", k, v)
		}
	}
}

// TestSecureListenersRefuse checks that bad credentials and untrusted
// certificates end the run quickly with an error saying why, and never
// print the password tried.
func TestSecureListenersRefuse(t *testing.T) {
	c := secureKafka(t)
	agents := startAgents(t, 1)
	const wrongPassword = "not-the-Password-123"
	wrongCA := writeOtherCA(t)
	tests := []struct {
		name     string
		listener string
		props    map[string]string
		want     string // in stderr, case-insensitive
	}{
		{name: "wrong password PLAIN", listener: "SASL_PLAINTEXT", want: "authentication", props: map[string]string{
			"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.jaas.config": jaas("PLAIN", c.user, wrongPassword)}},
		{name: "wrong password SCRAM-SHA-512", listener: "SASL_SSL", want: "authentication", props: map[string]string{
			"security.protocol": "SASL_SSL", "ssl.truststore.location": c.file("ca.pem"),
			"sasl.mechanism": "SCRAM-SHA-512", "sasl.jaas.config": jaas("SCRAM-SHA-512", c.user, wrongPassword)}},
		{name: "unknown user SCRAM-SHA-256", listener: "SASL_SSL", want: "authentication", props: map[string]string{
			"security.protocol": "SASL_SSL", "ssl.truststore.location": c.file("ca.pem"),
			"sasl.mechanism": "SCRAM-SHA-256", "sasl.jaas.config": jaas("SCRAM-SHA-256", "nobody", wrongPassword)}},
		{name: "wrong CA", listener: "SSL", want: "certificate", props: map[string]string{
			"security.protocol": "SSL", "ssl.truststore.location": wrongCA}},
		{name: "wrong CA, SASL_SSL", listener: "SASL_SSL", want: "certificate", props: map[string]string{
			"security.protocol": "SASL_SSL", "ssl.truststore.location": wrongCA,
			"sasl.mechanism": "PLAIN", "sasl.jaas.config": jaas("PLAIN", c.user, c.password)}},
		{name: "no client certificate", listener: "MTLS", want: "certificate", props: map[string]string{
			"security.protocol": "SSL", "ssl.truststore.location": c.file("ca.pem")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			r := runController(t, time.Minute, append([]string{"run", "--agents", addrs(agents), "--bootstrap-servers", c.listeners[tc.listener],
				"--topic", topicName(t), "--num-records", "100", "--out", t.TempDir()}, propArgs(tc.props)...)...)
			took := time.Since(began)
			if r.code != 1 || !strings.Contains(strings.ToLower(r.stderr), tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and an error mentioning %q", r.code, r.stderr, tc.want)
			}
			if strings.Contains(r.stdout+r.stderr, wrongPassword) || strings.Contains(r.stdout+r.stderr, c.password) {
				t.Errorf("output shows a password:\n%s", r.stderr)
			}
			if took > 30*time.Second {
				t.Errorf("took %v to fail, want under 30s", took)
			}
			t.Logf("failed in %v: %s", took.Round(time.Millisecond), lastLine(r.stderr))
		})
	}
}

// TestDriversRefuse connects each driver directly (as an agent does, past
// the controller's own checks) with bad credentials or an untrusted CA.
func TestDriversRefuse(t *testing.T) {
	c := secureKafka(t)
	wrongCA := writeOtherCA(t)
	tests := []struct {
		name     string
		listener string
		props    map[string]string
		want     string
	}{
		{name: "wrong password SCRAM-SHA-256", listener: "SASL_SSL", want: "authentication", props: map[string]string{
			"security.protocol": "SASL_SSL", "ssl.truststore.location": c.file("ca.pem"),
			"sasl.mechanism": "SCRAM-SHA-256", "sasl.jaas.config": jaas("SCRAM-SHA-256", c.user, "wrong-password")}},
		{name: "wrong password PLAIN", listener: "SASL_PLAINTEXT", want: "authentication", props: map[string]string{
			"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.jaas.config": jaas("PLAIN", c.user, "wrong-password")}},
		{name: "wrong CA", listener: "SSL", want: "certificate", props: map[string]string{
			"security.protocol": "SSL", "ssl.truststore.location": wrongCA}},
	}
	for _, driver := range []string{"sarama", "franz"} {
		for _, tc := range tests {
			t.Run(driver+"/"+tc.name, func(t *testing.T) {
				settings, err := props.Parse(tc.props)
				if err != nil {
					t.Fatal(err)
				}
				brokers := strings.Split(c.listeners[tc.listener], ",")
				began := time.Now()
				var cl producer.Client
				if driver == "sarama" {
					cl, err = producer.NewSarama(producer.SaramaOptions{Brokers: brokers, Topic: "any", Settings: settings,
						Payloads: [][]byte{{1}}, Clock: producer.NewClock(), Completer: nopCompleter{}})
				} else {
					cl, err = producer.NewFranz(producer.FranzOptions{Brokers: brokers, Topic: "any", Settings: settings,
						Payloads: [][]byte{{1}}, Clock: producer.NewClock(), Completer: nopCompleter{}})
				}
				took := time.Since(began)
				if err == nil {
					cl.Close(context.Background())
					t.Fatalf("connected, want an error mentioning %q", tc.want)
				}
				if !strings.Contains(strings.ToLower(err.Error()), tc.want) {
					t.Errorf("error = %v, want one mentioning %q", err, tc.want)
				}
				if took > 30*time.Second {
					t.Errorf("took %v to fail, want under 30s", took)
				}
				t.Logf("failed in %v: %v", took.Round(time.Millisecond), err)
			})
		}
	}
}

type nopCompleter struct{}

func (nopCompleter) Complete([]*producer.Record, int64) {}

// writeOtherCA writes a CA certificate that signed nothing the broker
// has, as a PEM file.
func writeOtherCA(t *testing.T) string {
	t.Helper()
	ca := testcert.MustCA(t, t.TempDir(), "other-ca")
	return ca.CertFile
}
