package controller

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/internal/props"
)

// PlanError is a plan that cannot run as written: an unknown key, a value
// out of range, a split that cannot be made. Its message names the key.
type PlanError struct{ Err error }

func (e *PlanError) Error() string { return e.Err.Error() }
func (e *PlanError) Unwrap() error { return e.Err }

// LoadPlan reads a plan file, YAML or JSON, strictly: an unknown key is an
// error naming it.
func LoadPlan(path string) (*kperfv1.TestPlan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &PlanError{fmt.Errorf("read plan: %w", err)}
	}
	p, err := ParsePlan(b)
	if err != nil {
		return nil, &PlanError{fmt.Errorf("plan %s: %w", filepath.Base(path), err)}
	}
	return p, nil
}

var validTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// ParsePlan decodes a YAML or JSON plan strictly. Scalars under
// producer_props and topic_configs may be written unquoted (acks: 1).
func ParsePlan(b []byte) (*kperfv1.TestPlan, error) {
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %w", err)
	}
	p := &kperfv1.TestPlan{}
	if t := bytes.TrimSpace(js); len(t) == 0 || string(t) == "null" {
		return p, nil
	}
	if js, err = stringifyMaps(js); err != nil {
		return nil, err
	}
	if err := protojson.Unmarshal(js, p); err != nil {
		return nil, errors.New(planKeyError(err))
	}
	return p, nil
}

// stringifyMaps turns scalar values of the plan's string maps into
// strings, so YAML's "linger.ms: 5" reads as the string "5".
func stringifyMaps(js []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil {
		return nil, errors.New("a plan is a mapping of keys to values")
	}
	fields := (&kperfv1.TestPlan{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !fd.IsMap() {
			continue
		}
		for _, key := range []string{string(fd.Name()), fd.JSONName()} {
			v, ok := top[key]
			if !ok {
				continue
			}
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("plan key %s: want a mapping of names to values", fd.Name())
			}
			for k, val := range m {
				str, ok := scalarString(val)
				if !ok {
					return nil, fmt.Errorf("plan key %s.%s: want a single value", fd.Name(), k)
				}
				m[k] = str
			}
		}
	}
	// Sweep values are strings too: "values: [1, 2]" means "1", "2".
	if sw, ok := top["sweep"].(map[string]any); ok {
		if axes, ok := sw["axes"].([]any); ok {
			for _, ax := range axes {
				if a, ok := ax.(map[string]any); ok {
					if vals, ok := a["values"].([]any); ok {
						for i, v := range vals {
							str, ok := scalarString(v)
							if !ok {
								return nil, fmt.Errorf("plan key sweep: axis %v: want single values", a["key"])
							}
							vals[i] = str
						}
					}
				}
			}
		}
	}
	return json.Marshal(top)
}

// scalarString returns a JSON scalar as the string a YAML author meant.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

var (
	protoFieldName = regexp.MustCompile(`field "?([A-Za-z0-9_]+)"?`)
	jsonPosition   = regexp.MustCompile(`\(line \d+:\d+\): `)
)

// planKeyError rewrites a protojson error in terms of plan keys: field
// names as the plan writes them, no positions in the intermediate JSON.
func planKeyError(err error) string {
	msg := strings.ReplaceAll(err.Error(), "\u00a0", " ")
	msg = strings.TrimPrefix(msg, "proto: ")
	msg = jsonPosition.ReplaceAllString(msg, "")
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown key %q", m[1])
	}
	fields := (&kperfv1.TestPlan{}).ProtoReflect().Descriptor().Fields()
	return protoFieldName.ReplaceAllStringFunc(msg, func(f string) string {
		name := protoFieldName.FindStringSubmatch(f)[1]
		for i := range fields.Len() {
			if fd := fields.Get(i); fd.JSONName() == name || string(fd.Name()) == name {
				return "plan key " + string(fd.Name())
			}
		}
		return f
	})
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
	// ValueBytes is the mean record value size: record_size, or the mean
	// size of the payload file's records once SetPayloads has run.
	ValueBytes float64
}

// SetPayloads makes the plan's byte rates use the sizes of payloads.
func (p *Plan) SetPayloads(payloads [][]byte) {
	if len(payloads) == 0 {
		return
	}
	var total int
	for _, b := range payloads {
		total += len(b)
	}
	p.ValueBytes = float64(total) / float64(len(payloads))
}

// PlannedLength returns how long the plan should produce: its duration, or
// for a paced record count the count over the rate; 0 when unknown.
func (p *Plan) PlannedLength() time.Duration {
	length := p.Duration
	if n, r := p.Spec.GetNumRecords(), p.RatePerSec(); n > 0 && r > 0 {
		byCount := time.Duration(float64(n) / r * float64(time.Second))
		if length == 0 || byCount < length {
			length = byCount
		}
	}
	return length
}

// Unlimited reports whether the plan sends as fast as it can.
func (p *Plan) Unlimited() bool { return p.RatePerSec() <= 0 }

// RatePerSec returns the effective target rate over all agents in records
// per second: the lower of throughput and throughput_bytes/record_size; -1
// when unlimited.
func (p *Plan) RatePerSec() float64 {
	r := p.Spec.GetThroughput()
	if b := p.Spec.GetThroughputBytes(); b > 0 {
		byBytes := b / p.ValueBytes
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
	p := &Plan{Spec: s, ValueBytes: float64(s.GetRecordSize())}
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
	if t := s.GetThroughput(); !(t > 0 && t <= MaxRate || t == -1) {
		bad("throughput", "%v: use a rate in records/s up to %g, or -1 for unlimited", t, float64(MaxRate))
	}
	if s.ThroughputBytes != nil && !(s.GetThroughputBytes() > 0 && s.GetThroughputBytes() <= 1e15) {
		bad("throughput_bytes", "%v: must be a positive rate in bytes/s up to 1e15", s.GetThroughputBytes())
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
	} else if p.Interval > 0 && p.LeaseTimeout < 2*p.Interval {
		bad("lease_timeout", "%v: must be at least twice interval %v (agents report once per interval)", p.LeaseTimeout, p.Interval)
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
		return nil, &PlanError{err}
	}
	return p, nil
}

// MaxRate is the highest target rate in records per second a plan may ask
// for (far beyond any cluster, and exact in the split's integer units).
const MaxRate = 1e10

// Default values of a plan.
const (
	DefaultTopic        = "kperf-test"
	DefaultRecordSize   = 100
	DefaultThroughput   = 5000
	DefaultDuration     = "5s"
	DefaultPartitions   = 6
	DefaultInterval     = "1s"
	DefaultLeaseTimeout = "5s" // or twice the interval, when longer
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
		// Agents report once per interval: a long interval needs a longer
		// lease than the default.
		if iv, err := time.ParseDuration(s.GetInterval()); err == nil && 2*iv > 5*time.Second {
			s.LeaseTimeout = (2 * iv).String()
		}
	}
}

// ReadPayloads reads a payload file split by delim, like the Java tool's
// --payload-file: empty records are skipped; no records is an error.
func ReadPayloads(path, delim string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &PlanError{fmt.Errorf("plan key payload_file: %w", err)}
	}
	var out [][]byte
	for _, r := range bytes.Split(b, []byte(delim)) {
		if len(r) > 0 {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, &PlanError{fmt.Errorf("plan key payload_file: %s holds no records", path)}
	}
	return out, nil
}
