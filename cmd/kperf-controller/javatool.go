package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/kperf/kperf/controller"
	"github.com/kperf/kperf/controller/local"
)

// javaTool holds what the Java-compatible commands (producer-perf-test,
// consumer-perf-test) share: their one-line errors on stderr, the agent
// they start in this process and the exit code of a run.
type javaTool struct {
	name   string // the subcommand, e.g. "producer-perf-test"
	stderr io.Writer
	// partial makes controller.ErrPartial exit 3 (exitPartial) rather than 1.
	partial bool
}

// errf prints a one-line error naming the command and returns code.
func (t javaTool) errf(code int, format string, a ...any) int {
	msg := strings.ReplaceAll(fmt.Sprintf(format, a...), "\n", "; ")
	fmt.Fprintf(t.stderr, "kperf-controller %s: %s\n", t.name, msg)
	return code
}

// usageErr reports a flag error with a hint to the command's -h and
// returns exitUsage.
func (t javaTool) usageErr(err error) int {
	return t.errf(exitUsage, "%v (see 'kperf-controller %s -h')", err, t.name)
}

// startLocal starts one agent in this process for a run against bootstrap.
// On failure it prints the error and returns a nil Env with exitFailed.
func (t javaTool) startLocal(log hclog.Logger, bootstrap string) (*local.Env, int) {
	env, err := local.Start(1, false, version, log)
	if err != nil {
		return nil, t.errf(exitFailed, "%v", err)
	}
	fmt.Fprintf(t.stderr, "local: 1 agent in this process, bootstrap %s\n", bootstrap)
	return env, exitOK
}

// runExit maps the error of controller.Run to an exit code, printing the
// error: 130 when interrupted, 2 for a plan that cannot run, 3 for a
// partial result when t.partial, 1 for another error. done is false when
// the run neither failed nor was interrupted, and the caller goes on.
func (t javaTool) runExit(ctx context.Context, err error) (code int, done bool) {
	var pe *controller.PlanError
	switch {
	case ctx.Err() != nil:
		if err != nil {
			t.errf(exitFailed, "%v", err)
		}
		return exitInterrupted, true
	case errors.As(err, &pe):
		return t.errf(exitUsage, "%v", err), true
	case t.partial && errors.Is(err, controller.ErrPartial):
		return t.errf(exitPartial, "%v", err), true
	case err != nil:
		return t.errf(exitFailed, "%v", err), true
	}
	return exitOK, false
}
