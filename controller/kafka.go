package controller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kperf/kperf/agent/producer"
	"github.com/kperf/kperf/internal/props"
)

// admin does the controller's own Kafka work: topic setup and end offsets.
type admin struct {
	cl  *kgo.Client
	adm *kadm.Client
}

// adminTimeout bounds each admin step, so an unreachable broker is an
// error, not a hang.
const adminTimeout = 15 * time.Second

// newAdmin makes the admin client. It connects as the agents' producers
// do: with the plan's security settings (security.protocol, sasl.*, ssl.*
// in producer_props), reading the PEM files they name on this machine.
func newAdmin(brokers []string, sec props.Security) (*admin, error) {
	secOpts, err := producer.FranzSecurityOpts(sec)
	if err != nil {
		return nil, &PlanError{fmt.Errorf("plan key producer_props: %w", err)}
	}
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.DialTimeout(5 * time.Second), kgo.RequestRetries(2),
		kgo.MetadataMinAge(50 * time.Millisecond)} // fresh metadata while waiting for a new topic
	cl, err := kgo.NewClient(append(opts, secOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return &admin{cl: cl, adm: kadm.NewClient(cl)}, nil
}

func (a *admin) close() { a.cl.Close() }

// ensureTopic creates the topic when it is missing, waits until every
// partition has a leader, and returns its partition count and
// max.message.bytes.
func (a *admin) ensureTopic(ctx context.Context, topic string, partitions int32, rf int16, configs map[string]string) (int, int, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	md, err := a.adm.Metadata(ctx, topic)
	if err != nil {
		return 0, 0, connectError(err)
	}
	td := md.Topics[topic]
	if errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		cfg := map[string]*string{}
		for k, v := range configs {
			cfg[k] = &v
		}
		resp, err := a.adm.CreateTopic(ctx, partitions, rf, cfg, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			if resp.ErrMessage != "" {
				err = fmt.Errorf("%w (%s)", err, resp.ErrMessage)
			}
			return 0, 0, fmt.Errorf("create topic %s (partitions %d, replication factor %d): %w", topic, partitions, rf, err)
		}
	} else if td.Err != nil {
		return 0, 0, fmt.Errorf("topic %s: %w", topic, td.Err)
	}
	// Wait until the topic is visible with a leader for every partition and,
	// for a while, until every replica is in sync: a new topic's followers
	// lag at first, and acks=all with min.insync.replicas would fail records
	// that the test did not mean to fail.
	inSyncBy := time.Now().Add(adminTimeout / 2)
	for {
		md, err = a.adm.Metadata(ctx, topic)
		if err == nil {
			td = md.Topics[topic]
			if td.Err == nil && len(td.Partitions) > 0 && allLed(td.Partitions) &&
				(allInSync(td.Partitions) || time.Now().After(inSyncBy)) {
				break
			}
		}
		select {
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("topic %s has no leader for every partition after %v", topic, adminTimeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
	maxBytes := 1048588 // Kafka's default message.max.bytes
	rc, err := a.adm.DescribeTopicConfigs(ctx, topic)
	if err == nil {
		if r, err := rc.On(topic, nil); err == nil {
			for _, c := range r.Configs {
				if c.Key == "max.message.bytes" && c.Value != nil {
					if n, err := strconv.Atoi(*c.Value); err == nil {
						maxBytes = n
					}
				}
			}
		}
	}
	return len(td.Partitions), maxBytes, nil
}

// connectError words a failed first contact with Kafka: refused
// credentials and failed TLS handshakes point at the properties to check.
func connectError(err error) error {
	var verify *tls.CertificateVerificationError
	var op *net.OpError // a TLS alert from the broker is a "remote error"
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return fmt.Errorf("authentication failed (check the producer properties sasl.mechanism and sasl.jaas.config): %w", err)
	case errors.As(err, &verify) || errors.As(err, &op) && op.Op == "remote error":
		return fmt.Errorf("TLS handshake failed (check the producer properties security.protocol and ssl.*): %w", err)
	}
	return fmt.Errorf("kafka unreachable: %w", err)
}

func allLed(ps kadm.PartitionDetails) bool {
	for _, p := range ps {
		if p.Leader < 0 || p.Err != nil {
			return false
		}
	}
	return true
}

func allInSync(ps kadm.PartitionDetails) bool {
	for _, p := range ps {
		if len(p.ISR) < len(p.Replicas) {
			return false
		}
	}
	return true
}

// endOffsets returns the sum of the topic's partition end offsets. Retriable
// Kafka errors (a leader that moved, metadata not yet current on a new
// topic) are retried until adminTimeout.
func (a *admin) endOffsets(ctx context.Context, topic string) (int64, error) {
	offsets, err := a.partitionOffsets(ctx, topic, true)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, o := range offsets {
		sum += o
	}
	return sum, nil
}

// retryRetriable calls f until it returns nil or an error Kafka does not
// call retriable (a coordinator still loading, a leader moving), every
// 100 ms, for at most adminTimeout.
func retryRetriable(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	for {
		err := f(ctx)
		if err == nil || !kerr.IsRetriable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still failing after %v: %w", adminTimeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// settledEndOffsets waits for the topic's end offsets to reach before+want,
// or to stop moving for settleQuiet, and returns them. Acks can precede the
// end offsets: with acks=0 the broker may still be appending, and the high
// watermark follows the leader's log once followers catch up.
func (a *admin) settledEndOffsets(ctx context.Context, topic string, before, want int64) (int64, error) {
	deadline := time.Now().Add(settleMax)
	last, err := a.endOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	stableSince := time.Now()
	for last-before != want && time.Since(stableSince) < settleQuiet && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return last, nil
		case <-time.After(100 * time.Millisecond):
		}
		cur, err := a.endOffsets(ctx, topic)
		if err != nil {
			return 0, err
		}
		if cur != last {
			last, stableSince = cur, time.Now()
		}
	}
	return last, nil
}

// How long the delivery check waits for end offsets to settle.
const (
	settleQuiet = 2 * time.Second
	settleMax   = 20 * time.Second
)
