// Command compare measures kperf side by side with Kafka's own
// ProducerPerformance (kafka-producer-perf-test) against the same broker, in
// one run: the same topic settings, acks, batch.size, linger.ms and record
// count per case, one case after another. It measures the client process
// only (the java process; the kperf agent, not the controller): CPU seconds
// and peak RSS from the child's rusage, plus the broker's CPU and the host's
// busy time over the same window.
//
// Run it through the wrapper script bench/compare from anywhere in the
// repository; see bench/README.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() { os.Exit(run()) }

// ---------------------------------------------------------------------------
// configuration

type config struct {
	sizes       []int
	records     map[int]int64 // unlimited mode, per size
	rates       map[int]float64
	rateSeconds float64
	rateRecords map[int]int64 // fixed-rate override, per size
	modes       []string      // unlimited, fixed
	acks        string
	batchSize   int
	lingerMs    int
	extraProps  []string
	partitions  int
	tools       map[string]bool // java, sarama, franz, multi
	workers     []int
	multiFixed  bool
	outDir      string
	pause       time.Duration
	javaHeap    string
	bootstrap   string
	keepTopics  bool
	quick       bool
	waitIdle    time.Duration
	idleBusyPct float64
}

const usageText = `Usage: bench/compare [flags]

Measures kperf (1 agent: sarama and franz drivers with 1 worker, then the
faster driver with more workers) side by side with Kafka's ProducerPerformance
on one Kafka broker (scripts/kafka; started and stopped unless already up),
for each record size × {unlimited, fixed rate}. Prints one table and writes
it as markdown (plus raw JSON) to bench/results/<timestamp>.md.

Every flag can also be set by the environment: KPERF_BENCH_<FLAG> with the
flag name upper-cased and '-' as '_', e.g. KPERF_BENCH_SIZES=100,1024.
Per-size values are SIZE=VALUE,... or one VALUE for every size.

Exit status: 0 all runs succeeded and every delivery check passed; 1 a run
failed or a delivery check did not pass; 2 bad flags; 130 interrupted.

Flags:
`

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usageText); fs.PrintDefaults() }
	sizes := fs.String("sizes", "100,1024,10240", "record sizes in bytes")
	records := fs.String("records", "100=6000000,1024=1200000,10240=150000", "records per run in unlimited mode, per size")
	rates := fs.String("rates", "100=20000,1024=20000,10240=5000", "target records/s in fixed-rate mode, per size")
	rateSeconds := fs.Float64("rate-seconds", 8, "fixed-rate runs produce rate × this many seconds of records")
	rateRecords := fs.String("rate-records", "", "records per run in fixed-rate mode, per size (overrides --rate-seconds)")
	modes := fs.String("modes", "unlimited,fixed", "modes to run: unlimited, fixed")
	acks := fs.String("acks", "1", "producer acks for every tool: 0, 1, all")
	batch := fs.Int("batch-size", 65536, "producer batch.size for every tool")
	linger := fs.Int("linger-ms", 5, "producer linger.ms for every tool")
	props := fs.String("props", "", "more producer properties for every tool, k=v separated by spaces")
	partitions := fs.Int("partitions", 6, "partitions of each fresh topic")
	tools := fs.String("tools", "java,sarama,franz,multi", "tools to run: java, sarama, franz (kperf drivers, 1 worker), multi (kperf, the faster driver, --workers)")
	workers := fs.String("workers", "2,4", "worker counts tried by the multi tool")
	multiFixed := fs.Bool("multi-fixed", false, "also run the multi tool in fixed-rate mode (by default only when a 1-worker run fell >1% short of the target)")
	out := fs.String("out", "bench/results", "directory for the markdown and JSON results")
	pause := fs.Duration("pause", 2*time.Second, "pause between runs, to let the broker settle")
	heap := fs.String("java-heap", "512m", "-Xmx of the Java tool")
	bootstrap := fs.String("bootstrap", "", "use this Kafka instead of scripts/kafka (broker CPU is then not measured)")
	keep := fs.Bool("keep-topics", false, "do not delete the benchmark topics at the end")
	waitIdle := fs.Duration("wait-idle", 30*time.Second, "before each run, wait up to this long for the host to be idle (see --idle-busy); 0 does not wait")
	idleBusy := fs.Float64("idle-busy", 25, "host busy % (all CPUs, over 1 s) below which the host counts as idle for --wait-idle")
	quick := fs.Bool("quick", false, "short smoke run: 100 B only, 200,000 records unlimited, 2 s of fixed rate")
	// Environment first, flags override.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "KPERF_BENCH_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %v", name, v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	c := &config{
		rateSeconds: *rateSeconds, acks: *acks, batchSize: *batch, lingerMs: *linger,
		extraProps: strings.Fields(*props), partitions: *partitions, multiFixed: *multiFixed,
		outDir: *out, pause: *pause, javaHeap: *heap, bootstrap: *bootstrap, keepTopics: *keep, quick: *quick,
		waitIdle: *waitIdle, idleBusyPct: *idleBusy,
	}
	if c.quick {
		isSet := func(n string) bool {
			_, env := os.LookupEnv("KPERF_BENCH_" + strings.ToUpper(strings.ReplaceAll(n, "-", "_")))
			return set[n] || env
		}
		if !isSet("sizes") {
			*sizes = "100"
		}
		if !isSet("records") {
			*records = "200000"
		}
		if !isSet("rate-seconds") {
			c.rateSeconds = 2
		}
	}
	var err error
	if c.sizes, err = intList(*sizes); err != nil || len(c.sizes) == 0 {
		return nil, fmt.Errorf("--sizes %q: want sizes in bytes, e.g. 100,1024", *sizes)
	}
	for _, s := range c.sizes {
		if s < 1 {
			return nil, fmt.Errorf("--sizes: %d is not a size", s)
		}
	}
	if c.records, err = perSize(*records, c.sizes); err != nil {
		return nil, fmt.Errorf("--records: %v", err)
	}
	rm, err := perSize(*rates, c.sizes)
	if err != nil {
		return nil, fmt.Errorf("--rates: %v", err)
	}
	c.rates = map[int]float64{}
	for k, v := range rm {
		c.rates[k] = float64(v)
	}
	if *rateRecords != "" {
		if c.rateRecords, err = perSize(*rateRecords, c.sizes); err != nil {
			return nil, fmt.Errorf("--rate-records: %v", err)
		}
	} else if !(c.rateSeconds > 0) {
		return nil, fmt.Errorf("--rate-seconds %v: want a positive number", c.rateSeconds)
	}
	for _, m := range splitComma(*modes) {
		if m != "unlimited" && m != "fixed" {
			return nil, fmt.Errorf("--modes: %q is not unlimited or fixed", m)
		}
		c.modes = append(c.modes, m)
	}
	if len(c.modes) == 0 {
		return nil, errors.New("--modes: none given")
	}
	c.tools = map[string]bool{}
	for _, t := range splitComma(*tools) {
		switch t {
		case "java", "sarama", "franz", "multi":
			c.tools[t] = true
		default:
			return nil, fmt.Errorf("--tools: %q is not java, sarama, franz or multi", t)
		}
	}
	if len(c.tools) == 0 {
		return nil, errors.New("--tools: none given")
	}
	if c.workers, err = intList(*workers); err != nil {
		return nil, fmt.Errorf("--workers %q: %v", *workers, err)
	}
	switch c.acks {
	case "0", "1", "all", "-1":
	default:
		return nil, fmt.Errorf("--acks %q: want 0, 1 or all", c.acks)
	}
	if c.batchSize < 1 || c.lingerMs < 0 || c.partitions < 1 {
		return nil, errors.New("--batch-size and --partitions must be positive, --linger-ms not negative")
	}
	for _, p := range c.extraProps {
		if k, _, ok := strings.Cut(p, "="); !ok || k == "" {
			return nil, fmt.Errorf("--props: %q is not k=v", p)
		}
	}
	return c, nil
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func intList(s string) ([]int, error) {
	var out []int
	for _, p := range splitComma(s) {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// perSize parses "SIZE=N,SIZE=N" or "N" into a value for each size.
func perSize(s string, sizes []int) (map[int]int64, error) {
	out := map[int]int64{}
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64); err == nil {
		if n < 1 {
			return nil, fmt.Errorf("%d: want a positive number", n)
		}
		for _, sz := range sizes {
			out[sz] = n
		}
		return out, nil
	}
	for _, p := range splitComma(s) {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want SIZE=VALUE,... or one VALUE", s)
		}
		sz, err1 := strconv.Atoi(strings.TrimSpace(k))
		n, err2 := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(v), "_", ""), 10, 64)
		if err1 != nil || err2 != nil || n < 1 {
			return nil, fmt.Errorf("%q: want SIZE=VALUE with positive integers", p)
		}
		out[sz] = n
	}
	for _, sz := range sizes {
		if _, ok := out[sz]; !ok {
			return nil, fmt.Errorf("no value for size %d in %q", sz, s)
		}
	}
	return out, nil
}

