package producer

import (
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/kperf/kperf/internal/props"
)

func TestSecurityMapsOntoBothDrivers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		protocol, mechanism string
		wantSarama          sarama.SASLMechanism
		wantTLS             bool
	}{
		{protocol: "SSL", wantTLS: true},
		{protocol: "SASL_PLAINTEXT", mechanism: "PLAIN", wantSarama: sarama.SASLTypePlaintext},
		{protocol: "SASL_SSL", mechanism: "SCRAM-SHA-256", wantSarama: sarama.SASLTypeSCRAMSHA256, wantTLS: true},
		{protocol: "SASL_SSL", mechanism: "SCRAM-SHA-512", wantSarama: sarama.SASLTypeSCRAMSHA512, wantTLS: true},
	}
	for _, tc := range tests {
		t.Run(tc.protocol+" "+tc.mechanism, func(t *testing.T) {
			t.Parallel()
			m := map[string]string{"security.protocol": tc.protocol}
			if tc.mechanism != "" {
				module := "org.apache.kafka.common.security.scram.ScramLoginModule"
				if tc.mechanism == "PLAIN" {
					module = "org.apache.kafka.common.security.plain.PlainLoginModule"
				}
				m["sasl.mechanism"] = tc.mechanism
				m["sasl.jaas.config"] = module + ` required username="u" password="p";`
			}
			s, err := props.Parse(m)
			if err != nil {
				t.Fatal(err)
			}
			cfg := sarama.NewConfig()
			if err := saramaSecurity(cfg, s.Security); err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("sarama config: %v", err)
			}
			if cfg.Net.TLS.Enable != tc.wantTLS || (cfg.Net.TLS.Config != nil) != tc.wantTLS {
				t.Errorf("sarama TLS enabled %v (config %v), want %v", cfg.Net.TLS.Enable, cfg.Net.TLS.Config != nil, tc.wantTLS)
			}
			if cfg.Net.SASL.Enable != (tc.mechanism != "") || cfg.Net.SASL.Mechanism != tc.wantSarama && tc.mechanism != "" {
				t.Errorf("sarama SASL enabled %v mechanism %q, want %q", cfg.Net.SASL.Enable, cfg.Net.SASL.Mechanism, tc.wantSarama)
			}
			if tc.mechanism != "" && (cfg.Net.SASL.User != "u" || cfg.Net.SASL.Password != "p") {
				t.Errorf("sarama SASL user %q password %q, want u, p", cfg.Net.SASL.User, cfg.Net.SASL.Password)
			}
			opts, err := FranzSecurityOpts(s.Security)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			if tc.wantTLS {
				want++
			}
			if tc.mechanism != "" {
				want++
				if got := saslMechanism(s.Security).Name(); got != tc.mechanism {
					t.Errorf("franz mechanism %q, want %q", got, tc.mechanism)
				}
			}
			if len(opts) != want {
				t.Errorf("franz got %d security options, want %d", len(opts), want)
			}
		})
	}
}

// TestSaramaSCRAMSteps drives sarama's SCRAM client as sarama does against
// a scripted server: client-first for the empty challenge, a client-final
// proof of the mechanism's hash size, and an error, not done, when the
// server's signature is wrong.
func TestSaramaSCRAMSteps(t *testing.T) {
	t.Parallel()
	for mech, proofLen := range map[string]int{props.MechanismSCRAMSHA256: 44, props.MechanismSCRAMSHA512: 88} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			testSaramaSCRAM(t, mech, proofLen)
		})
	}
}

// testSaramaSCRAM runs the exchange for mech; proofLen is the base64
// length of its client proof.
func testSaramaSCRAM(t *testing.T, mech string, proofLen int) {
	c := &saramaSCRAM{mechanism: mech}
	if err := c.Begin("user", "pencil", ""); err != nil {
		t.Fatal(err)
	}
	first, err := c.Step("")
	if err != nil || len(first) < 10 || first[:10] != "n,,n=user," {
		t.Fatalf("Step(\"\") = %q, %v; want a client-first message for user", first, err)
	}
	if c.Done() {
		t.Fatal("Done() after the first message")
	}
	nonce := first[len("n,,n=user,r="):]
	final, err := c.Step("r=" + nonce + "server,s=c2FsdA==,i=4096")
	if err != nil || len(final) < 2 || final[:2] != "c=" {
		t.Fatalf("Step(server-first) = %q, %v; want a client-final message", final, err)
	}
	if i := strings.LastIndex(final, ",p="); i < 0 || len(final)-i-3 != proofLen {
		t.Errorf("client-final %q: want a proof of %d base64 characters (%s)", final, proofLen, mech)
	}
	if c.Done() {
		t.Fatal("Done() before the server's final message")
	}
	if _, err := c.Step("v=bm90IHRoZSBzaWduYXR1cmU="); err == nil || c.Done() {
		t.Errorf("Step(wrong server signature) = %v, done %v; want an error, not done", err, c.Done())
	}
}
