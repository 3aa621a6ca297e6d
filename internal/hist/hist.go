// Package hist is kperf's one latency histogram: a fixed HdrHistogram
// geometry (nanoseconds, 1 µs resolution up to 60 s, 3 significant digits)
// with allocation-free recording, the HdrHistogram V2 wire encoding, and a
// merge that decodes straight into a sum of counts.
//
// The bucket layout is exactly hdrhistogram-go's for New(1000, 60e9, 3), so
// a Hist converts to a *hdrhistogram.Histogram without loss, and merged
// percentiles equal those of one histogram fed every value.
package hist

import (
	"math/bits"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// The geometry shared by every kperf histogram.
const (
	// Lowest is the lowest discernible value in nanoseconds (1 µs).
	Lowest int64 = 1000
	// Highest is the highest trackable value in nanoseconds (60 s); larger
	// values are clamped to it and counted.
	Highest int64 = 60_000_000_000
	// SigFigs is the number of significant decimal digits kept.
	SigFigs = 3

	unitMagnitude               = 9  // floor(log2(Lowest))
	subBucketHalfCountMagnitude = 10 // ceil(log2(2*10^SigFigs)) - 1
	subBucketHalfCount          = 1 << subBucketHalfCountMagnitude
	subBucketMask               = int64(2*subBucketHalfCount-1) << unitMagnitude
	bucketCount                 = 17 // buckets to cover Highest
	// CountsLen is the number of counters of the geometry.
	CountsLen = (bucketCount + 1) * subBucketHalfCount
)

// Hist is a latency histogram in kperf's geometry. The zero value is an
// empty histogram ready to use. A Hist is not safe for concurrent use; one
// goroutine owns it.
type Hist struct {
	counts  [CountsLen]int64
	count   int64
	sum     int64
	max     int64
	top     int // highest index with a count, -1 when empty (stored +1)
	clamped int64
}

// countsIndex returns the counter index of v, which must be in [0, Highest].
func countsIndex(v int64) int {
	bucket := 64 - bits.LeadingZeros64(uint64(v|subBucketMask)) - (unitMagnitude + subBucketHalfCountMagnitude + 1)
	sub := int(v >> uint(bucket+unitMagnitude))
	return (bucket+1)<<subBucketHalfCountMagnitude + sub - subBucketHalfCount
}

// Record adds one value in nanoseconds. Values below 0 or above Highest are
// clamped into range and counted by Clamped. Record never allocates.
func (h *Hist) Record(v int64) {
	if v < 0 || v > Highest {
		h.clamped++
		v = min(max(v, 0), Highest)
	}
	i := countsIndex(v)
	h.counts[i]++
	h.count++
	h.sum += v
	if v > h.max {
		h.max = v
	}
	if i+1 > h.top {
		h.top = i + 1
	}
}

// Count returns the number of values recorded.
func (h *Hist) Count() int64 { return h.count }

// Sum returns the exact sum of the values in nanoseconds.
func (h *Hist) Sum() int64 { return h.sum }

// Max returns the exact largest value in nanoseconds, 0 when empty.
func (h *Hist) Max() int64 { return h.max }

// Clamped returns how many values were clamped into range.
func (h *Hist) Clamped() int64 { return h.clamped }

// Mean returns the exact mean in nanoseconds, 0 when empty.
func (h *Hist) Mean() float64 {
	if h.count == 0 {
		return 0
	}
	return float64(h.sum) / float64(h.count)
}

// Reset empties h.
func (h *Hist) Reset() {
	clear(h.counts[:h.top])
	h.count, h.sum, h.max, h.top, h.clamped = 0, 0, 0, 0, 0
}

// Add adds every value of o to h.
func (h *Hist) Add(o *Hist) {
	for i, c := range o.counts[:o.top] {
		h.counts[i] += c
	}
	h.count += o.count
	h.sum += o.sum
	h.max = max(h.max, o.max)
	h.top = max(h.top, o.top)
	h.clamped += o.clamped
}

// HDR returns h as an hdrhistogram-go histogram of the same geometry, for
// percentile queries and HdrHistogram log files. It copies the counts.
func (h *Hist) HDR() *hdrhistogram.Histogram {
	return hdrhistogram.Import(&hdrhistogram.Snapshot{
		LowestTrackableValue:  Lowest,
		HighestTrackableValue: Highest,
		SignificantFigures:    SigFigs,
		Counts:                h.counts[:],
	})
}

// Percentiles returns the values at the given percentiles (0..100) in
// nanoseconds, as HdrHistogram computes them (the highest value equivalent
// to the bucket). An empty histogram gives zeros.
func (h *Hist) Percentiles(ps ...float64) []int64 {
	out := make([]int64, len(ps))
	if h.count == 0 {
		return out
	}
	hh := h.HDR()
	for i, p := range ps {
		out[i] = hh.ValueAtPercentile(p)
	}
	return out
}
