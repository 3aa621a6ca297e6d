package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kperf/kperf/controller"
	"github.com/kperf/kperf/controller/htmlreport"
)

func reportCmd(args []string) int { return reportMain(args, os.Stderr) }

// reportMain runs the report command with its messages on stderr (flag
// errors go to os.Stderr, as for every command).
func reportMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	out := fs.String("out", "compare.html", "with two directories: the comparison's HTML file")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: kperf-controller report [flags] RESULTS_DIR [RESULTS_DIR_B]

With one directory (a run's or a sweep's --out), writes RESULTS_DIR/report.html,
a self-contained page (charts as inline SVG, no network needed), and each
chart as RESULTS_DIR/charts/NAME.svg.

With two, compares them (A = RESULTS_DIR, B = RESULTS_DIR_B; sweeps step by
step, matched by folder name) into --out, default compare.html in the
current directory.

Flags:
`)
		fs.PrintDefaults()
	}
	// Flags may come before or after the directories.
	var dirs []string
	rest := args
	for {
		if code, ok := parseFlags(fs, rest); !ok {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		dirs = append(dirs, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	outGiven := false
	fs.Visit(func(f *flag.Flag) { outGiven = outGiven || f.Name == "out" })
	switch {
	case len(dirs) == 0:
		return usageErr("report: give RESULTS_DIR (see 'kperf-controller report -h')")
	case len(dirs) > 2:
		return usageErr("report: unexpected argument %q: give one results directory, or two to compare", dirs[2])
	case len(dirs) == 1 && outGiven:
		return usageErr("report: --out is for comparing two directories; one directory's report is RESULTS_DIR/report.html")
	}
	if len(dirs) == 2 {
		if err := htmlreport.Compare(dirs[0], dirs[1], *out); err != nil {
			return reportFail(stderr, err)
		}
		fmt.Fprintf(stderr, "comparison in %s\n", *out)
		return exitOK
	}
	path, err := htmlreport.Write(dirs[0])
	if err != nil {
		return reportFail(stderr, err)
	}
	fmt.Fprintf(stderr, "report in %s\n", path)
	return exitOK
}

func reportFail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "kperf-controller: report: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
	return exitFailed
}

// reportAtEnd gives *out the default results directory when empty (as
// controller.Run and RunSweep would, so the report knows where the results
// are) and returns a function, to defer, that writes report.html there when
// the run or sweep succeeded. A report that fails is a warning on stderr.
func reportAtEnd(out *string) func() {
	if *out == "" {
		*out = controller.DefaultOutDir(time.Now())
	}
	dir := *out
	return func() {
		defer func() {
			// The run's outcome stands whatever the report does.
			if p := recover(); p != nil {
				fmt.Fprintf(os.Stderr, "kperf-controller: warning: report: %v\n", p)
			}
		}()
		if !htmlreport.Succeeded(dir) {
			return
		}
		path, err := htmlreport.Write(dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kperf-controller: warning: report: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
			return
		}
		fmt.Fprintf(os.Stderr, "report in %s\n", path)
	}
}
