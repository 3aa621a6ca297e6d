package pace

import (
	"math"
	"testing"
	"time"
)

func TestTick(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		rate       float64
		limit      int64
		phase      time.Duration
		k          int64
		wantOffset time.Duration
		wantN      int64
	}{
		{name: "1k/s is one record per ms", rate: 1000, k: 3, wantOffset: 3 * time.Millisecond, wantN: 1},
		{name: "200k/s batches 200 per ms", rate: 200_000, k: 10, wantOffset: 10 * time.Millisecond, wantN: 200},
		{name: "slow rate has long ticks", rate: 2, k: 3, wantOffset: 1500 * time.Millisecond, wantN: 1},
		{name: "uneven rate keeps exact period", rate: 1666.5, k: 1000, wantOffset: 1_200_120_012, wantN: 2},
		{name: "phase shifts every tick", rate: 1000, phase: 250 * time.Microsecond, k: 2, wantOffset: 2250 * time.Microsecond, wantN: 1},
		{name: "last tick is partial", rate: 10_000, limit: 25, k: 2, wantOffset: 2 * time.Millisecond, wantN: 5},
		{name: "past the limit is done", rate: 10_000, limit: 25, k: 3, wantN: 0},
		{name: "unlimited has no ticks", rate: -1, k: 0, wantN: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			off, n := New(tc.rate, tc.limit, tc.phase, 0, 1).Tick(tc.k)
			if off != tc.wantOffset || n != tc.wantN {
				t.Errorf("Tick(%d) = %v, %d, want %v, %d", tc.k, off, n, tc.wantOffset, tc.wantN)
			}
		})
	}
}

// TestScheduleRateIsExact checks that over any long window the schedule
// releases the target rate, without drift.
func TestScheduleRateIsExact(t *testing.T) {
	t.Parallel()
	for _, rate := range []float64{1, 333.3, 1666.67, 5000, 123_457, 2_000_000} {
		s := New(rate, 0, 0, 0, 1)
		var released int64
		var k int64
		horizon := 10 * time.Second
		for ; ; k++ {
			off, n := s.Tick(k)
			if off >= horizon {
				break
			}
			released += n
		}
		want := rate * horizon.Seconds()
		if math.Abs(float64(released)-want) > float64(s.Batch()) {
			t.Errorf("rate %v: released %d in %v, want %.0f ± %d", rate, released, horizon, want, s.Batch())
		}
		if due := s.Due(horizon - 1); due != released {
			t.Errorf("rate %v: Due(%v) = %d, want %d", rate, horizon-1, due, released)
		}
	}
}

func TestJitterStaysInsideTheTick(t *testing.T) {
	t.Parallel()
	s := New(1000, 0, 0, 0.9, 42)
	again := New(1000, 0, 0, 0.9, 42)
	var prev time.Duration = -1
	moved := 0
	for k := int64(0); k < 10_000; k++ {
		off, _ := s.Tick(k)
		base := time.Duration(k) * time.Millisecond
		if off < base || off >= base+time.Millisecond {
			t.Fatalf("Tick(%d) = %v, outside [%v, %v)", k, off, base, base+time.Millisecond)
		}
		if off <= prev {
			t.Fatalf("Tick(%d) = %v, not after tick %d at %v", k, off, k-1, prev)
		}
		if off2, _ := again.Tick(k); off2 != off {
			t.Fatalf("same seed gave %v and %v", off, off2)
		}
		if off != base {
			moved++
		}
		prev = off
	}
	if moved < 9000 {
		t.Errorf("jitter moved only %d of 10000 ticks", moved)
	}
}

func TestSplitCount(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		total int64
		n     int
	}{{10, 3}, {0, 4}, {7, 7}, {1_000_000_007, 25}, {5, 8}} {
		parts := SplitCount(tc.total, tc.n)
		var sum, lo, hi int64 = 0, math.MaxInt64, 0
		for _, p := range parts {
			sum += p
			lo, hi = min(lo, p), max(hi, p)
		}
		if sum != tc.total || hi-lo > 1 {
			t.Errorf("SplitCount(%d, %d) = %v: sum %d, spread %d", tc.total, tc.n, parts, sum, hi-lo)
		}
	}
}

func TestSplitRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rate float64
		n    int
	}{{5000, 3}, {1000.5, 7}, {1, 25}, {2_000_000, 1000}} {
		parts := SplitRate(tc.rate, tc.n)
		var units int64
		for _, p := range parts {
			units += int64(math.Round(p * rateUnit))
		}
		if units != int64(math.Round(tc.rate*rateUnit)) {
			t.Errorf("SplitRate(%v, %d) sums to %d µrec/s", tc.rate, tc.n, units)
		}
	}
	for _, p := range SplitRate(-1, 3) {
		if p != -1 {
			t.Errorf("SplitRate(-1, 3) share %v, want -1 (unlimited)", p)
		}
	}
}

func BenchmarkTick(b *testing.B) {
	s := New(200_000, 0, 0, 0.5, 1)
	var k int64
	for b.Loop() {
		s.Tick(k)
		k++
	}
}
