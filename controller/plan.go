package controller

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/internal/props"
)

// LoadPlan reads a plan file, YAML or JSON, strictly: an unknown key is an
// error naming it.
func LoadPlan(path string) (*kperfv1.TestPlan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	p, err := ParsePlan(b)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", filepath.Base(path), err)
	}
	return p, nil
}

var validTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// ParsePlan decodes a YAML or JSON plan strictly.
func ParsePlan(b []byte) (*kperfv1.TestPlan, error) {
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %w", err)
	}
	p := &kperfv1.TestPlan{}
	if len(bytes.TrimSpace(js)) == 0 || string(bytes.TrimSpace(js)) == "null" {
		return p, nil
	}
	if err := protojson.Unmarshal(js, p); err != nil {
		if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("unknown key %q", m[1])
		}
		msg := err.Error()
		msg = strings.TrimPrefix(strings.ReplaceAll(msg, "\u00a0", " "), "proto: ")
		return nil, errors.New(msg)
	}
	return p, nil
}

// Plan is a validated test plan with defaults applied and values parsed.
type Plan struct {
	// Spec is the plan with every default filled in.
	Spec            *kperfv1.TestPlan
	Duration        time.Duration // 0: until NumRecords are done
	Interval        time.Duration
	LeaseTimeout    time.Duration
	Producer        props.Producer
	BootstrapServer []string
}

// Unlimited reports whether the plan sends as fast as it can.
func (p *Plan) Unlimited() bool { return p.RatePerSec() <= 0 }

// RatePerSec returns the effective target rate over all agents in records
// per second: the lower of throughput and throughput_bytes/record_size; -1
// when unlimited.
func (p *Plan) RatePerSec() float64 {
	r := p.Spec.GetThroughput()
	if b := p.Spec.GetThroughputBytes(); b > 0 {
		byBytes := b / float64(p.Spec.GetRecordSize())
		if r <= 0 || byBytes < r {
			r = byBytes
		}
	}
	return r
}

// Resolve applies defaults to a copy of spec and validates it. Errors name
// the plan key.
func Resolve(spec *kperfv1.TestPlan) (*Plan, error) {
	s := proto.Clone(spec).(*kperfv1.TestPlan)
	setDefaults(s)
	p := &Plan{Spec: s}
	var err error
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("plan key %s: %s", key, fmt.Sprintf(format, args...)))
	}
	if t := s.GetTopic(); !validTopic.MatchString(t) || t == "." || t == ".." {
		bad("topic", "%q is not a valid Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)", t)
	}
	if n := s.GetNumRecords(); n < 0 {
		bad("num_records", "%d is negative", n)
	}
	if n := s.GetRecordSize(); n < 1 {
		bad("record_size", "%d: must be at least 1 byte", n)
	}
	if t := s.GetThroughput(); !(t > 0 || t == -1) {
		bad("throughput", "%v: use a positive rate in records/s, or -1 for unlimited", t)
	}
	if s.ThroughputBytes != nil && !(s.GetThroughputBytes() > 0) {
		bad("throughput_bytes", "%v: must be a positive rate in bytes/s", s.GetThroughputBytes())
	}
	if s.GetDuration() != "" {
		if p.Duration, err = time.ParseDuration(s.GetDuration()); err != nil || p.Duration <= 0 {
			bad("duration", "%q: want a positive Go duration such as 30s or 5m", s.GetDuration())
		}
	}
	if p.Interval, err = time.ParseDuration(s.GetInterval()); err != nil || p.Interval < 100*time.Millisecond {
		bad("interval", "%q: want a Go duration of at least 100ms", s.GetInterval())
	}
	if p.LeaseTimeout, err = time.ParseDuration(s.GetLeaseTimeout()); err != nil || p.LeaseTimeout < time.Second {
		bad("lease_timeout", "%q: want a Go duration of at least 1s", s.GetLeaseTimeout())
	}
	if n := s.GetPartitions(); n < 1 {
		bad("partitions", "%d: must be at least 1", n)
	}
	if n := s.GetReplicationFactor(); n < 1 {
		bad("replication_factor", "%d: must be at least 1", n)
	}
	if n := s.GetWorkers(); n < 1 || n > 1024 {
		bad("workers", "%d: want 1..1024 per agent", n)
	}
	if n := s.GetAgentCount(); n < 0 {
		bad("agent_count", "%d is negative", n)
	}
	if j := s.GetJitter(); j < 0 || j > 1 {
		bad("jitter", "%v: want a fraction in 0..1", j)
	}
	if d := s.GetDriver(); d != "sarama" && d != "franz" {
		bad("driver", "%q: supported drivers are sarama, franz", d)
	}
	if p.Producer, err = props.Parse(s.GetProducerProps()); err != nil {
		errs = append(errs, fmt.Errorf("plan key producer_props: %w", err))
	} else if int(s.GetRecordSize()) > p.Producer.MaxRequestBytes && s.GetPayloadFile() == "" {
		bad("record_size", "%d is larger than producer property max.request.size %d", s.GetRecordSize(), p.Producer.MaxRequestBytes)
	}
	for _, b := range strings.Split(s.GetBootstrapServers(), ",") {
		if b = strings.TrimSpace(b); b != "" {
			p.BootstrapServer = append(p.BootstrapServer, b)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// Default values of a plan.
const (
	DefaultTopic        = "kperf-test"
	DefaultRecordSize   = 100
	DefaultThroughput   = 5000
	DefaultDuration     = "5s"
	DefaultPartitions   = 6
	DefaultInterval     = "1s"
	DefaultLeaseTimeout = "10s"
)

func setDefaults(s *kperfv1.TestPlan) {
	if s.Topic == "" {
		s.Topic = DefaultTopic
	}
	if s.RecordSize == nil {
		s.RecordSize = proto.Int32(DefaultRecordSize)
	}
	if s.Throughput == nil {
		if s.ThroughputBytes != nil {
			s.Throughput = proto.Float64(-1)
		} else {
			s.Throughput = proto.Float64(DefaultThroughput)
		}
	}
	if s.Duration == "" && s.GetNumRecords() == 0 {
		s.Duration = DefaultDuration
	}
	if s.NumRecords == nil {
		s.NumRecords = proto.Int64(0)
	}
	if s.PayloadDelimiter == "" {
		s.PayloadDelimiter = "\n"
	}
	if s.BootstrapServers == "" {
		s.BootstrapServers = s.GetProducerProps()["bootstrap.servers"]
	}
	if s.Partitions == nil {
		s.Partitions = proto.Int32(DefaultPartitions)
	}
	if s.ReplicationFactor == nil {
		s.ReplicationFactor = proto.Int32(1)
	}
	if s.Workers == nil {
		s.Workers = proto.Int32(1)
	}
	if s.AgentCount == nil {
		s.AgentCount = proto.Int32(0)
	}
	if s.Driver == "" {
		s.Driver = "sarama"
	}
	if s.Interval == "" {
		s.Interval = DefaultInterval
	}
	if s.Jitter == nil {
		s.Jitter = proto.Float64(0)
	}
	if s.Seed == nil {
		s.Seed = proto.Int64(1)
	}
	if s.LeaseTimeout == "" {
		s.LeaseTimeout = DefaultLeaseTimeout
	}
}

// ReadPayloads reads a payload file split by delim, like the Java tool's
// --payload-file: empty records are skipped; no records is an error.
func ReadPayloads(path, delim string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plan key payload_file: %w", err)
	}
	var out [][]byte
	for _, r := range bytes.Split(b, []byte(delim)) {
		if len(r) > 0 {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("plan key payload_file: %s holds no records", path)
	}
	return out, nil
}
