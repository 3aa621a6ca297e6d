// Package props reads Kafka producer properties by their Java client names
// (as kafka-producer-perf-test's --producer-props takes them) into typed
// settings that every kperf driver maps onto its own client.
package props

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Acks is the producer's acknowledgement level.
type Acks int

// Acknowledgement levels, as Kafka's acks=0, 1 and all (-1).
const (
	AcksNone   Acks = 0
	AcksLeader Acks = 1
	AcksAll    Acks = -1
)

// String returns the Java property value.
func (a Acks) String() string {
	if a == AcksAll {
		return "all"
	}
	return strconv.Itoa(int(a))
}

// Producer holds producer settings. Zero values are never valid settings:
// use Parse, which fills defaults.
type Producer struct {
	// Acks is acks; default all (the Java client's default since Kafka 3.0).
	Acks Acks
	// BatchBytes is batch.size in bytes; default 16384. kperf's sticky
	// partitioner fills one partition with this many bytes before moving on,
	// and drivers flush a broker's pending records at this size.
	BatchBytes int
	// Linger is linger.ms; default 5 ms (the Java default since Kafka 4.0).
	Linger time.Duration
	// Compression is compression.type: none, gzip, snappy, lz4 or zstd.
	Compression string
	// Idempotent is enable.idempotence; default false.
	Idempotent bool
	// MaxInFlight is max.in.flight.requests.per.connection; default 5.
	MaxInFlight int
	// Retries is retries; default 3.
	Retries int
	// BufferBytes is buffer.memory, the record bytes one worker may have
	// outstanding; default 32 MiB. Sends block when it is full.
	BufferBytes int64
	// MaxRequestBytes is max.request.size; default 1048576.
	MaxRequestBytes int
	// RequestTimeout is request.timeout.ms; default 30 s.
	RequestTimeout time.Duration
	// ClientID is client.id; default "kperf".
	ClientID string
	// Security is security.protocol with its sasl.* and ssl.* properties;
	// default PLAINTEXT.
	Security Security
	// Ignored are the given properties that kperf accepts and does not
	// apply (see IgnoredWhy), sorted.
	Ignored []string
}

// ignored are Java producer properties that tune the Java client's own
// machinery: configs pasted from Java clients carry them, kperf accepts
// them and says it does not apply them.
var ignored = map[string]string{
	"key.serializer":                           "kperf sends byte arrays",
	"value.serializer":                         "kperf sends byte arrays",
	"partitioner.class":                        "kperf's sticky partitioner fills batch.size per partition",
	"partitioner.ignore.keys":                  "kperf's records have no keys",
	"partitioner.adaptive.partitioning.enable": "kperf's sticky partitioner fills batch.size per partition",
	"partitioner.availability.timeout.ms":      "kperf's sticky partitioner fills batch.size per partition",
	"max.block.ms":                             "a kperf send waits only for buffer space, and that wait is measured as send delay",
	"delivery.timeout.ms":                      "kperf bounds delivery with request.timeout.ms and retries",
	"metadata.max.age.ms":                      "the Go clients refresh metadata on their own schedule",
	"metadata.max.idle.ms":                     "the Go clients refresh metadata on their own schedule",
	"retry.backoff.ms":                         "the Go clients use their own backoff",
	"retry.backoff.max.ms":                     "the Go clients use their own backoff",
	"reconnect.backoff.ms":                     "the Go clients use their own backoff",
	"reconnect.backoff.max.ms":                 "the Go clients use their own backoff",
	"socket.connection.setup.timeout.ms":       "the Go clients use their own dial timeout",
	"socket.connection.setup.timeout.max.ms":   "the Go clients use their own dial timeout",
	"connections.max.idle.ms":                  "the Go clients keep connections for the run",
	"send.buffer.bytes":                        "the operating system's socket buffer sizes apply",
	"receive.buffer.bytes":                     "the operating system's socket buffer sizes apply",
	"client.dns.lookup":                        "the Go resolver uses every address of a name",
	"metrics.sample.window.ms":                 "kperf measures with its own histograms",
	"metrics.num.samples":                      "kperf measures with its own histograms",
	"metrics.recording.level":                  "kperf measures with its own histograms",
	"metric.reporters":                         "kperf measures with its own histograms",
	"auto.include.jmx.reporter":                "kperf measures with its own histograms",
	"enable.metrics.push":                      "kperf measures with its own histograms",
	"ssl.protocol":                             "Go negotiates TLS 1.2 or 1.3",
	"ssl.enabled.protocols":                    "Go negotiates TLS 1.2 or 1.3",
}

