package pace

import "math"

// SplitCount splits total into n shares that differ by at most one and sum
// to total exactly; the first total%n shares get the extra one.
func SplitCount(total int64, n int) []int64 {
	out := make([]int64, n)
	if n == 0 {
		return out
	}
	q, r := total/int64(n), total%int64(n)
	for i := range out {
		out[i] = q
		if int64(i) < r {
			out[i]++
		}
	}
	return out
}

// rateUnit is the resolution of SplitRate: one millionth of a record per
// second.
const rateUnit = 1e6

// SplitRate splits a rate in records per second into n shares whose sum is
// the rate exactly at a resolution of 10^-6 records/s (the rate is rounded
// to that resolution first). A rate <= 0 (unlimited) gives n unlimited
// shares of the same value.
func SplitRate(rate float64, n int) []float64 {
	out := make([]float64, n)
	if rate <= 0 {
		for i := range out {
			out[i] = rate
		}
		return out
	}
	units := SplitCount(int64(math.Round(rate*rateUnit)), n)
	for i, u := range units {
		out[i] = float64(u) / rateUnit
	}
	return out
}
