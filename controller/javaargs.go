package controller

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"
)

// javaToolProps merges the client properties of a Java perf tool's command
// line, later over earlier: the file of --command-config (or of its older
// name oldConfig, e.g. "producer.config"; both given must agree), the
// --command-property k=v pairs (each accepted by valid), then
// --bootstrap-server. vals are the options given, by name.
func javaToolProps(vals map[string]string, oldConfig string, cmdProps []string, valid func(k, v string) bool) (map[string]string, error) {
	props := map[string]string{}
	file, fileGiven := vals["command-config"]
	if f, ok := vals[oldConfig]; ok {
		if fileGiven && f != file {
			return nil, fmt.Errorf("give one of --%s and --command-config", oldConfig)
		}
		file, fileGiven = f, true
	}
	if fileGiven {
		fp, err := ReadJavaProperties(file)
		if err != nil {
			return nil, fmt.Errorf("--command-config: %w", err)
		}
		maps.Copy(props, fp)
	}
	for _, kv := range cmdProps {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !valid(k, v) {
			return nil, fmt.Errorf("--command-property: invalid property %q: want PROP-NAME=PROP-VALUE", kv)
		}
		props[k] = v
	}
	if b, ok := vals["bootstrap-server"]; ok {
		props["bootstrap.servers"] = b
	}
	return props, nil
}

// javaToolBootstrap returns the bootstrap.servers of a Java perf tool's
// properties, which it requires.
func javaToolBootstrap(props map[string]string) (string, error) {
	b := strings.TrimSpace(props["bootstrap.servers"])
	if b == "" {
		return "", errors.New("no bootstrap servers: give --bootstrap-server, or bootstrap.servers in --command-property or --command-config")
	}
	return b, nil
}

// parseNumRecords reads a Java perf tool's --num-records.
func parseNumRecords(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("--num-records %q: want a number of records greater than zero", v)
	}
	return n, nil
}

// parseReportingInterval reads a Java perf tool's --reporting-interval
// (milliseconds, 100 ms to a day).
func parseReportingInterval(v string) (time.Duration, error) {
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 100 || ms > 24*3600*1000 {
		return 0, fmt.Errorf("--reporting-interval %q: want milliseconds, at least 100", v)
	}
	return time.Duration(ms) * time.Millisecond, nil
}
