// Command kperf-controller runs kperf load tests across kperf agents and
// reports merged throughput and latency.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	// exitPartial: some agent was lost or shut down mid-run and the plan
	// does not set allow_partial; the results are written all the same.
	exitPartial     = 3
	exitInterrupted = 130
)

var commands = map[string]struct {
	run  func(args []string) int
	help string
}{
	"run":                {runCmd, "run a test plan across agents (or --local N in this process)"},
	"producer-perf-test": {perfTestCmd, "a drop-in for kafka-producer-perf-test: its flags, its output lines"},
	"report":             {reportCmd, "write report.html with charts for a results directory, or compare two"},
	"max-rate":           {maxRateCmd, "find the highest rate achieved within tolerance with p99 under --p99-max"},
	"agents":             {agentsCmd, "list agents with their version, host and cores, and check their health"},
	"version":            {func([]string) int { fmt.Println(version); return exitOK }, "print the version"},
}

func usage() {
	fmt.Fprintf(os.Stderr, "Usage: kperf-controller COMMAND [flags]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-19s %s\n", n, commands[n].help)
	}
	fmt.Fprintf(os.Stderr, "\nExamples:\n  kperf-controller run --local 3\n  kperf-controller run --agents h1:7070,h2:7070 --bootstrap-servers b1:9092 -f plan.yaml\n  kperf-controller agents --agents h1:7070,h2:7070\n\nRun 'kperf-controller COMMAND -h' for a command's flags.\n")
}

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		if len(os.Args) >= 2 && (os.Args[1] == "-h" || os.Args[1] == "--help") {
			usage()
			os.Exit(exitOK)
		}
		usage()
		os.Exit(exitUsage)
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "kperf-controller: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(exitUsage)
	}
	os.Exit(c.run(os.Args[2:]))
}
