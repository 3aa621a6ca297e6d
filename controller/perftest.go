package controller

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/proto"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

// PerfTest is a kafka-producer-perf-test command line
// (org.apache.kafka.tools.ProducerPerformance, Kafka 4.x) read into a plan.
type PerfTest struct {
	// Spec is the plan the command line asks for.
	Spec *kperfv1.TestPlan
	// PrintMetrics is --print-metrics.
	PrintMetrics bool
	// Agents is kperf's --agents as given (host:port list, dns:/// or
	// srv: entries); AgentsGiven says the flag was given.
	Agents      string
	AgentsGiven bool
	// AgentFlags are the PerfAgentFlags given, by name.
	AgentFlags map[string]string
	// OutDir is kperf's --out.
	OutDir string
	// MetricsAddr and Pprof are kperf's --metrics-addr and --pprof.
	MetricsAddr string
	Pprof       bool
	// Help is -h or --help.
	Help bool
}

// PerfTestInterval is the Java tool's reporting window, the default
// interval of a perf test.
const PerfTestInterval = 5 * time.Second

type perfArg int

const (
	argValue perfArg = iota // one value
	argList                 // one or more values, as argparse's nargs "+"
	argBool                 // no value
)

// perfFlags are the long options perf-test accepts, by name (without --).
var perfFlags = map[string]perfArg{
	"topic": argValue, "num-records": argValue, "record-size": argValue, "payload-file": argValue,
	"payload-delimiter": argValue, "throughput": argValue, "producer-props": argList, "command-property": argList,
	"producer.config": argValue, "command-config": argValue, "print-metrics": argBool, "bootstrap-server": argValue,
	"reporting-interval": argValue, "random-seed": argValue,
	// Accepted by the Java tool, refused here with a reason.
	"transactional-id": argValue, "transaction-duration-ms": argValue, "warmup-records": argValue,
	"payload-monotonic": argBool, "record-key-range": argValue, "key-distribution": argValue,
	// kperf's own.
	"agents": argValue, "out": argValue, "help": argBool, "metrics-addr": argValue, "pprof": argBool,
	"expect-agents": argValue, "discovery-timeout": argValue, "dial-timeout": argValue,
	"tls-ca": argValue, "tls-cert": argValue, "tls-key": argValue, "tls-server-name": argValue,
	"token-file": argValue, "insecure": argBool,
}

// PerfAgentFlags are kperf's flags, beside --agents, for finding and
// reaching agents; producer-perf-test passes them on as given.
var PerfAgentFlags = []string{"expect-agents", "discovery-timeout", "dial-timeout", "tls-ca", "tls-cert", "tls-key", "tls-server-name", "token-file", "insecure"}

// perfUnsupported are the Java tool's options kperf cannot honour.
var perfUnsupported = map[string]string{
	"transactional-id":        "transactions are not supported by kperf",
	"transaction-duration-ms": "transactions are not supported by kperf",
	"warmup-records":          "warmup records are not supported by kperf (the interval lines and intervals.csv show the warm-up)",
	"payload-monotonic":       "monotonic payloads are not supported by kperf; use --record-size or --payload-file",
	"record-key-range":        "record keys are not supported by kperf (records have null keys)",
}

// looksLikeOption reports whether a command-line word is an option rather
// than a value: it starts with "-" and is not a negative number (argparse's
// rule when no option looks like a negative number).
func looksLikeOption(a string) bool {
	if !strings.HasPrefix(a, "-") || a == "-" {
		return false
	}
	_, err := strconv.ParseFloat(a, 64)
	return err != nil
}

// resolvePerfFlag finds the option a name means: an exact name, or an
// unambiguous prefix of one (argparse4j's abbreviations).
func resolvePerfFlag(name string) (string, error) {
	matches := matchOption(perfFlags, name)
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("unrecognized argument: --%s", name)
	case 1:
		return matches[0], nil
	}
	return "", fmt.Errorf("ambiguous option: --%s could match --%s", name, strings.Join(matches, ", --"))
}

