// Package pace computes send schedules: when each record of a rate-limited
// producer is intended to be sent. It is pure arithmetic on offsets from a
// start time, with no clocks, so schedules are testable exactly.
//
// A schedule releases records in ticks about every millisecond (Go's timers
// cannot wake reliably more often), B records per tick, at absolute offsets
// kΔ from the start. A late tick is never forgiven: its records keep their
// intended time, so a slow broker shows up as latency, not as a quietly
// lower rate (coordinated omission).
package pace

import (
	"math"
	"time"
)

// TickTarget is the tick period a schedule aims for.
const TickTarget = time.Millisecond

// Schedule is the send plan of one producer worker. The zero value is an
// unlimited schedule with no record limit.
type Schedule struct {
	ratePerSec float64 // <= 0: unlimited
	limit      int64   // total records, 0: none
	batch      int64   // records per tick
	periodNs   float64 // tick period
	phaseNs    int64
	jitter     float64 // 0..1 of the period
	seed       uint64
}

// New returns the schedule of ratePerSec records per second (<= 0 for
// unlimited), at most limit records (0 for no limit), starting phase after
// the common start. jitter (0..1) moves each tick later by a seeded random
// fraction of jitter times the tick period; the moved time is the plan.
func New(ratePerSec float64, limit int64, phase time.Duration, jitter float64, seed int64) Schedule {
	s := Schedule{ratePerSec: ratePerSec, limit: limit, phaseNs: int64(phase), jitter: min(max(jitter, 0), 1), seed: uint64(seed)}
	if ratePerSec > 0 {
		s.batch = max(1, int64(math.Round(ratePerSec*TickTarget.Seconds())))
		s.periodNs = float64(s.batch) * 1e9 / ratePerSec
	}
	return s
}

// Unlimited reports whether the schedule sends as fast as it can.
func (s Schedule) Unlimited() bool { return s.ratePerSec <= 0 }

// Batch returns the records per tick (0 when unlimited).
func (s Schedule) Batch() int64 { return s.batch }

// Period returns the tick period (0 when unlimited).
func (s Schedule) Period() time.Duration { return time.Duration(s.periodNs) }

// Tick returns the intended offset from the start of tick k (k >= 0) and
// the number of records it releases, which is 0 once the record limit is
// reached. Offsets never decrease with k. An unlimited schedule has no
// ticks: Tick returns (0, 0).
func (s Schedule) Tick(k int64) (offset time.Duration, n int64) {
	if s.batch == 0 {
		return 0, 0
	}
	first := k * s.batch
	n = s.batch
	if s.limit > 0 {
		if first >= s.limit {
			return 0, 0
		}
		n = min(n, s.limit-first)
	}
	off := float64(k) * s.periodNs
	if s.jitter > 0 {
		off += unitFloat(s.seed, uint64(k)) * s.jitter * s.periodNs
	}
	return time.Duration(s.phaseNs + int64(off)), n
}

// Due returns how many records the schedule has released by offset t
// (ticks at or before t, ignoring jitter), capped by the record limit.
// Unlimited schedules return 0.
func (s Schedule) Due(t time.Duration) int64 {
	if s.batch == 0 || int64(t) < s.phaseNs {
		return 0
	}
	ticks := int64(float64(int64(t)-s.phaseNs)/s.periodNs) + 1
	due := ticks * s.batch
	if s.limit > 0 {
		due = min(due, s.limit)
	}
	return due
}

// unitFloat returns a deterministic value in [0, 1) for (seed, k), from a
// splitmix64 step.
func unitFloat(seed, k uint64) float64 {
	z := seed + (k+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

// Limit returns the record limit, 0 for none.
func (s Schedule) Limit() int64 { return s.limit }
