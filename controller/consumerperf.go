package controller

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller/report"
)

// ConsumerPerf is a kafka-consumer-perf-test command line
// (org.apache.kafka.tools.ConsumerPerformance, Kafka 4.x) read into a plan
// of consumers only.
type ConsumerPerf struct {
	// Spec is the plan: one consumer worker per agent, no producers.
	Spec *kperfv1.TestPlan
	// NumRecords is --num-records (or --messages).
	NumRecords int64
	// TimeoutMs is --timeout.
	TimeoutMs int64
	// Detailed is --show-detailed-stats; HideHeader --hide-header;
	// PrintMetrics --print-metrics.
	Detailed, HideHeader, PrintMetrics bool
	// DateFormat is --date-format.
	DateFormat *report.DateFormat
	// Agents, AgentsGiven and OutDir are kperf's --agents and --out.
	Agents      []string
	AgentsGiven bool
	OutDir      string
	// Help is -h or --help; Version is --version.
	Help, Version bool
	// Warnings are the Java tool's deprecation lines for the options given,
	// which it prints on stdout before the header.
	Warnings []string
}

// consumerPerfFlags are the options consumer-perf-test accepts (without
// --); argOptional takes a value only when the next word is not an option.
var consumerPerfFlags = map[string]perfArg{
	"bootstrap-server": argValue, "topic": argValue, "include": argValue, "group": argValue, "fetch-size": argValue,
	"from-latest": argBool, "socket-buffer-size": argValue, "consumer.config": argValue, "command-config": argValue,
	"command-property": argList, "print-metrics": argBool, "show-detailed-stats": argBool, "timeout": argOptional,
	"messages": argValue, "num-records": argValue, "reporting-interval": argValue, "date-format": argValue,
	"hide-header": argBool, "help": argBool, "version": argBool,
	// kperf's own.
	"agents": argValue, "out": argValue, "driver": argValue,
}

// argOptional is an option whose value may be left out.
const argOptional perfArg = argBool + 1

// matchOption returns the options in flags that name may mean, sorted:
// the exact name alone, else every option it is a prefix of.
func matchOption(flags map[string]perfArg, name string) []string {
	if _, ok := flags[name]; ok {
		return []string{name}
	}
	var matches []string
	for n := range flags {
		if strings.HasPrefix(n, name) {
			matches = append(matches, n)
		}
	}
	slices.Sort(matches)
	return matches
}

// resolveOption finds the option a name means in flags: the exact name, or
// an unambiguous prefix of one (jopt-simple's abbreviations).
func resolveOption(flags map[string]perfArg, name string) (string, error) {
	matches := matchOption(flags, name)
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("%s is not a recognized option", name)
	case 1:
		return matches[0], nil
	}
	return "", fmt.Errorf("option '%s' is ambiguous; possibilities: %s", name, strings.Join(matches, ", "))
}

