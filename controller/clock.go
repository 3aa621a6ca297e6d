package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
)

// ClockSample is one NTP-style round trip to an agent: the controller sent
// at T0 and received the echo at T3 (controller clock); the agent received
// at T1 and answered at T2 (agent clock). Unix nanoseconds.
type ClockSample struct{ T0, T1, T2, T3 int64 }

// Offset is the agent's clock minus the controller's, assuming equal
// delays both ways.
func (s ClockSample) Offset() int64 { return ((s.T1 - s.T0) + (s.T2 - s.T3)) / 2 }

// RTT is the round trip without the agent's own time.
func (s ClockSample) RTT() int64 { return (s.T3 - s.T0) - (s.T2 - s.T1) }

// ClockEstimate is an agent's clock offset and how far off it can be.
type ClockEstimate struct {
	// Offset is the agent's clock minus the controller's.
	Offset time.Duration
	// Uncertainty is half the round trip of the sample used: the true
	// offset is within Offset ± Uncertainty whatever the delays' asymmetry.
	Uncertainty time.Duration
}

// EstimateClock returns the estimate of the sample with the shortest round
// trip, the one whose delays least blur the offset.
func EstimateClock(samples []ClockSample) (ClockEstimate, error) {
	if len(samples) == 0 {
		return ClockEstimate{}, errors.New("no clock samples")
	}
	best := -1
	for i, s := range samples {
		if s.RTT() < 0 {
			continue // the agent's own clock stepped between T1 and T2
		}
		if best < 0 || s.RTT() < samples[best].RTT() {
			best = i
		}
	}
	if best < 0 {
		return ClockEstimate{}, errors.New("no clock sample with a non-negative round trip")
	}
	s := samples[best]
	return ClockEstimate{Offset: time.Duration(s.Offset()), Uncertainty: time.Duration(s.RTT() / 2)}, nil
}

// clockRounds is how many probes each agent gets.
const clockRounds = 8

// clockProbeTimeout bounds one round of probes.
const clockProbeTimeout = 5 * time.Second

// syncClocks probes every agent clockRounds times over its Run stream,
// before Start, and estimates each agent's clock offset.
func (r *run) syncClocks(ctx context.Context, ctl []chan *kperfv1.RunRequest, events <-chan event) ([]ClockEstimate, error) {
	n := len(ctl)
	samples := make([][]ClockSample, n)
	for range clockRounds {
		for i := range ctl {
			ctl[i] <- &kperfv1.RunRequest{Msg: &kperfv1.RunRequest_ClockProbe{ClockProbe: &kperfv1.ClockProbe{SentUnixNano: time.Now().UnixNano()}}}
		}
		timeout := time.NewTimer(clockProbeTimeout)
		for got := 0; got < n; {
			select {
			case ev := <-events:
				t3 := time.Now().UnixNano()
				addr := r.conns[ev.agent].addr
				if ev.err != nil {
					timeout.Stop()
					return nil, &AgentError{addr, fmt.Errorf("clock probe: %w", ev.err)}
				}
				e := ev.msg.GetClockEcho()
				if e == nil {
					timeout.Stop()
					return nil, &AgentError{addr, fmt.Errorf("clock probe: unexpected %T", ev.msg.GetMsg())}
				}
				samples[ev.agent] = append(samples[ev.agent], ClockSample{T0: e.GetProbeSentUnixNano(), T1: e.GetReceivedUnixNano(), T2: e.GetSentUnixNano(), T3: t3})
				got++
			case <-timeout.C:
				return nil, fmt.Errorf("agents did not echo clock probes within %v", clockProbeTimeout)
			case <-ctx.Done():
				timeout.Stop()
				return nil, fmt.Errorf("interrupted while probing clocks: %w", context.Cause(ctx))
			}
		}
		timeout.Stop()
	}
	out := make([]ClockEstimate, n)
	for i, s := range samples {
		e, err := EstimateClock(s)
		if err != nil {
			return nil, &AgentError{r.conns[i].addr, err}
		}
		out[i] = e
	}
	return out, nil
}