// IgnoredWhy says why kperf does not apply an ignored property, or "" for
// a property it applies or refuses.
func IgnoredWhy(name string) string { return ignored[name] }

// Defaults returns the settings used for properties that are not given.
func Defaults() Producer {
	return Producer{
		Acks:            AcksAll,
		BatchBytes:      16384,
		Linger:          5 * time.Millisecond,
		Compression:     "none",
		MaxInFlight:     5,
		Retries:         3,
		BufferBytes:     32 << 20,
		MaxRequestBytes: 1 << 20,
		RequestTimeout:  30 * time.Second,
		ClientID:        "kperf",
		Security:        Security{Protocol: ProtocolPlaintext, VerifyHostname: true},
	}
}

// Compressions lists the accepted compression.type values.
var compressions = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// Known lists the property names Parse accepts.
func Known() []string {
	known := []string{"acks", "batch.size", "bootstrap.servers", "buffer.memory", "client.id", "compression.type",
		"enable.idempotence", "linger.ms", "max.in.flight.requests.per.connection", "max.request.size",
		"request.timeout.ms", "retries"}
	known = append(known, securityKeys...)
	slices.Sort(known)
	return known
}

// Parse reads Java-named producer properties into settings, starting from
// Defaults. bootstrap.servers is accepted and ignored here (the plan carries
// it). An unknown name, a bad value or properties that do not fit together
// are an error naming the property; errors never show the values of
// secrets (IsSecret).
func Parse(m map[string]string) (Producer, error) {
	p := Defaults()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	sec := map[string]string{}
	for _, k := range keys {
		if isSecurityKey(k) {
			sec[k] = m[k]
			continue
		}
		if _, ok := ignored[k]; ok {
			p.Ignored = append(p.Ignored, k)
			continue
		}
		if !slices.Contains(Known(), k) {
			// Without its value: a mangled sasl.jaas.config can split into
			// an unknown name and a value holding the password.
			return Producer{}, fmt.Errorf("producer property %s: unknown property (supported: %s)", k, strings.Join(Known(), ", "))
		}
		if err := p.set(k, strings.TrimSpace(m[k])); err != nil {
			return Producer{}, propError(k, m[k], err)
		}
	}
	var err error
	if p.Security, err = parseSecurity(sec); err != nil {
		return Producer{}, err
	}
	if p.Idempotent && p.Acks != AcksAll {
		return Producer{}, fmt.Errorf("producer property enable.idempotence=true needs acks=all, got acks=%s", p.Acks)
	}
	if p.Idempotent && p.Retries < 1 {
		return Producer{}, fmt.Errorf("producer property enable.idempotence=true needs retries >= 1, got %d", p.Retries)
	}
	return p, nil
}

func (p *Producer) set(k, v string) error {
	var err error
	switch k {
	case "acks":
		switch v {
		case "0":
			p.Acks = AcksNone
		case "1":
			p.Acks = AcksLeader
		case "all", "-1":
			p.Acks = AcksAll
		default:
			return fmt.Errorf("want 0, 1, all or -1")
		}
	case "batch.size":
		p.BatchBytes, err = IntIn(v, 1, 1<<30)
	case "linger.ms":
		var ms int
		ms, err = IntIn(v, 0, 60_000)
		p.Linger = time.Duration(ms) * time.Millisecond
	case "compression.type":
		if !slices.Contains(compressions, v) {
			return fmt.Errorf("want one of %s", strings.Join(compressions, ", "))
		}
		p.Compression = v
	case "enable.idempotence":
		p.Idempotent, err = strconv.ParseBool(v)
	case "max.in.flight.requests.per.connection":
		p.MaxInFlight, err = IntIn(v, 1, 1000)
	case "retries":
		p.Retries, err = IntIn(v, 0, 1<<31-1)
	case "buffer.memory":
		var n int
		n, err = IntIn(v, 1024, 1<<40)
		p.BufferBytes = int64(n)
	case "max.request.size":
		p.MaxRequestBytes, err = IntIn(v, 1, 1<<30)
	case "request.timeout.ms":
		var ms int
		ms, err = IntIn(v, 1, 3_600_000)
		p.RequestTimeout = time.Duration(ms) * time.Millisecond
	case "client.id":
		if v == "" {
			return fmt.Errorf("must not be empty")
		}
		p.ClientID = v
	case "bootstrap.servers":
	}
	return err
}

// IntIn parses the integer value v of a property, which must be in
// lo..hi; the error says which of the two it is not.
func IntIn(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("not an integer")
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("want %d..%d", lo, hi)
	}
	return n, nil
}