// ParseConsumerPerf reads kafka-consumer-perf-test's arguments as the Java
// tool does (jopt-simple: "--name value", "--name=value", unambiguous
// prefixes), plus kperf's --agents, --out and --driver. The config file is
// read here; --command-property overrides it, and the tool's own options
// (--bootstrap-server, --group, --fetch-size, --from-latest) override both.
// Every error means bad arguments.
func ParseConsumerPerf(args []string) (*ConsumerPerf, error) {
	vals := map[string]string{}
	seen := map[string]bool{}
	var cmdProps []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-h" {
			return &ConsumerPerf{Help: true}, nil
		}
		if !strings.HasPrefix(a, "--") || a == "--" {
			return nil, fmt.Errorf("unrecognized argument: %s", a)
		}
		name, explicit, hasExplicit := strings.Cut(a[2:], "=")
		name, err := resolveOption(consumerPerfFlags, name)
		if err != nil {
			return nil, err
		}
		seen[name] = true
		switch consumerPerfFlags[name] {
		case argBool:
			if hasExplicit {
				return nil, fmt.Errorf("option %s does not take an argument", name)
			}
		case argValue, argOptional:
			v, ok := explicit, hasExplicit
			if !ok && i+1 < len(args) && !looksLikeOption(args[i+1]) {
				i++
				v, ok = args[i], true
			}
			if !ok && consumerPerfFlags[name] == argValue {
				return nil, fmt.Errorf("option %s requires an argument", name)
			}
			if ok {
				vals[name] = v
			}
		case argList:
			v, ok := explicit, hasExplicit
			if !ok && i+1 < len(args) && !looksLikeOption(args[i+1]) {
				i++
				v, ok = args[i], true
			}
			if !ok {
				return nil, fmt.Errorf("option %s requires an argument", name)
			}
			cmdProps = append(cmdProps, v)
		}
	}
	if seen["help"] {
		return &ConsumerPerf{Help: true}, nil
	}
	if seen["version"] {
		return &ConsumerPerf{Version: true}, nil
	}
	if seen["include"] {
		return nil, errors.New("--include: topic patterns are not supported by kperf; give --topic")
	}
	if seen["num-records"] == seen["messages"] {
		return nil, errors.New("exactly one of the following arguments is required: [messages], [num-records]")
	}
	cp := &ConsumerPerf{TimeoutMs: 10_000, Detailed: seen["show-detailed-stats"], HideHeader: seen["hide-header"],
		PrintMetrics: seen["print-metrics"], OutDir: vals["out"]}
	n := vals["num-records"]
	if seen["messages"] {
		n = vals["messages"]
		cp.Warnings = append(cp.Warnings, "Warning: --messages is deprecated. Use --num-records instead.")
	}
	if seen["consumer.config"] {
		cp.Warnings = append(cp.Warnings, "Warning: --consumer.config is deprecated. Use --command-config instead.")
	}
	var err error
	if cp.NumRecords, err = parseNumRecords(n); err != nil {
		return nil, err
	}
	if !seen["topic"] || vals["topic"] == "" {
		return nil, errors.New("exactly one of the following arguments is required: [topic, include]")
	}
	if v, ok := vals["timeout"]; ok {
		if cp.TimeoutMs, err = strconv.ParseInt(v, 10, 64); err != nil || cp.TimeoutMs < 100 {
			return nil, fmt.Errorf("--timeout %q: want milliseconds, at least 100", v)
		}
	}
	interval := PerfTestInterval
	if v, ok := vals["reporting-interval"]; ok {
		if interval, err = parseReportingInterval(v); err != nil {
			return nil, err
		}
	}
	df := report.DefaultDateFormat
	if v, ok := vals["date-format"]; ok {
		df = v
	}
	if cp.DateFormat, err = report.ParseDateFormat(df); err != nil {
		return nil, fmt.Errorf("--date-format: %w", err)
	}

	// Properties: the config file, --command-property, then the tool's own.
	props, err := javaToolProps(vals, "consumer.config", cmdProps, func(k, _ string) bool { return k != "" })
	if err != nil {
		return nil, err
	}
	group := vals["group"]
	if group == "" {
		group = fmt.Sprintf("perf-consumer-%d", rand.IntN(100_000))
	}
	delete(props, "group.id")
	fetch := "1048576"
	if v, ok := vals["fetch-size"]; ok {
		if n, err := strconv.ParseInt(v, 10, 32); err != nil || n <= 0 {
			return nil, fmt.Errorf("--fetch-size %q: want bytes greater than zero", v)
		}
		fetch = v
	}
	props["max.partition.fetch.bytes"] = fetch
	if v, ok := vals["socket-buffer-size"]; ok {
		if _, err := strconv.ParseInt(v, 10, 32); err != nil {
			return nil, fmt.Errorf("--socket-buffer-size %q: want bytes", v)
		}
	}
	from := "earliest"
	if seen["from-latest"] {
		from = "latest"
	}
	delete(props, "auto.offset.reset")
	if props["client.id"] == "" {
		props["client.id"] = "perf-consumer-client"
	}
	// The Java tool sets its own deserializers; kperf reads bytes.
	delete(props, "key.deserializer")
	delete(props, "value.deserializer")
	bootstrap, err := javaToolBootstrap(props)
	if err != nil {
		return nil, err
	}
	delete(props, "bootstrap.servers")

	cp.Spec = &kperfv1.TestPlan{
		Topic: vals["topic"], BootstrapServers: bootstrap, Workers: proto.Int32(0), Interval: interval.String(),
		Driver: vals["driver"],
		Consumer: &kperfv1.ConsumerPlan{
			Workers: proto.Int32(1), GroupId: group, From: from, ConsumerProps: props, NumRecords: proto.Int64(cp.NumRecords),
			IdleTimeout: (time.Duration(cp.TimeoutMs) * time.Millisecond).String(),
		},
	}
	if v, ok := vals["agents"]; ok {
		cp.AgentsGiven = true
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				cp.Agents = append(cp.Agents, a)
			}
		}
		if len(cp.Agents) == 0 {
			return nil, fmt.Errorf("--agents %q lists no agent: want host:port,host:port,...", v)
		}
	}
	return cp, nil
}

// ConsumerPerfTotals returns the Java tool's summary numbers of a run: it
// started when the consumer began joining the group and ended with the last
// record; rebalance time is the join plus rebalances during the run.
func ConsumerPerfTotals(s *report.Summary, finished time.Time) (report.ConsumerPerfTotals, error) {
	c := s.Consume
	if c == nil {
		return report.ConsumerPerfTotals{}, errors.New("the run had no consumers")
	}
	start, err := time.Parse(time.RFC3339Nano, s.StartedAt)
	if err != nil {
		return report.ConsumerPerfTotals{}, fmt.Errorf("run start %q: %w", s.StartedAt, err)
	}
	begin := start.Add(time.Duration(c.BeginS * float64(time.Second)))
	end := finished
	if c.Records > 0 {
		end = start.Add(time.Duration(c.EndS * float64(time.Second)))
	}
	join := time.Duration(c.JoinMs * float64(time.Millisecond))
	return report.ConsumerPerfTotals{
		Start: begin.Add(-join), End: end, Bytes: c.Bytes, Records: c.Records,
		RebalanceMs: int64(c.JoinMs + c.RebalanceMs),
	}, nil
}