// ParsePerfTest reads kafka-producer-perf-test's arguments, as the Java tool
// parses them (argparse4j: "--name value", "--name=value", unambiguous
// prefixes, several values after --producer-props/--command-property), plus
// kperf's --agents, --out, --metrics-addr and --pprof. The producer config file is read here:
// properties on the command line override it, and --bootstrap-server
// overrides both. Every error means bad arguments.
func ParsePerfTest(args []string) (*PerfTest, error) {
	vals := map[string]string{}
	seen := map[string]bool{}
	var cmdProps []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h":
			return &PerfTest{Help: true}, nil
		case !strings.HasPrefix(a, "--") || a == "--":
			return nil, fmt.Errorf("unrecognized argument: %s", a)
		}
		name, explicit, hasExplicit := strings.Cut(a[2:], "=")
		name, err := resolvePerfFlag(name)
		if err != nil {
			return nil, err
		}
		seen[name] = true
		switch perfFlags[name] {
		case argBool:
			if hasExplicit {
				return nil, fmt.Errorf("--%s takes no value, got %q", name, explicit)
			}
			vals[name] = "true"
		case argValue:
			v := explicit
			if !hasExplicit {
				if i+1 >= len(args) || looksLikeOption(args[i+1]) {
					return nil, fmt.Errorf("--%s: expected one argument", name)
				}
				i++
				v = args[i]
			}
			vals[name] = v
		case argList:
			if hasExplicit {
				cmdProps = append(cmdProps, explicit)
				continue
			}
			n := 0
			for i+1 < len(args) && !looksLikeOption(args[i+1]) {
				i++
				n++
				cmdProps = append(cmdProps, args[i])
			}
			if n == 0 {
				return nil, fmt.Errorf("--%s: expected one or more arguments PROP-NAME=PROP-VALUE", name)
			}
		}
	}
	if seen["help"] {
		return &PerfTest{Help: true}, nil
	}
	for _, name := range slices.Sorted(maps.Keys(seen)) {
		if why, ok := perfUnsupported[name]; ok {
			return nil, fmt.Errorf("--%s: %s", name, why)
		}
	}
	if d, ok := vals["key-distribution"]; ok && d != "none" {
		return nil, fmt.Errorf("--key-distribution %s: record keys are not supported by kperf (records have null keys)", d)
	}
	for _, name := range []string{"topic", "num-records", "throughput"} {
		if !seen[name] {
			return nil, fmt.Errorf("argument --%s is required", name)
		}
	}
	switch {
	case seen["record-size"] && seen["payload-file"]:
		return nil, errors.New("argument --payload-file: not allowed with argument --record-size")
	case !seen["record-size"] && !seen["payload-file"]:
		return nil, errors.New("one of the arguments --record-size --payload-file is required")
	}

	spec := &kperfv1.TestPlan{Topic: vals["topic"], Interval: PerfTestInterval.String()}
	n, err := parseNumRecords(vals["num-records"])
	if err != nil {
		return nil, err
	}
	spec.NumRecords = proto.Int64(n)
	if v, ok := vals["record-size"]; ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--record-size %q: want a size in bytes greater than zero", v)
		}
		spec.RecordSize = proto.Int32(int32(n))
	}
	if v, ok := vals["payload-file"]; ok {
		if v == "" {
			return nil, errors.New("--payload-file: empty file name")
		}
		spec.PayloadFile = v
	}
	spec.PayloadDelimiter = "\n"
	if d, ok := vals["payload-delimiter"]; ok && d != `\n` {
		if d == "" {
			return nil, errors.New("--payload-delimiter: empty delimiter")
		}
		spec.PayloadDelimiter = d
	}
	t, err := strconv.ParseFloat(vals["throughput"], 64)
	switch {
	case err != nil || t != t: // NaN
		return nil, fmt.Errorf("--throughput %q: want records/sec, or -1 for unlimited", vals["throughput"])
	case t < 0:
		t = -1 // the Java tool does not throttle at any negative rate
	case t == 0:
		return nil, errors.New("--throughput 0: want records/sec greater than zero, or -1 for unlimited")
	case t > MaxRate:
		return nil, fmt.Errorf("--throughput %v: at most %g records/sec, or -1 for unlimited", t, float64(MaxRate))
	}
	spec.Throughput = proto.Float64(t)
	if v, ok := vals["reporting-interval"]; ok {
		d, err := parseReportingInterval(v)
		if err != nil {
			return nil, err
		}
		spec.Interval = d.String()
	}
	if v, ok := vals["random-seed"]; ok {
		seed, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--random-seed %q: want an integer", v)
		}
		spec.Seed = proto.Int64(seed)
	}

	// Properties: the config file, then the command line, then
	// --bootstrap-server.
	props, err := javaToolProps(vals, "producer.config", cmdProps, func(k, v string) bool {
		return k != "" && v != "" && !strings.Contains(v, "=")
	})
	if err != nil {
		return nil, err
	}
	if _, ok := props["transactional.id"]; ok {
		return nil, errors.New("producer property transactional.id: transactions are not supported by kperf")
	}
	// The Java tool always sets its own byte-array serializers.
	delete(props, "key.serializer")
	delete(props, "value.serializer")
	if spec.BootstrapServers, err = javaToolBootstrap(props); err != nil {
		return nil, err
	}
	if len(props) > 0 {
		spec.ProducerProps = props
	}

	pt := &PerfTest{Spec: spec, PrintMetrics: seen["print-metrics"], OutDir: vals["out"], AgentFlags: map[string]string{},
		MetricsAddr: vals["metrics-addr"], Pprof: seen["pprof"]}
	if v, ok := vals["agents"]; ok {
		pt.AgentsGiven, pt.Agents = true, v
		if strings.Trim(v, ", ") == "" {
			return nil, fmt.Errorf("--agents %q lists no agent: want host:port,host:port,...", v)
		}
	}
	for _, name := range PerfAgentFlags {
		if v, ok := vals[name]; ok {
			if !pt.AgentsGiven {
				return nil, fmt.Errorf("--%s needs --agents", name)
			}
			pt.AgentFlags[name] = v
		}
	}
	return pt, nil
}

