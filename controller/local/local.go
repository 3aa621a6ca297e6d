// Package local runs kperf's embedded default: an in-process
// Kafka-protocol broker (franz-go's kfake) and agents serving on loopback
// gRPC in this process. It is a demo and a fast fixture, not a benchmark
// target: kfake is slow and keeps every record in memory.
package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kperf/kperf/agent"
)

// Env is a running local environment.
type Env struct {
	// Bootstrap is the broker's address list, comma separated.
	Bootstrap string
	// Agents are the agents' gRPC addresses.
	Agents []string

	cluster *kfake.Cluster
	cancel  context.CancelFunc
	done    []chan error
}

// Start starts n agents on 127.0.0.1 and, when withBroker, a kfake broker.
func Start(n int, withBroker bool, version string, log hclog.Logger) (*Env, error) {
	if n < 1 {
		return nil, fmt.Errorf("--local %d: want at least 1 agent", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Env{cancel: cancel}
	if withBroker {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			cancel()
			return nil, fmt.Errorf("start in-process broker: %w", err)
		}
		e.cluster, e.Bootstrap = c, strings.Join(c.ListenAddrs(), ",")
	}
	for i := range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("local agent %d: %w", i, err)
		}
		srv := agent.New(agent.WithLogger(log.Named(fmt.Sprintf("agent-%d", i))), agent.WithVersion(version))
		done := make(chan error, 1)
		go func() { done <- agent.Serve(ctx, lis, srv) }()
		e.done = append(e.done, done)
		e.Agents = append(e.Agents, lis.Addr().String())
	}
	return e, nil
}

// Close stops the agents and the broker.
func (e *Env) Close() error {
	e.cancel()
	var errs []error
	for _, d := range e.done {
		errs = append(errs, <-d)
	}
	if e.cluster != nil {
		e.cluster.Close()
	}
	return errors.Join(errs...)
}
