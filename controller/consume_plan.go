package controller

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kperf/kperf/agent/consumer"
	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/internal/props"
)

// Consume is a plan's resolved consumer section.
type Consume struct {
	// Workers per agent.
	Workers int
	// GroupID is the plan's group id; "" means one made from the run id.
	GroupID string
	// Props are the consumer properties by Java names, the section's keys
	// written over consumer_props.
	Props        map[string]string
	Settings     consumer.Settings
	StartDelay   time.Duration
	IdleTimeout  time.Duration
	NumRecords   int64
	BacklogRecs  int64
	BacklogBytes int64
}

// Backlog reports whether the plan is a backlog test.
func (c *Consume) Backlog() bool { return c != nil && (c.BacklogRecs > 0 || c.BacklogBytes > 0) }

// Default values of a plan's consumer section.
const (
	DefaultConsumerIdleTimeout = "3s"
	DefaultConsumerFrom        = "latest"
)

// consumerUsage is the flag help of the consumer section's keys.
var consumerUsage = map[string]string{
	"workers":          "consumer workers per agent, all in one group (0: no consumers; default 1 when any --consumer-* flag is given)",
	"group_id":         "consumer group id, the same on every agent (default kperf-<run id>)",
	"fetch_min_bytes":  "fetch.min.bytes of the consumers (default 1)",
	"fetch_max_bytes":  "fetch.max.bytes of the consumers (default 52428800)",
	"max_wait":         "fetch.max.wait.ms of the consumers as a duration (default 500ms)",
	"max_poll_records": "max.poll.records of the consumers (default 500)",
	"from":             "where a group without offsets starts: latest (default) or earliest",
	"consumer_props":   "consumer properties k=v ... by Java names (max.partition.fetch.bytes, session.timeout.ms, ...)",
	"start_delay":      "consumers start consuming this long after the start (default 0)",
	"num_records":      "records to consume over all agents; 0: until the producers are done and the consumers are idle",
	"idle_timeout":     "consumers stop after this long without records once the producers are done (default " + DefaultConsumerIdleTimeout + ")",
	"backlog_records":  "backlog test: consumers wait until this many records are produced, then drain while producers go on",
	"backlog_bytes":    "backlog test by size: a backlog of this many value bytes",
}

// subFlagName is the flag of a key of a nested plan section: "consumer-"
// plus the key, without repeating the section's name.
func subFlagName(section, key string) string {
	return FlagName(section + "_" + strings.TrimPrefix(key, section+"_"))
}

func consumerDefaults(s *kperfv1.TestPlan) {
	c := s.GetConsumer()
	if c == nil {
		return
	}
	if c.Workers == nil {
		c.Workers = proto.Int32(1)
	}
	if c.From == "" {
		c.From = DefaultConsumerFrom
	}
	if c.IdleTimeout == "" {
		c.IdleTimeout = DefaultConsumerIdleTimeout
	}
}

