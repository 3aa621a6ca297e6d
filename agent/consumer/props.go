package consumer

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kperf/kperf/internal/props"
)

// Settings are consumer settings by their Java client meanings. Use Parse,
// which fills defaults.
type Settings struct {
	// FetchMinBytes is fetch.min.bytes; default 1.
	FetchMinBytes int32
	// FetchMaxBytes is fetch.max.bytes; default 52428800.
	FetchMaxBytes int32
	// PartitionFetchBytes is max.partition.fetch.bytes; default 1048576.
	PartitionFetchBytes int32
	// MaxWait is fetch.max.wait.ms; default 500 ms.
	MaxWait time.Duration
	// MaxPollRecords is max.poll.records; default 500.
	MaxPollRecords int
	// Earliest is auto.offset.reset=earliest; default latest.
	Earliest bool
	// ClientID is client.id; default "kperf-consumer".
	ClientID string
	// SessionTimeout is session.timeout.ms; default 45 s.
	SessionTimeout time.Duration
	// Heartbeat is heartbeat.interval.ms; default 3 s.
	Heartbeat time.Duration
	// AutoCommitInterval is auto.commit.interval.ms; default 5 s.
	AutoCommitInterval time.Duration
	// ReadCommitted is isolation.level=read_committed; default
	// read_uncommitted.
	ReadCommitted bool
	// Security is security.protocol with its sasl.* and ssl.* properties,
	// as the producers take them; default PLAINTEXT.
	Security props.Security
}

// Defaults returns the settings of properties that are not given.
func Defaults() Settings {
	return Settings{
		FetchMinBytes:       1,
		FetchMaxBytes:       52428800,
		PartitionFetchBytes: 1 << 20,
		MaxWait:             500 * time.Millisecond,
		MaxPollRecords:      500,
		ClientID:            "kperf-consumer",
		SessionTimeout:      45 * time.Second,
		Heartbeat:           3 * time.Second,
		AutoCommitInterval:  5 * time.Second,
	}
}

// Known lists the property names Parse accepts.
func Known() []string {
	return []string{"auto.commit.interval.ms", "auto.offset.reset", "bootstrap.servers", "check.crcs", "client.id",
		"fetch.max.bytes", "fetch.max.wait.ms", "fetch.min.bytes", "group.id", "heartbeat.interval.ms",
		"isolation.level", "max.partition.fetch.bytes", "max.poll.records", "receive.buffer.bytes", "session.timeout.ms"}
}

// Parse reads Java-named consumer properties, starting from Defaults.
// bootstrap.servers and group.id are accepted and ignored (the plan carries
// them), as are receive.buffer.bytes and check.crcs, which kperf's drivers
// do not expose. The security properties (security.protocol, sasl.*,
// ssl.*) are read as the producers read them. An unknown name or a bad
// value is an error naming it (secret values are not shown).
func Parse(m map[string]string) (Settings, error) {
	s := Defaults()
	keys := make([]string, 0, len(m))
	sec := map[string]string{}
	for k, v := range m {
		if props.IsSecurityKey(k) {
			sec[k] = v
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := s.set(k, strings.TrimSpace(m[k])); err != nil {
			return Settings{}, fmt.Errorf("consumer property %s=%q: %w", k, m[k], err)
		}
	}
	var err error
	if s.Security, err = props.ParseSecurity(sec); err != nil {
		return Settings{}, errors.New(strings.Replace(err.Error(), "producer property", "consumer property", 1))
	}
	if s.Heartbeat >= s.SessionTimeout {
		return Settings{}, fmt.Errorf("consumer property heartbeat.interval.ms (%v) must be below session.timeout.ms (%v)", s.Heartbeat, s.SessionTimeout)
	}
	return s, nil
}

func (s *Settings) set(k, v string) error {
	var err error
	var n int
	ms := func(lo, hi int) time.Duration {
		n, err = props.IntIn(v, lo, hi)
		return time.Duration(n) * time.Millisecond
	}
	switch k {
	case "fetch.min.bytes":
		n, err = props.IntIn(v, 1, 1<<30)
		s.FetchMinBytes = int32(n)
	case "fetch.max.bytes":
		n, err = props.IntIn(v, 1024, 1<<30)
		s.FetchMaxBytes = int32(n)
	case "max.partition.fetch.bytes":
		n, err = props.IntIn(v, 1, 1<<30)
		s.PartitionFetchBytes = int32(n)
	case "fetch.max.wait.ms":
		s.MaxWait = ms(0, 60_000)
	case "max.poll.records":
		s.MaxPollRecords, err = props.IntIn(v, 1, 1<<20)
	case "auto.offset.reset":
		switch v {
		case "earliest":
			s.Earliest = true
		case "latest":
			s.Earliest = false
		default:
			return fmt.Errorf("want earliest or latest")
		}
	case "client.id":
		if v == "" {
			return fmt.Errorf("must not be empty")
		}
		s.ClientID = v
	case "session.timeout.ms":
		s.SessionTimeout = ms(1000, 3_600_000)
	case "heartbeat.interval.ms":
		s.Heartbeat = ms(100, 3_600_000)
	case "auto.commit.interval.ms":
		s.AutoCommitInterval = ms(10, 3_600_000)
	case "isolation.level":
		switch v {
		case "read_committed":
			s.ReadCommitted = true
		case "read_uncommitted":
			s.ReadCommitted = false
		default:
			return fmt.Errorf("want read_committed or read_uncommitted")
		}
	case "bootstrap.servers", "group.id", "receive.buffer.bytes", "check.crcs":
	default:
		return fmt.Errorf("unknown property (supported: %s, and security.protocol, sasl.*, ssl.*)", strings.Join(Known(), ", "))
	}
	return err
}
