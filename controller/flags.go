package controller

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

// planUsage is the flag help of every plan key.
var planUsage = map[string]string{
	"topic":              "topic to produce to, created when missing (default " + DefaultTopic + ")",
	"num_records":        "records to produce over all agents; 0 runs for --duration",
	"record_size":        "record value size in bytes (default 100)",
	"throughput":         "target records/s over all agents, -1 for unlimited (default 5000)",
	"throughput_bytes":   "cap in record bytes/s over all agents",
	"duration":           "how long to produce, e.g. 30s (default " + DefaultDuration + " without --num-records)",
	"producer_props":     "producer properties k=v ... by Java names (acks, batch.size, linger.ms, compression.type, ...)",
	"payload_file":       "file of record values, one per line (see --payload-delimiter)",
	"payload_delimiter":  "delimiter of records in --payload-file (default \\n)",
	"bootstrap_servers":  "Kafka bootstrap servers host:port,...",
	"partitions":         "partitions when creating the topic (default 6)",
	"replication_factor": "replication factor when creating the topic (default 1)",
	"topic_configs":      "topic configs k=v ... when creating the topic, e.g. min.insync.replicas=2",
	"workers":            "producer workers per agent, each with its own client (default 1)",
	"agent_count":        "agents to use of those available; 0 uses all",
	"driver":             "Kafka client driver: sarama (default) or franz (franz-go)",
	"interval":           "reporting interval (default " + DefaultInterval + ")",
	"jitter":             "random spread of send ticks, 0..1 of the tick period (default 0)",
	"seed":               "seed for payloads and jitter (default 1)",
	"lease_timeout":      "agents stop when the controller is silent this long, and the controller counts an agent silent this long as lost (default " + DefaultLeaseTimeout + ", or twice --interval)",
	"allow_partial":      "exit 0 rather than 3 when an agent is lost mid-run (the results still say partial)",
	"sweep":              "sweep axis KEY=V1,V2,...: run once per combination of the axes' values (repeatable; keys: agents, workers, record-size, throughput, acks, compression, batch-size, linger, partitions, driver); replaces the file's axes",
}

// Flags of the sweep's timings, beside --sweep.
const (
	flagSweepWarmup   = "sweep-warmup"
	flagSweepCooldown = "sweep-cooldown"
)

// FlagName returns the flag of a plan key.
func FlagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// PlanFlags binds a flag to every TestPlan field.
type PlanFlags struct {
	fs               *flag.FlagSet
	values           map[string]*planValue // by flag name
	sweep            sweepFlag
	warmup, cooldown string
}

type planValue struct {
	fd   protoreflect.FieldDescriptor
	vals []string
}

// sweepFlag collects --sweep KEY=V1,V2,... axes, one per flag.
type sweepFlag struct{ axes []*kperfv1.SweepAxis }

func (v *sweepFlag) String() string {
	if v == nil {
		return ""
	}
	parts := make([]string, len(v.axes))
	for i, a := range v.axes {
		parts[i] = a.GetKey() + "=" + strings.Join(a.GetValues(), ",")
	}
	return strings.Join(parts, " ")
}

func (v *sweepFlag) Set(s string) error {
	k, vals, ok := strings.Cut(s, "=")
	if k = strings.TrimSpace(k); !ok || k == "" {
		return fmt.Errorf("want KEY=V1,V2,..., got %q", s)
	}
	ax := &kperfv1.SweepAxis{Key: k}
	for _, x := range strings.Split(vals, ",") {
		ax.Values = append(ax.Values, strings.TrimSpace(x))
	}
	v.axes = append(v.axes, ax)
	return nil
}

func (v *planValue) String() string {
	if v == nil {
		return ""
	}
	return strings.Join(v.vals, " ")
}

// IsBoolFlag lets a bool plan key be given as a bare --flag.
func (v *planValue) IsBoolFlag() bool {
	return v.fd.Kind() == protoreflect.BoolKind && !v.fd.IsList() && !v.fd.IsMap()
}

func (v *planValue) Set(s string) error {
	if v.fd.IsMap() {
		if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
			return fmt.Errorf("want key=value, got %q", s)
		}
		v.vals = append(v.vals, s)
		return nil
	}
	v.vals = []string{s}
	return nil
}