// resolveConsumer validates the consumer section into p.Consume; errors
// name the plan key (consumer.key).
func resolveConsumer(p *Plan) []error {
	c := p.Spec.GetConsumer()
	if c == nil || c.GetWorkers() == 0 {
		return nil
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("plan key consumer.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	r := &Consume{Workers: int(c.GetWorkers()), GroupID: c.GetGroupId(), NumRecords: c.GetNumRecords(),
		BacklogRecs: c.GetBacklogRecords(), BacklogBytes: c.GetBacklogBytes(), Props: map[string]string{}}
	if n := c.GetWorkers(); n < 0 || n > 1024 {
		bad("workers", "%d: want 0..1024 per agent", n)
	}
	if g := c.GetGroupId(); g != "" && strings.TrimSpace(g) != g {
		bad("group_id", "%q has surrounding spaces", g)
	}
	dur := func(key, v string, min time.Duration) time.Duration {
		if v == "" {
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < min {
			bad(key, "%q: want a Go duration of at least %v", v, min)
		}
		return d
	}
	r.StartDelay = dur("start_delay", c.GetStartDelay(), 0)
	r.IdleTimeout = dur("idle_timeout", c.GetIdleTimeout(), 100*time.Millisecond)
	ownSecurity := false
	for k, v := range c.GetConsumerProps() {
		r.Props[k] = v
		ownSecurity = ownSecurity || props.IsSecurityKey(k)
	}
	if !ownSecurity {
		// The consumers reach the cluster as the producers do.
		for k, v := range p.Spec.GetProducerProps() {
			if props.IsSecurityKey(k) {
				r.Props[k] = v
			}
		}
	}
	if c.MaxWait != "" {
		if d := dur("max_wait", c.GetMaxWait(), 0); d >= 0 {
			r.Props["fetch.max.wait.ms"] = strconv.FormatInt(d.Milliseconds(), 10)
		}
	}
	if c.FetchMinBytes != nil {
		r.Props["fetch.min.bytes"] = strconv.Itoa(int(c.GetFetchMinBytes()))
	}
	if c.FetchMaxBytes != nil {
		r.Props["fetch.max.bytes"] = strconv.Itoa(int(c.GetFetchMaxBytes()))
	}
	if c.MaxPollRecords != nil {
		r.Props["max.poll.records"] = strconv.Itoa(int(c.GetMaxPollRecords()))
	}
	switch f := c.GetFrom(); f {
	case "latest", "earliest":
		r.Props["auto.offset.reset"] = f
	default:
		bad("from", "%q: want latest or earliest", f)
	}
	var err error
	if r.Settings, err = consumer.Parse(r.Props); err != nil {
		errs = append(errs, fmt.Errorf("plan key consumer.%s: %w", badConsumerKey(c, r.Props), err))
	}
	if n := c.GetNumRecords(); n < 0 {
		bad("num_records", "%d is negative", n)
	}
	if n := c.GetBacklogRecords(); n < 0 {
		bad("backlog_records", "%d is negative", n)
	}
	if n := c.GetBacklogBytes(); n < 0 {
		bad("backlog_bytes", "%d is negative", n)
	}
	if r.Backlog() && c.GetStartDelay() != "" {
		bad("start_delay", "a backlog test starts the consumers when the backlog is built; leave start_delay unset")
	}
	if r.Backlog() && p.Spec.GetWorkers() == 0 {
		bad("backlog_records", "a backlog test needs producers (workers > 0)")
	}
	p.Consume = r
	return errs
}

// consumerSection returns the plan's consumer section, made when missing.
func consumerSection(plan *kperfv1.TestPlan) *kperfv1.ConsumerPlan {
	if plan.Consumer == nil {
		plan.Consumer = &kperfv1.ConsumerPlan{}
	}
	return plan.Consumer
}

// bindSectionFlags registers a flag for every key of the message field fd
// (a plan section such as consumer) on fs.
func (pf *PlanFlags) bindSectionFlags(fd protoreflect.FieldDescriptor) {
	fields := fd.Message().Fields()
	for i := range fields.Len() {
		sub := fields.Get(i)
		name := subFlagName(string(fd.Name()), string(sub.Name()))
		v := &planValue{fd: sub, section: fd}
		pf.values[name] = v
		pf.fs.Var(v, name, consumerUsage[string(sub.Name())])
	}
}

// stringifySection turns scalar values of a section's string maps into
// strings, as stringifyMaps does for the top level.
func stringifySection(top map[string]any, section protoreflect.FieldDescriptor) error {
	sec, ok := top[string(section.Name())].(map[string]any)
	if !ok {
		sec, ok = top[section.JSONName()].(map[string]any)
	}
	if !ok {
		return nil
	}
	fields := section.Message().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !fd.IsMap() {
			continue
		}
		for _, key := range []string{string(fd.Name()), fd.JSONName()} {
			v, ok := sec[key]
			if !ok {
				continue
			}
			m, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("plan key %s.%s: want a mapping of names to values", section.Name(), fd.Name())
			}
			for k, val := range m {
				str, ok := scalarString(val)
				if !ok {
					return fmt.Errorf("plan key %s.%s.%s: want a single value", section.Name(), fd.Name(), k)
				}
				m[k] = str
			}
		}
	}
	return nil
}

// sectionKeyOf maps the consumer properties that have their own plan key
// to that key.
var sectionKeyOf = map[string]string{"fetch.min.bytes": "fetch_min_bytes", "fetch.max.bytes": "fetch_max_bytes",
	"fetch.max.wait.ms": "max_wait", "max.poll.records": "max_poll_records", "auto.offset.reset": "from"}

// badConsumerKey names the plan key of the first property that does not
// parse on its own: the section's own key when it set the property, else
// consumer_props (also when only the combination is wrong).
func badConsumerKey(c *kperfv1.ConsumerPlan, props map[string]string) string {
	keys := slices.Sorted(maps.Keys(props))
	for _, k := range keys {
		if _, err := consumer.Parse(map[string]string{k: props[k]}); err == nil {
			continue
		}
		// A key of the section that is set wrote over consumer_props.
		if key, ok := sectionKeyOf[k]; ok && c.ProtoReflect().Has(c.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(key))) {
			return key
		}
		return "consumer_props"
	}
	return "consumer_props"
}

// kafkaSecurity is how the controller's own Kafka client connects: as the
// producers, or as the consumers when there are no producers.
func (p *Plan) kafkaSecurity() props.Security {
	if p.Consume != nil && p.Spec.GetWorkers() == 0 {
		return p.Consume.Settings.Security
	}
	return p.Producer.Security
}
