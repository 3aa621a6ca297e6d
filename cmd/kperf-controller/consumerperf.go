package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kperf/kperf/controller"
	"github.com/kperf/kperf/controller/report"
)

const consumerPerfUsage = `Usage: kperf-controller consumer-perf-test --topic TOPIC --num-records N
           --bootstrap-server B [--group G] [--fetch-size BYTES] [--from-latest]
           [--timeout MS] [--show-detailed-stats] [--reporting-interval MS]
           [--hide-header] [--date-format FORMAT] [--print-metrics]
           [--command-property k=v]... [--command-config FILE]
           [--agents host:port,...] [--driver sarama|franz] [--out DIR]

A drop-in for kafka-consumer-perf-test (Kafka 4.x): it takes the Java tool's
flags and prints its CSV header and rows on stdout, and nothing else there
(the consume summary and checks go to stderr):

  start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec

then one summary row, or with --show-detailed-stats one row per reporting
interval with records (time, threadId, ...) instead. The time runs from when
the consumer began joining the group to its last record; rebalance.time.ms
is the join plus rebalances, fetch.time.ms the rest.

Without --agents one consumer runs in this process; with --agents each agent
runs one consumer, all in the group, and the run stops once together they
consumed --num-records. Results (summary.json, intervals.csv) go to --out
(default results/<timestamp>). Exit 0 ok (also when the timeout ended the
run early, as the Java tool), 1 run failed, 2 bad flags.

Flags (--name value or --name=value; unambiguous prefixes work):
  --topic TOPIC                consume from this topic
  --num-records N              records to consume (also --messages, deprecated). kperf stops at
                               exactly N; the Java tool counts its whole last poll
  --bootstrap-server B         Kafka bootstrap servers
  --group G                    consumer group (default perf-consumer-<random>)
  --fetch-size BYTES           max.partition.fetch.bytes (default 1048576)
  --from-latest                start at the end of the log without committed offsets (default: earliest)
  --timeout MS                 stop after this long without records (default 10000)
  --show-detailed-stats        a row per reporting interval instead of the summary row
  --reporting-interval MS      default 5000
  --date-format FORMAT         java.text.SimpleDateFormat pattern (default yyyy-MM-dd HH:mm:ss:SSS)
  --hide-header                no header row
  --print-metrics              print kperf's consume metrics as "name : value" lines at the end
  --command-property k=v       a consumer property (Java names; repeat the flag), over
                               --command-config's; security.protocol, sasl.*, ssl.* work
  --command-config FILE        Java properties file (also --consumer.config)
  --socket-buffer-size BYTES   accepted and ignored (the drivers size their own buffers)
  --agents host:port,...       kperf agents (default: one in this process)
  --driver sarama|franz        Kafka client of the consumers (default sarama)
  --out DIR                    results directory
Not supported (exit 2): --include.
`

func consumerPerfCmd(args []string) int {
	ctx, stop := signalContext()
	defer stop()
	return consumerPerf(ctx, args, os.Stdout, os.Stderr)
}

// consumerPerf runs consumer-perf-test with its CSV on stdout and
// everything else on stderr, and returns the exit code.
func consumerPerf(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	tool := javaTool{name: "consumer-perf-test", stderr: stderr}
	errf := tool.errf
	cp, err := controller.ParseConsumerPerf(args)
	switch {
	case err != nil:
		return tool.usageErr(err)
	case cp.Help:
		fmt.Fprint(stdout, consumerPerfUsage)
		return exitOK
	case cp.Version:
		fmt.Fprintln(stdout, version)
		return exitOK
	}
	if _, err := controller.Resolve(cp.Spec); err != nil {
		return errf(exitUsage, "%v", err)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "kperf-controller", Level: hclog.Warn, Output: stderr})
	agents := cp.Agents
	if !cp.AgentsGiven {
		env, code := tool.startLocal(log, cp.Spec.GetBootstrapServers())
		if env == nil {
			return code
		}
		defer env.Close()
		agents = env.Agents
	}
	for _, w := range cp.Warnings {
		fmt.Fprintln(stdout, w)
	}
	if !cp.HideHeader {
		fmt.Fprintln(stdout, report.ConsumerPerfHeader(cp.Detailed))
	}
	var rows detailRows
	opts := controller.Options{Agents: agents, OutDir: cp.OutDir, Stdout: io.Discard, Details: stderr, Log: log, Version: version}
	if cp.Detailed {
		opts.Intervals = func(iv *report.Interval) { rows.add(stdout, iv, cp.DateFormat) }
	}
	s, err := controller.Run(ctx, cp.Spec, opts)
	finished := time.Now()
	if code, done := tool.runExit(ctx, err); done {
		return code
	}
	if s.Consume.Records < cp.NumRecords {
		fmt.Fprintln(stdout, report.ConsumerPerfTimeoutWarning(cp.TimeoutMs))
	}
	if !cp.Detailed {
		t, err := controller.ConsumerPerfTotals(s, finished)
		if err != nil {
			return errf(exitFailed, "%v", err)
		}
		fmt.Fprintln(stdout, report.ConsumerPerfRow(t, cp.DateFormat))
	}
	if cp.PrintMetrics {
		report.PrintConsumeMetrics(stdout, s.Consume)
	}
	if s.Interrupted {
		return exitInterrupted
	}
	return exitOK
}

// detailRows prints --show-detailed-stats rows from merged intervals.
type detailRows struct {
	bytes, records int64
	lastEndS       float64
	started        bool
}

func (d *detailRows) add(w io.Writer, iv *report.Interval, df *report.DateFormat) {
	c := iv.Consume
	if c == nil {
		return
	}
	d.bytes += c.Bytes
	d.records += c.Records
	if c.Records == 0 {
		if !d.started {
			d.lastEndS = iv.EndS // the Java tool times rows from its first records' poll loop
		}
		return
	}
	d.started = true
	elapsed := time.Duration((iv.EndS - d.lastEndS) * float64(time.Second))
	d.lastEndS = iv.EndS
	at := time.Now()
	fmt.Fprintln(w, report.ConsumerPerfDetailRow(report.ConsumerPerfProgress{
		At: at, Elapsed: elapsed, TotalBytes: d.bytes, TotalRecords: d.records, Bytes: c.Bytes, Records: c.Records,
		RebalanceMs: int64(c.RebalanceMs),
	}, df))
}
