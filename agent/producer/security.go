package producer

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kperf/kperf/internal/props"
)

// FranzSecurityOpts maps security settings onto kgo options: a TLS dialer
// and a SASL mechanism. It reads the PEM files the settings name.
func FranzSecurityOpts(s props.Security) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	tc, err := s.TLSConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if s.SASL() {
		opts = append(opts, kgo.SASL(saslMechanism(s)))
	}
	return opts, nil
}

// saslMechanism returns franz's mechanism for the settings, which must use
// SASL.
func saslMechanism(s props.Security) sasl.Mechanism {
	user, pass := s.Username, string(s.Password)
	switch s.Mechanism {
	case props.MechanismSCRAMSHA256:
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	case props.MechanismSCRAMSHA512:
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	default:
		return plain.Auth{User: user, Pass: pass}.AsMechanism()
	}
}

// saramaSecurity applies security settings to a sarama config. It reads
// the PEM files the settings name.
func saramaSecurity(cfg *sarama.Config, s props.Security) error {
	tc, err := s.TLSConfig()
	if err != nil {
		return err
	}
	if tc != nil {
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = tc
	}
	if !s.SASL() {
		return nil
	}
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.User = s.Username
	cfg.Net.SASL.Password = string(s.Password)
	switch s.Mechanism {
	case props.MechanismPlain:
		cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case props.MechanismSCRAMSHA256, props.MechanismSCRAMSHA512:
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		if s.Mechanism == props.MechanismSCRAMSHA512 {
			cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		}
		mech := s.Mechanism
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{mechanism: mech} }
	default:
		return fmt.Errorf("producer property sasl.mechanism=%s: not supported", s.Mechanism)
	}
	return nil
}

// saramaSCRAM is sarama's SCRAM client, doing the exchange with franz-go's
// SCRAM implementation. sarama makes one per authentication.
type saramaSCRAM struct {
	mechanism string
	session   sasl.Session
	first     []byte // the client-first message, returned by the first Step
	done      bool
}

// Begin starts the exchange.
func (c *saramaSCRAM) Begin(user, password, authzID string) error {
	a := scram.Auth{User: user, Pass: password, Zid: authzID}
	m := a.AsSha256Mechanism()
	if c.mechanism == props.MechanismSCRAMSHA512 {
		m = a.AsSha512Mechanism()
	}
	var err error
	c.session, c.first, err = m.Authenticate(context.Background(), "")
	return err
}

// Step returns the client-first message for the empty first challenge,
// then answers the server's messages.
func (c *saramaSCRAM) Step(challenge string) (string, error) {
	if c.first != nil {
		msg := c.first
		c.first = nil
		return string(msg), nil
	}
	done, msg, err := c.session.Challenge([]byte(challenge))
	if err != nil {
		return "", fmt.Errorf("scram: %w", err)
	}
	c.done = done
	return string(msg), nil
}

// Done reports whether the server's final message was verified.
func (c *saramaSCRAM) Done() bool { return c.done }