// BindPlanFlags registers a flag for every plan key on fs. The sweep key
// gets --sweep KEY=V1,V2,... (one axis per flag) and, beside it,
// --sweep-warmup and --sweep-cooldown.
func BindPlanFlags(fs *flag.FlagSet) *PlanFlags {
	pf := &PlanFlags{fs: fs, values: map[string]*planValue{}}
	fields := (&kperfv1.TestPlan{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := FlagName(string(fd.Name()))
		if fd.Name() == "sweep" {
			fs.Var(&pf.sweep, name, planUsage[string(fd.Name())])
			fs.StringVar(&pf.warmup, flagSweepWarmup, "", "run each sweep step this long first, results discarded (e.g. 2s)")
			fs.StringVar(&pf.cooldown, flagSweepCooldown, "", "pause this long after each sweep step")
			continue
		}
		v := &planValue{fd: fd}
		pf.values[name] = v
		fs.Var(v, name, planUsage[string(fd.Name())])
	}
	return pf
}

// ListFlags are the plan flags that take several values after one flag, as
// kafka-producer-perf-test's --producer-props does.
func (pf *PlanFlags) ListFlags() []string {
	var out []string
	for name, v := range pf.values {
		if v.fd.IsMap() {
			out = append(out, name)
		}
	}
	return out
}

// Apply sets the plan fields whose flags were given on the command line,
// over what the plan file said.
func (pf *PlanFlags) Apply(plan *kperfv1.TestPlan) error {
	var err error
	pf.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "sweep":
			// The flags' axes replace the file's.
			sw := sweepOf(plan)
			sw.Axes = nil
			for _, a := range pf.sweep.axes {
				sw.Axes = append(sw.Axes, proto.Clone(a).(*kperfv1.SweepAxis))
			}
			return
		case flagSweepWarmup:
			sweepOf(plan).Warmup = pf.warmup
			return
		case flagSweepCooldown:
			sweepOf(plan).Cooldown = pf.cooldown
			return
		}
		v, ok := pf.values[f.Name]
		if !ok || err != nil {
			return
		}
		if e := setField(plan.ProtoReflect(), v); e != nil {
			err = fmt.Errorf("flag --%s: %w", f.Name, e)
		}
	})
	return err
}

func sweepOf(plan *kperfv1.TestPlan) *kperfv1.Sweep {
	if plan.Sweep == nil {
		plan.Sweep = &kperfv1.Sweep{}
	}
	return plan.Sweep
}

func setField(m protoreflect.Message, v *planValue) error {
	fd := v.fd
	if fd.IsMap() {
		mp := m.Mutable(fd).Map()
		for _, kv := range v.vals {
			k, val, _ := strings.Cut(kv, "=")
			mp.Set(protoreflect.ValueOfString(k).MapKey(), protoreflect.ValueOfString(val))
		}
		return nil
	}
	s := v.vals[len(v.vals)-1]
	switch fd.Kind() {
	case protoreflect.StringKind:
		m.Set(fd, protoreflect.ValueOfString(s))
	case protoreflect.Int32Kind:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		m.Set(fd, protoreflect.ValueOfInt32(int32(n)))
	case protoreflect.Int64Kind:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		m.Set(fd, protoreflect.ValueOfInt64(n))
	case protoreflect.DoubleKind:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		m.Set(fd, protoreflect.ValueOfFloat64(n))
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		m.Set(fd, protoreflect.ValueOfBool(b))
	default:
		return fmt.Errorf("plan field kind %v has no flag form", fd.Kind())
	}
	return nil
}

// ExpandListArgs rewrites "--name a b c" into "--name a --name b --name c"
// for the given list flags, so that kafka-producer-perf-test style
// "--producer-props acks=1 linger.ms=5" works with the standard flag
// package. Values run until the next argument that starts with "-".
func ExpandListArgs(args []string, names []string) []string {
	isList := map[string]bool{}
	for _, n := range names {
		isList["-"+n], isList["--"+n] = true, true
	}
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if !isList[a] {
			out = append(out, a)
			continue
		}
		consumed := false
		for i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			i++
			out = append(out, a, args[i])
			consumed = true
		}
		if !consumed {
			out = append(out, a) // let the flag package report the missing value
		}
	}
	return out
}