func (c *config) producerProps() []string {
	p := []string{"acks=" + c.acks, "batch.size=" + strconv.Itoa(c.batchSize), "linger.ms=" + strconv.Itoa(c.lingerMs)}
	return append(p, c.extraProps...)
}

// ---------------------------------------------------------------------------
// cases and results

type benchCase struct {
	Size    int     `json:"size"`
	Mode    string  `json:"mode"`
	Rate    float64 `json:"rate"` // -1 unlimited
	Records int64   `json:"records"`
}

func (c benchCase) name() string {
	s := sizeName(c.Size)
	if c.Rate < 0 {
		return s + " unlimited"
	}
	return fmt.Sprintf("%s @%s/s", s, human(c.Rate))
}

func sizeName(n int) string {
	switch {
	case n%1024 == 0:
		return fmt.Sprintf("%d KiB", n/1024)
	default:
		return fmt.Sprintf("%d B", n)
	}
}

func human(v float64) string {
	switch {
	case v >= 1e6 && math.Mod(v, 1e5) == 0:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e3 && math.Mod(v, 100) == 0:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

type threadCPU struct {
	Name string  `json:"name"`
	CPUS float64 `json:"cpu_s"`
}

type result struct {
	Case    benchCase `json:"case"`
	Tool    string    `json:"tool"` // java, kperf
	Driver  string    `json:"driver,omitempty"`
	Workers int       `json:"workers,omitempty"`
	Topic   string    `json:"topic"`
	// NA is set when the run could not be made (e.g. driver missing).
	NA  string `json:"na,omitempty"`
	Err string `json:"error,omitempty"`

	Records    int64   `json:"records"`
	RecPerSec  float64 `json:"records_per_sec"`
	MBPerSec   float64 `json:"mb_per_sec"`
	AvgMs      float64 `json:"latency_avg_ms"`
	P50Ms      float64 `json:"latency_p50_ms"`
	P99Ms      float64 `json:"latency_p99_ms"`
	MaxMs      float64 `json:"latency_max_ms"`
	ServiceP50 float64 `json:"service_p50_ms,omitempty"`
	ServiceP99 float64 `json:"service_p99_ms,omitempty"`
	SendDlyP99 float64 `json:"send_delay_p99_ms,omitempty"`
	Behind     int     `json:"generator_behind_intervals,omitempty"`
	DeliveryOK bool    `json:"delivery_ok"`
	Delivery   string  `json:"delivery"`

	// ClientCPUS is the client process's user+system CPU over its whole
	// life (rusage); ClientRunCPUS only over the run window (kperf agent:
	// /proc before the controller starts and after it exits).
	ClientCPUS    float64     `json:"client_cpu_s"`
	ClientRunCPUS float64     `json:"client_run_cpu_s"`
	ClientRSSMiB  float64     `json:"client_peak_rss_mib"`
	Threads       []threadCPU `json:"client_threads,omitempty"`
	ControllerCPU float64     `json:"controller_cpu_s,omitempty"`
	BrokerCPUS    float64     `json:"broker_cpu_s"`
	HostBusyPct   float64     `json:"host_busy_pct"`
	HostBusyCPUS  float64     `json:"host_busy_cpu_s"`
	WallS         float64     `json:"wall_s"`
	Log           string      `json:"log"`
}

func (r *result) label() string {
	if r.Tool == "java" {
		return "java ProducerPerformance"
	}
	w := "1 worker"
	if r.Workers > 1 {
		w = fmt.Sprintf("%d workers", r.Workers)
	}
	return fmt.Sprintf("kperf %s, %s", r.Driver, w)
}

func (r *result) ok() bool { return r.NA == "" && r.Err == "" && r.DeliveryOK }

func (r *result) cpuPerM() float64 {
	if r.Records == 0 {
		return math.NaN()
	}
	return r.ClientCPUS / float64(r.Records) * 1e6
}

// ---------------------------------------------------------------------------
// main flow

type env struct {
	cfg       *config
	root      string
	tmp       string
	cp        string // Java classpath
	bootstrap string
	brokerPid int
	agentBin  string
	ctrlBin   string
	adm       *kadm.Client
	admCl     *kgo.Client
	topics    []string
	stamp     string
	javaBase  *result
}

func run() int {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "compare: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	e := &env{cfg: cfg, stamp: time.Now().Format("20060102-150405")}
	if e.root, err = os.Getwd(); err != nil {
		return fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.root, "scripts", "kafka")); err != nil {
		return fatal(fmt.Errorf("run from the repository root (bench/compare does): %v", err))
	}
	if e.tmp, err = os.MkdirTemp("", "kperf-bench-"); err != nil {
		return fatal(err)
	}
	defer os.RemoveAll(e.tmp)

	code := e.main(ctx)
	if ctx.Err() != nil && code == 0 {
		code = 130
	}
	return code
}

func fatal(err error) int {
	fmt.Fprintf(os.Stderr, "compare: %v\n", err)
	return 1
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "compare: "+format+"\n", args...)
}