// ReadJavaProperties reads a Java properties file (java.util.Properties
// format): "key=value", "key: value" or "key value" lines, "#" and "!"
// comments, backslash line continuations and escapes.
func ReadJavaProperties(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var logical strings.Builder
	continued := false
	for sc.Scan() {
		line := strings.TrimLeftFunc(strings.TrimSuffix(sc.Text(), "\r"), unicode.IsSpace)
		if !continued && (line == "" || line[0] == '#' || line[0] == '!') {
			continue
		}
		// An odd number of trailing backslashes continues the line.
		trailing := len(line) - len(strings.TrimRight(line, `\`))
		continued = trailing%2 == 1
		if continued {
			line = line[:len(line)-1]
		}
		logical.WriteString(line)
		if continued {
			continue
		}
		k, v := splitProperty(logical.String())
		out[k] = v
		logical.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if logical.Len() > 0 {
		k, v := splitProperty(logical.String())
		out[k] = v
	}
	return out, nil
}

// splitProperty splits one logical properties line at the first unescaped
// '=', ':' or whitespace, and unescapes key and value.
func splitProperty(line string) (key, value string) {
	end := len(line)
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '\\' {
			i++
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			end = i
			break
		}
	}
	key, rest := line[:end], line[end:]
	rest = strings.TrimLeft(rest, " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	return unescapeProperty(key), unescapeProperty(rest)
}

func unescapeProperty(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch c = s[i]; c {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+4 < len(s) {
				if r, err := strconv.ParseUint(s[i+1:i+5], 16, 32); err == nil {
					b.WriteRune(rune(r))
					i += 4
					continue
				}
			}
			b.WriteByte('u')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