func (e *env) main(ctx context.Context) int {
	cfg := e.cfg
	// 1. build kperf
	logf("building kperf-agent and kperf-controller")
	bin := filepath.Join(e.tmp, "bin")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin+"/", "./cmd/kperf-agent", "./cmd/kperf-controller")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fatal(fmt.Errorf("go build: %v", err))
	}
	e.agentBin, e.ctrlBin = filepath.Join(bin, "kperf-agent"), filepath.Join(bin, "kperf-controller")

	// 2. Kafka
	if cfg.tools["java"] {
		out, err := exec.CommandContext(ctx, "scripts/kafka", "classpath").Output()
		if err != nil {
			return fatal(fmt.Errorf("scripts/kafka classpath: %v", err))
		}
		e.cp = strings.TrimSpace(string(out))
	}
	if cfg.bootstrap != "" {
		e.bootstrap = cfg.bootstrap
	} else {
		if out, err := exec.CommandContext(ctx, "scripts/kafka", "status").Output(); err == nil {
			e.bootstrap = lastLine(out)
			logf("using the Kafka that is already up at %s (left running)", e.bootstrap)
		} else {
			logf("starting Kafka (scripts/kafka up)")
			up := exec.CommandContext(ctx, "scripts/kafka", "up")
			up.Stderr = os.Stderr
			out, err := up.Output()
			defer func() {
				logf("stopping Kafka (scripts/kafka down)")
				down := exec.Command("scripts/kafka", "down")
				down.Stdout, down.Stderr = os.Stderr, os.Stderr
				if err := down.Run(); err != nil {
					logf("scripts/kafka down: %v", err)
				}
			}()
			if err != nil {
				return fatal(fmt.Errorf("scripts/kafka up: %v", err))
			}
			e.bootstrap = lastLine(out)
		}
		e.brokerPid = brokerPid()
	}
	if e.bootstrap == "" {
		return fatal(errors.New("no Kafka bootstrap address"))
	}
	var err error
	if e.admCl, err = kgo.NewClient(kgo.SeedBrokers(strings.Split(e.bootstrap, ",")...), kgo.DialTimeout(5*time.Second)); err != nil {
		return fatal(err)
	}
	defer e.admCl.Close()
	e.adm = kadm.NewClient(e.admCl)
	defer e.deleteTopics()

	// 3. the cases
	var cases []benchCase
	for _, sz := range cfg.sizes {
		for _, m := range cfg.modes {
			c := benchCase{Size: sz, Mode: m, Rate: -1, Records: cfg.records[sz]}
			if m == "fixed" {
				c.Rate = cfg.rates[sz]
				if cfg.rateRecords != nil {
					c.Records = cfg.rateRecords[sz]
				} else {
					c.Records = int64(math.Round(c.Rate * cfg.rateSeconds))
				}
			}
			cases = append(cases, c)
		}
	}
	logf("Kafka at %s (broker pid %d); %d cases; producer props %s; %d CPUs",
		e.bootstrap, e.brokerPid, len(cases), strings.Join(cfg.producerProps(), " "), runtime.NumCPU())

	if cfg.tools["java"] {
		e.javaBaseline(ctx)
	}

	var all []*result
	franzMissing := false
	failed := false
	for ci, c := range cases {
		if ctx.Err() != nil {
			break
		}
		logf("case %d/%d: %s, %d records", ci+1, len(cases), c.name(), c.Records)
		var caseRes []*result
		add := func(r *result) {
			if ctx.Err() != nil && r.Err != "" {
				return // interrupted, not failed
			}
			caseRes = append(caseRes, r)
			all = append(all, r)
			logf("  %-30s %s", r.label(), r.brief())
			if r.NA == "" && !r.ok() {
				failed = true
			}
		}
		if cfg.tools["java"] {
			add(e.runJava(ctx, c))
		}
		if cfg.tools["sarama"] && ctx.Err() == nil {
			add(e.runKperf(ctx, c, "sarama", 1))
		}
		if cfg.tools["franz"] && ctx.Err() == nil {
			if franzMissing {
				add(&result{Case: c, Tool: "kperf", Driver: "franz", Workers: 1, NA: "franz driver not available"})
			} else {
				r := e.runKperf(ctx, c, "franz", 1)
				franzMissing = r.NA != ""
				add(r)
			}
		}
		if cfg.tools["multi"] && ctx.Err() == nil && len(cfg.workers) > 0 {
			// the faster 1-worker driver of this case (sarama if none ran)
			driver, best, short := "sarama", -1.0, false
			for _, r := range caseRes {
				if r.Tool == "kperf" && r.ok() {
					if r.RecPerSec > best {
						driver, best = r.Driver, r.RecPerSec
					}
					if c.Rate > 0 && r.RecPerSec < 0.99*c.Rate {
						short = true
					}
				}
			}
			if franzMissing && driver == "franz" {
				driver = "sarama"
			}
			if c.Rate < 0 || cfg.multiFixed || short {
				for _, w := range cfg.workers {
					if w <= 1 || ctx.Err() != nil {
						continue
					}
					add(e.runKperf(ctx, c, driver, w))
				}
			}
		}
	}
	if ctx.Err() != nil {
		logf("interrupted")
	}
	if len(all) == 0 {
		return 1
	}

	// 4. report
	md := e.report(all)
	fmt.Println()
	fmt.Print(e.textTable(all))
	fmt.Println()
	fmt.Print(e.notes(all, false))
	if err := os.MkdirAll(cfg.outDir, 0o755); err != nil {
		return fatal(err)
	}
	mdPath := filepath.Join(cfg.outDir, e.stamp+".md")
	jsonPath := filepath.Join(cfg.outDir, e.stamp+".json")
	if err := os.WriteFile(mdPath, []byte(md), 0o644); err != nil {
		return fatal(err)
	}
	raw, _ := json.MarshalIndent(map[string]any{"config": e.configDoc(), "java_baseline": e.javaBase, "results": all}, "", "  ")
	if err := os.WriteFile(jsonPath, append(raw, '\n'), 0o644); err != nil {
		return fatal(err)
	}
	logf("wrote %s and %s", mdPath, jsonPath)
	if ctx.Err() != nil {
		return 130
	}
	if failed {
		logf("FAILED: a run failed or a delivery check did not pass (see above)")
		return 1
	}
	return 0
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// brokerPid is the pid of scripts/kafka's first node, or 0.
func brokerPid() int {
	dir := os.Getenv("KPERF_KAFKA_RUN")
	if dir == "" {
		dir = "/tmp/kperf-kafka"
	}
	b, err := os.ReadFile(filepath.Join(dir, "pids", "node-1.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (r *result) brief() string {
	switch {
	case r.NA != "":
		return "n/a (" + r.NA + ")"
	case r.Err != "":
		return "FAILED: " + r.Err
	}
	s := fmt.Sprintf("%.0f rec/s %.2f MB/s, CPU %.2f s (%.2f s/M), RSS %.0f MiB, p50 %.1f p99 %.1f max %.1f ms, broker CPU %.2f s, host busy %.0f%%",
		r.RecPerSec, r.MBPerSec, r.ClientCPUS, r.cpuPerM(), r.ClientRSSMiB, r.P50Ms, r.P99Ms, r.MaxMs, r.BrokerCPUS, r.HostBusyPct)
	if !r.DeliveryOK {
		s += ", DELIVERY CHECK FAILED: " + r.Delivery
	}
	return s
}

// ---------------------------------------------------------------------------
// topics

func (e *env) newTopic(ctx context.Context, c benchCase, tool string) (string, error) {
	mode := "unl"
	if c.Rate > 0 {
		mode = "r" + strconv.FormatFloat(c.Rate, 'f', -1, 64)
	}
	t := fmt.Sprintf("bench-%s-%d-%s-%s", e.stamp, c.Size, mode, tool)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := e.adm.CreateTopic(ctx, int32(e.cfg.partitions), 1, nil, t)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return "", fmt.Errorf("create topic %s: %w", t, err)
	}
	e.topics = append(e.topics, t)
	for {
		md, err := e.adm.Metadata(ctx, t)
		if err == nil {
			td := md.Topics[t]
			led := td.Err == nil && len(td.Partitions) == e.cfg.partitions
			for _, p := range td.Partitions {
				led = led && p.Leader >= 0 && p.Err == nil
			}
			if led {
				return t, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("topic %s: no leader for every partition", t)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (e *env) endOffsetSum(ctx context.Context, topic string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	lo, err := e.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	if err := lo.Error(); err != nil {
		return 0, err
	}
	var sum int64
	lo.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	return sum, nil
}

func (e *env) deleteTopics() {
	if e.cfg.keepTopics || len(e.topics) == 0 || e.adm == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.adm.DeleteTopics(ctx, e.topics...); err != nil {
		logf("deleting the benchmark topics: %v", err)
	}
}

// ---------------------------------------------------------------------------
// measurement

var clkTck = func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return float64(n)
		}
	}
	return 100
}()

// procCPU returns a process's (or thread's) user+system CPU seconds and
// command name from a /proc .../stat file.
func procCPU(path string) (float64, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, "", err
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return 0, "", fmt.Errorf("%s: unexpected format", path)
	}
	comm := s[open+1 : end]
	f := strings.Fields(s[end+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, "", fmt.Errorf("%s: unexpected format", path)
	}
	ut, _ := strconv.ParseFloat(f[11], 64) // field 14
	st, _ := strconv.ParseFloat(f[12], 64) // field 15
	return (ut + st) / clkTck, comm, nil
}

func pidCPU(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	v, _, _ := procCPU(fmt.Sprintf("/proc/%d/stat", pid))
	return v
}

// hostStat returns busy and total jiffies of all CPUs from /proc/stat.
func hostStat() (busy, total float64) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 5 && fs[0] == "cpu" {
			for i, v := range fs[1:] {
				n, _ := strconv.ParseFloat(v, 64)
				if i >= 8 { // guest time is already in user
					break
				}
				total += n
				if i != 3 && i != 4 { // idle, iowait
					busy += n
				}
			}
		}
	}
	return busy, total
}

// window measures the broker CPU and host busy time between start and stop.
type window struct {
	brokerPid       int
	broker0         float64
	busy0, total0   float64
	t0              time.Time
	BrokerCPU, Busy float64
	BusyCPU         float64 // CPU seconds of every process on the host
	Wall            float64
	stopped         bool
}

func startWindow(brokerPid int) *window {
	w := &window{brokerPid: brokerPid, t0: time.Now()}
	w.broker0 = pidCPU(brokerPid)
	w.busy0, w.total0 = hostStat()
	return w
}

func (w *window) stop() {
	if w.stopped {
		return
	}
	w.stopped = true
	w.Wall = time.Since(w.t0).Seconds()
	w.BrokerCPU = pidCPU(w.brokerPid) - w.broker0
	b, t := hostStat()
	if t > w.total0 {
		w.Busy = 100 * (b - w.busy0) / (t - w.total0)
		w.BusyCPU = (b - w.busy0) / clkTck
	}
}

// sampler polls a process's threads every 100 ms and keeps the last CPU
// reading of each, so that a process's thread breakdown survives its exit.
type sampler struct {
	pid     int
	mu      sync.Mutex
	threads map[string]threadCPU // by tid
	total   float64
	stopc   chan struct{}
	done    chan struct{}
}

func startSampler(pid int) *sampler {
	s := &sampler{pid: pid, threads: map[string]threadCPU{}, stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) sample() {
	tot, _, err := procCPU(fmt.Sprintf("/proc/%d/stat", s.pid))
	if err != nil {
		return
	}
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", s.pid))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total = tot
	for _, d := range ents {
		v, comm, err := procCPU(fmt.Sprintf("/proc/%d/task/%s/stat", s.pid, d.Name()))
		if err == nil {
			s.threads[d.Name()] = threadCPU{Name: comm, CPUS: v}
		}
	}
}

func (s *sampler) stop() {
	select {
	case <-s.stopc:
	default:
		close(s.stopc)
	}
	<-s.done
}

var digits = regexp.MustCompile(`[#-]?\d+$`)

// top returns the threads grouped by name (trailing numbers dropped), by
// CPU, at most n groups; for a Go process, where every thread has the
// same name, it lists the busiest threads instead.
func (s *sampler) top(n int) []threadCPU {
	s.mu.Lock()
	defer s.mu.Unlock()
	groups := map[string]float64{}
	var each []threadCPU
	for _, t := range s.threads {
		groups[digits.ReplaceAllString(t.Name, "")] += t.CPUS
		each = append(each, t)
	}
	var out []threadCPU
	if len(groups) == 1 {
		out = each
	} else {
		for k, v := range groups {
			out = append(out, threadCPU{Name: k, CPUS: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CPUS > out[j].CPUS })
	if len(out) > n {
		out = out[:n]
	}
	for i := range out {
		out[i].CPUS = math.Round(out[i].CPUS*100) / 100
	}
	return out
}

func rusage(ps *os.ProcessState) (cpu, rssMiB float64) {
	if ps == nil {
		return 0, 0
	}
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0, 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime), float64(ru.Maxrss) / 1024 // Maxrss is KiB on Linux
}

// ---------------------------------------------------------------------------
// Java ProducerPerformance

var javaFinal = regexp.MustCompile(`^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, ([\d.]+) ms 50th, ([\d.]+) ms 95th, ([\d.]+) ms 99th, ([\d.]+) ms 99\.9th\.$`)

func (e *env) javaCmd(ctx context.Context, topic string, n int64, size int, rate float64, logw io.Writer) *exec.Cmd {
	args := []string{"-Xmx" + e.cfg.javaHeap, "-cp", e.cp, "org.apache.kafka.tools.ProducerPerformance",
		"--bootstrap-server", e.bootstrap, "--topic", topic,
		"--num-records", strconv.FormatInt(n, 10), "--record-size", strconv.Itoa(size),
		"--throughput", strconv.FormatFloat(rate, 'f', -1, 64),
		"--command-property"}
	args = append(args, e.cfg.producerProps()...)
	cmd := exec.CommandContext(ctx, "java", args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Stderr = logw
	return cmd
}

// javaBaseline runs the Java tool for one record: its JVM start, JIT and
// shutdown cost, which every Java row's CPU includes.
func (e *env) javaBaseline(ctx context.Context) {
	c := benchCase{Size: 100, Mode: "baseline", Rate: -1, Records: 1}
	topic, err := e.newTopic(ctx, c, "javabaseline")
	if err != nil {
		logf("java baseline: %v", err)
		return
	}
	var out bytes.Buffer
	cmd := e.javaCmd(ctx, topic, 1, 100, -1, &out)
	cmd.Stdout = &out
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		logf("java baseline: %v\n%s", err, out.String())
		return
	}
	cpu, rss := rusage(cmd.ProcessState)
	e.javaBase = &result{Case: c, Tool: "java", ClientCPUS: cpu, ClientRSSMiB: rss, WallS: time.Since(t0).Seconds(), Records: 1}
	logf("java baseline (1 record: JVM start, JIT, shutdown): %.2f CPU s, %.0f MiB peak RSS, %.1f s wall", cpu, rss, e.javaBase.WallS)
}

func (e *env) runJava(ctx context.Context, c benchCase) *result {
	r := &result{Case: c, Tool: "java"}
	e.settle(ctx)
	topic, err := e.newTopic(ctx, c, "java")
	if err != nil {
		r.Err = err.Error()
		return r
	}
	r.Topic = topic
	r.Log = filepath.Join(e.tmp, topic+".log")
	logFile, err := os.Create(r.Log)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer logFile.Close()
	var stdout bytes.Buffer
	cmd := e.javaCmd(ctx, topic, c.Records, c.Size, c.Rate, logFile)
	cmd.Stdout = io.MultiWriter(&stdout, logFile)
	w := startWindow(e.brokerPid)
	if err := cmd.Start(); err != nil {
		r.Err = err.Error()
		return r
	}
	s := startSampler(cmd.Process.Pid)
	err = cmd.Wait()
	w.stop()
	s.stop()
	r.ClientCPUS, r.ClientRSSMiB = rusage(cmd.ProcessState)
	r.ClientRunCPUS = r.ClientCPUS
	r.Threads = s.top(5)
	r.BrokerCPUS, r.HostBusyPct, r.HostBusyCPUS, r.WallS = w.BrokerCPU, w.Busy, w.BusyCPU, w.Wall
	if err != nil {
		r.Err = fmt.Sprintf("java: %v (log %s: %s)", err, r.Log, tail(r.Log, 3))
		return r
	}
	var m []string
	for _, line := range strings.Split(stdout.String(), "\n") {
		if mm := javaFinal.FindStringSubmatch(strings.TrimSpace(line)); mm != nil {
			m = mm
		}
	}
	if m == nil {
		r.Err = fmt.Sprintf("no final line in the Java tool's output (log %s)", r.Log)
		return r
	}
	f := func(i int) float64 { v, _ := strconv.ParseFloat(m[i], 64); return v }
	r.Records = int64(f(1))
	r.RecPerSec, r.MBPerSec, r.AvgMs, r.MaxMs, r.P50Ms, r.P99Ms = f(2), f(3), f(4), f(5), f(6), f(8)
	sum, err := e.endOffsetSum(ctx, topic)
	if err != nil {
		r.Delivery = "end offsets: " + err.Error()
		return r
	}
	r.DeliveryOK = sum == r.Records && r.Records == c.Records
	r.Delivery = fmt.Sprintf("acked %d of %d, broker end offsets %d", r.Records, c.Records, sum)
	return r
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// settle pauses between runs so one run's tail (log flushes, GC) does not
// land in the next.
// It then waits (at most --wait-idle) until the host is idle, so that
// other work on a shared machine lands in as few runs as possible.
func (e *env) settle(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(e.cfg.pause):
	}
	if e.cfg.waitIdle <= 0 {
		return
	}
	deadline := time.Now().Add(e.cfg.waitIdle)
	for waited := false; ; waited = true {
		b0, t0 := hostStat()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		b1, t1 := hostStat()
		busy := 0.0
		if t1 > t0 {
			busy = 100 * (b1 - b0) / (t1 - t0)
		}
		if busy < e.cfg.idleBusyPct {
			return
		}
		if time.Now().After(deadline) {
			logf("  host still %.0f%% busy after waiting %v for it to go idle; running anyway", busy, e.cfg.waitIdle)
			return
		}
		if !waited {
			logf("  host %.0f%% busy (other processes); waiting up to %v for it to go idle", busy, e.cfg.waitIdle)
		}
	}
}

// ---------------------------------------------------------------------------
// kperf

var driverErr = regexp.MustCompile(`(?i)driver.*(not supported|supported drivers|unknown)|unknown driver`)

type kperfSummary struct {
	Records       int64   `json:"records"`
	Failed        int64   `json:"failed"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	Target        float64 `json:"target_records_per_sec"`
	LatencyMs     struct {
		Mean, P50, P99, Max float64
	} `json:"latency_ms"`
	ServiceTimeMs struct{ P50, P99 float64 } `json:"service_time_ms"`
	SendDelayMs   struct{ P99 float64 }      `json:"send_delay_ms"`
	Behind        int                        `json:"generator_behind_intervals"`
	DeliveryCheck struct {
		Acked             int64 `json:"acked"`
		BrokerOffsetDelta int64 `json:"broker_offset_delta"`
		OK                bool  `json:"ok"`
	} `json:"delivery_check"`
}

func (e *env) runKperf(ctx context.Context, c benchCase, driver string, workers int) *result {
	r := &result{Case: c, Tool: "kperf", Driver: driver, Workers: workers}
	e.settle(ctx)
	topic, err := e.newTopic(ctx, c, fmt.Sprintf("%s-w%d", driver, workers))
	if err != nil {
		r.Err = err.Error()
		return r
	}
	r.Topic = topic
	r.Log = filepath.Join(e.tmp, topic+".log")
	logFile, err := os.Create(r.Log)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer logFile.Close()

	// A fresh agent per run: its peak RSS is this run's.
	ready := filepath.Join(e.tmp, topic+".addr")
	agent := exec.Command(e.agentBin, "--listen", "127.0.0.1:0", "--ready-file", ready, "--log-level", "warn")
	agent.Stdout, agent.Stderr = logFile, logFile
	if err := agent.Start(); err != nil {
		r.Err = "kperf-agent: " + err.Error()
		return r
	}
	agentExited := make(chan error, 1)
	go func() { agentExited <- agent.Wait() }()
	stopped := false
	stopAgent := func() {
		if stopped {
			return
		}
		stopped = true
		_ = agent.Process.Signal(syscall.SIGTERM)
		select {
		case <-agentExited:
		case <-time.After(15 * time.Second):
			_ = agent.Process.Kill()
			<-agentExited
		}
	}
	defer stopAgent()
	var addr string
	for deadline := time.Now().Add(15 * time.Second); ; {
		if b, err := os.ReadFile(ready); err == nil && strings.HasSuffix(string(b), "\n") {
			addr = strings.TrimSpace(string(b))
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.Err = fmt.Sprintf("kperf-agent not ready (log %s: %s)", r.Log, tail(r.Log, 3))
			return r
		}
		select {
		case err := <-agentExited:
			stopped = true
			r.Err = fmt.Sprintf("kperf-agent exited: %v (%s)", err, tail(r.Log, 3))
			return r
		case <-time.After(20 * time.Millisecond):
		}
	}

	out := filepath.Join(e.tmp, topic)
	args := []string{"run", "--agents", addr, "--bootstrap-servers", e.bootstrap, "--topic", topic,
		"--num-records", strconv.FormatInt(c.Records, 10), "--record-size", strconv.Itoa(c.Size),
		"--throughput", strconv.FormatFloat(c.Rate, 'f', -1, 64), "--workers", strconv.Itoa(workers),
		"--driver", driver, "--partitions", strconv.Itoa(e.cfg.partitions), "--replication-factor", "1",
		"--out", out, "--producer-props"}
	args = append(args, e.cfg.producerProps()...)
	ctrl := exec.CommandContext(ctx, e.ctrlBin, args...)
	ctrl.Cancel = func() error { return ctrl.Process.Signal(syscall.SIGTERM) }
	ctrl.WaitDelay = 15 * time.Second
	var ctrlErr bytes.Buffer
	ctrl.Stdout = logFile
	ctrl.Stderr = io.MultiWriter(logFile, &ctrlErr)

	s := startSampler(agent.Process.Pid)
	agentCPU0 := pidCPU(agent.Process.Pid)
	w := startWindow(e.brokerPid)
	err = ctrl.Run()
	w.stop()
	r.ClientRunCPUS = pidCPU(agent.Process.Pid) - agentCPU0
	s.sample()
	s.stop()
	r.Threads = s.top(5)
	r.ControllerCPU, _ = rusage(ctrl.ProcessState)
	r.BrokerCPUS, r.HostBusyPct, r.HostBusyCPUS, r.WallS = w.BrokerCPU, w.Busy, w.BusyCPU, w.Wall
	stopAgent()
	r.ClientCPUS, r.ClientRSSMiB = rusage(agent.ProcessState)
	if err != nil {
		if msg := strings.TrimSpace(ctrlErr.String()); driverErr.MatchString(msg) && strings.Contains(msg, driver) {
			r.NA = driver + " driver not available"
			logf("  (kperf-controller: %s)", lastLine([]byte(msg)))
			return r
		}
		r.Err = fmt.Sprintf("kperf-controller: %v (log %s: %s)", err, r.Log, tail(r.Log, 3))
		// a failed delivery check still writes summary.json: read it below
		if _, statErr := os.Stat(filepath.Join(out, "summary.json")); statErr != nil {
			return r
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		r.Err = "summary.json: " + err.Error()
		return r
	}
	var sum kperfSummary
	if err := json.Unmarshal(b, &sum); err != nil {
		r.Err = "summary.json: " + err.Error()
		return r
	}
	r.Records, r.RecPerSec, r.MBPerSec = sum.Records, sum.RecordsPerSec, sum.MBPerSec
	r.AvgMs, r.P50Ms, r.P99Ms, r.MaxMs = sum.LatencyMs.Mean, sum.LatencyMs.P50, sum.LatencyMs.P99, sum.LatencyMs.Max
	r.ServiceP50, r.ServiceP99, r.SendDlyP99 = sum.ServiceTimeMs.P50, sum.ServiceTimeMs.P99, sum.SendDelayMs.P99
	r.Behind = sum.Behind
	r.DeliveryOK = sum.DeliveryCheck.OK && sum.Records == c.Records && sum.Failed == 0
	r.Delivery = fmt.Sprintf("acked %d of %d (failed %d), broker offset delta %d, kperf check ok=%v",
		sum.DeliveryCheck.Acked, c.Records, sum.Failed, sum.DeliveryCheck.BrokerOffsetDelta, sum.DeliveryCheck.OK)
	return r
}

// ---------------------------------------------------------------------------
// report

// rows returns the table rows: per case, java, the 1-worker kperf rows,
// then the best multi-worker row.
func rows(all []*result) [][]*result {
	var out [][]*result
	var cur []*result
	var last benchCase
	for _, r := range all {
		if len(cur) > 0 && r.Case != last {
			out = append(out, cur)
			cur = nil
		}
		last = r.Case
		cur = append(cur, r)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	for i, rs := range out {
		var keep []*result
		var best *result
		for _, r := range rs {
			if r.Tool == "kperf" && r.Workers > 1 {
				if best == nil || (r.ok() && (!best.ok() || r.RecPerSec > best.RecPerSec)) {
					best = r
				}
				continue
			}
			keep = append(keep, r)
		}
		if best != nil {
			keep = append(keep, best)
		}
		out[i] = keep
	}
	return out
}

var header = []string{"case", "tool", "records/s", "MB/s", "client CPU s/M rec", "client peak RSS MiB",
	"p50 ms", "p99 ms", "max ms", "delivery ok", "thr× java", "CPU/rec× java", "RSS× java", "broker CPU s/M rec", "host busy %", "other procs cores"}

func cells(r, java *result, multi bool) []string {
	label := r.label()
	if multi {
		label += " (best of multi)"
	}
	c := []string{r.Case.name(), label}
	if r.NA != "" {
		return append(c, "n/a ("+r.NA+")", "", "", "", "", "", "", "", "", "", "", "", "", "")
	}
	if r.Err != "" && r.Records == 0 {
		return append(c, "FAILED", "", "", "", "", "", "", "", "", "", "", "", "", "")
	}
	ok := "yes"
	if !r.DeliveryOK {
		ok = "NO"
	}
	c = append(c, fmt.Sprintf("%.0f", r.RecPerSec), fmt.Sprintf("%.2f", r.MBPerSec),
		fmt.Sprintf("%.2f", r.cpuPerM()), fmt.Sprintf("%.0f", r.ClientRSSMiB),
		ms(r.P50Ms), ms(r.P99Ms), ms(r.MaxMs), ok)
	if r.Tool == "kperf" && java != nil && java.ok() {
		c = append(c, ratio(r.RecPerSec, java.RecPerSec), ratio(r.cpuPerM(), java.cpuPerM()), ratio(r.ClientRSSMiB, java.ClientRSSMiB))
	} else {
		c = append(c, "", "", "")
	}
	brokerPerM := "-"
	if r.Records > 0 && r.BrokerCPUS > 0 {
		brokerPerM = fmt.Sprintf("%.2f", r.BrokerCPUS/float64(r.Records)*1e6)
	}
	other := "-"
	if r.WallS > 0 {
		other = fmt.Sprintf("%.2f", r.otherCPU()/r.WallS)
	}
	return append(c, brokerPerM, fmt.Sprintf("%.0f", r.HostBusyPct), other)
}

// otherCPU is the CPU time of every other process on the host (other
// users' work, kernel threads) during the run.
func (r *result) otherCPU() float64 {
	return math.Max(0, r.HostBusyCPUS-r.ClientRunCPUS-r.BrokerCPUS-r.ControllerCPU)
}

func ms(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func tableRows(all []*result) [][]string {
	var out [][]string
	for _, rs := range rows(all) {
		var java *result
		for _, r := range rs {
			if r.Tool == "java" {
				java = r
			}
		}
		for _, r := range rs {
			out = append(out, cells(r, java, r.Workers > 1))
		}
	}
	return out
}

func (e *env) textTable(all []*result) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, row := range tableRows(all) {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	return b.String()
}

func (e *env) report(all []*result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# kperf vs Kafka ProducerPerformance — %s\n\n", e.stamp)
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "Host %s, %d CPUs, %s; Kafka %s at %s (one broker; broker, client and controller share the CPUs). ",
		host, runtime.NumCPU(), cpuModel(), kafkaVersion(), e.bootstrap)
	fmt.Fprintf(&b, "Producer properties for every tool: `%s`; fresh topic per run, %d partitions, replication factor 1. Command: `%s`.\n\n",
		strings.Join(e.cfg.producerProps(), " "), e.cfg.partitions, strings.TrimSpace("bench/compare "+strings.Join(os.Args[1:], " ")))
	fmt.Fprintln(&b, "| "+strings.Join(header, " | ")+" |")
	seps := make([]string, len(header))
	for i := range seps {
		seps[i] = "---"
		if i >= 2 {
			seps[i] = "---:"
		}
	}
	fmt.Fprintln(&b, "|"+strings.Join(seps, "|")+"|")
	for _, row := range tableRows(all) {
		fmt.Fprintln(&b, "| "+strings.Join(row, " | ")+" |")
	}
	b.WriteString("\n")
	b.WriteString(e.notes(all, true))
	b.WriteString("\n## Every run\n\n")
	fmt.Fprintln(&b, "| case | tool | records | wall s | records/s | client CPU s (run window) | client cores | broker CPU s | broker cores | controller CPU s | host busy % | other processes CPU s | avg / p50 / p99 / max ms | kperf service p50 / p99 ms | send delay p99 ms | behind intervals | delivery | busiest client threads (CPU s) |")
	fmt.Fprintln(&b, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---|---|")
	for _, r := range all {
		if r.NA != "" {
			fmt.Fprintf(&b, "| %s | %s | n/a (%s) ||||||||||||||||\n", r.Case.name(), r.label(), r.NA)
			continue
		}
		var th []string
		for _, t := range r.Threads {
			th = append(th, fmt.Sprintf("%s %.2f", t.Name, t.CPUS))
		}
		svc, sd, ctl, behind := "", "", "", ""
		if r.Tool == "kperf" {
			svc = fmt.Sprintf("%s / %s", ms(r.ServiceP50), ms(r.ServiceP99))
			sd = ms(r.SendDlyP99)
			ctl = fmt.Sprintf("%.2f", r.ControllerCPU)
			behind = strconv.Itoa(r.Behind)
		}
		del := r.Delivery
		if r.Err != "" {
			del = "FAILED: " + r.Err
		}
		cores := func(cpu float64) string {
			if r.WallS == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", cpu/r.WallS)
		}
		other := r.otherCPU()
		fmt.Fprintf(&b, "| %s | %s | %d | %.1f | %.0f | %.2f (%.2f) | %s | %.2f | %s | %s | %.0f | %.2f | %s / %s / %s / %s | %s | %s | %s | %s | %s |\n",
			r.Case.name(), r.label(), r.Records, r.WallS, r.RecPerSec, r.ClientCPUS, r.ClientRunCPUS, cores(r.ClientRunCPUS),
			r.BrokerCPUS, cores(r.BrokerCPUS), ctl, r.HostBusyPct, other, ms(r.AvgMs), ms(r.P50Ms), ms(r.P99Ms), ms(r.MaxMs),
			svc, sd, behind, del, strings.Join(th, ", "))
	}
	return b.String()
}

// notes are the lines under the table.
func (e *env) notes(all []*result, md bool) string {
	var b strings.Builder
	bullet := ""
	if md {
		bullet = "- "
	}
	line := func(format string, args ...any) { fmt.Fprintf(&b, bullet+format+"\n", args...) }
	line("The Java tool times latency from send(); kperf from each record's intended send time (unlimited mode: from hand-off, the same as send()).")
	line("Client = the measured process only: the java process, or the kperf agent (a fresh one per run; not the controller, which only merges). CPU = user+system over the process's whole life (rusage of the child), per million records; RSS = its peak (ru_maxrss). Broker CPU and host busy %% cover the same window.")
	if e.javaBase != nil {
		line("Java's CPU includes JVM start, JIT and shutdown: a 1-record run costs %.2f CPU s and %.0f MiB peak RSS (%.1f s wall).",
			e.javaBase.ClientCPUS, e.javaBase.ClientRSSMiB, e.javaBase.WallS)
	}
	line("%d CPUs on this host: the broker, the client and (for kperf) the controller compete for them; host busy %% near 100 means the machine, not the tool, was the limit. \"other procs cores\" = CPU of everything else on the host (other users' work, kernel threads) ÷ wall time: noise.", runtime.NumCPU())
	line("\"thr× java\" = records/s ÷ the Java row's; \"CPU/rec× java\" = client CPU per record ÷ Java's (below 1: kperf is cheaper); \"RSS× java\" = peak RSS ÷ Java's.")
	// multi-worker detail
	for _, rs := range groupByCase(all) {
		var parts []string
		for _, r := range rs {
			if r.Tool == "kperf" && r.Workers > 1 {
				if r.ok() {
					parts = append(parts, fmt.Sprintf("%d workers %.0f rec/s", r.Workers, r.RecPerSec))
				} else {
					parts = append(parts, fmt.Sprintf("%d workers failed", r.Workers))
				}
			}
		}
		if len(parts) > 0 {
			line("%s, multi-worker runs (%s driver): %s.", rs[0].Case.name(), multiDriver(rs), strings.Join(parts, ", "))
		}
	}
	// fixed-rate check
	for _, r := range all {
		if r.Case.Rate > 0 && r.NA == "" && r.Records > 0 {
			pct := 100 * r.RecPerSec / r.Case.Rate
			verdict := "within 1%"
			if math.Abs(pct-100) > 1 {
				verdict = "NOT within 1%"
			}
			line("%s, %s: achieved %.1f rec/s = %.2f%% of the %.0f target (%s).", r.Case.name(), r.label(), r.RecPerSec, pct, r.Case.Rate, verdict)
		}
	}
	return b.String()
}

func multiDriver(rs []*result) string {
	for _, r := range rs {
		if r.Workers > 1 {
			return r.Driver
		}
	}
	return ""
}

func groupByCase(all []*result) [][]*result {
	var out [][]*result
	idx := map[benchCase]int{}
	for _, r := range all {
		i, ok := idx[r.Case]
		if !ok {
			i = len(out)
			idx[r.Case] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], r)
	}
	return out
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func kafkaVersion() string {
	out, err := exec.Command("scripts/kafka", "version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

func (e *env) configDoc() map[string]any {
	c := e.cfg
	tools := slices.Sorted(maps.Keys(c.tools))
	return map[string]any{
		"sizes": c.sizes, "records": c.records, "rates": c.rates, "rate_seconds": c.rateSeconds,
		"rate_records": c.rateRecords, "modes": c.modes, "producer_props": c.producerProps(),
		"partitions": c.partitions, "tools": tools, "workers": c.workers, "multi_fixed": c.multiFixed,
		"java_heap": c.javaHeap, "bootstrap": e.bootstrap, "cpus": runtime.NumCPU(), "cpu_model": cpuModel(),
		"args": os.Args[1:],
	}
}
