package hist

import (
	"encoding/binary"
	"math"
	"testing"
)

// fuzzPercentiles are the percentiles the fuzz tests check for order.
var fuzzPercentiles = []float64{0, 1, 25, 50, 75, 90, 99, 99.9, 99.99, 100}

// checkPercentiles fails t unless h's percentiles never decrease and stay
// within the geometry.
func checkPercentiles(t *testing.T, h *Hist) {
	t.Helper()
	ps := h.Percentiles(fuzzPercentiles...)
	for i, v := range ps {
		if v < 0 || v > 2*Highest {
			t.Fatalf("p%v = %d, outside 0..%d", fuzzPercentiles[i], v, 2*Highest)
		}
		if i > 0 && v < ps[i-1] {
			t.Fatalf("p%v = %d < p%v = %d: percentiles not monotone", fuzzPercentiles[i], v, fuzzPercentiles[i-1], ps[i-1])
		}
	}
}

// FuzzAddV2 feeds arbitrary bytes to the wire decoder: it must never
// panic or allocate, must leave the histogram unchanged on error, and what
// it accepts must round-trip and merge into exact totals.
func FuzzAddV2(f *testing.F) {
	var h Hist
	for _, v := range latencies(9, 100, 1e6) {
		h.Record(v)
	}
	f.Add(h.AppendV2(nil))
	var one Hist
	one.Record(Highest)
	f.Add(one.AppendV2(nil))
	var empty Hist
	f.Add(empty.AppendV2(nil))
	// A header that declares a payload far larger than the message.
	huge := empty.AppendV2(nil)
	binary.BigEndian.PutUint32(huge[4:], math.MaxUint32)
	f.Add(huge)
	// A zero run and a count as large as int64 allows.
	big := empty.AppendV2(nil)
	big = appendZigZag(big, -100)
	big = appendZigZag(big, math.MaxInt64)
	binary.BigEndian.PutUint32(big[4:], uint32(len(big)-headerSize))
	f.Add(big)

	var base Hist // a histogram the fuzz input is merged into
	for _, v := range latencies(10, 50, 2e6) {
		base.Record(v)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var dst Hist
		var err error
		if allocs := testing.AllocsPerRun(1, func() { dst.Reset(); err = dst.AddV2(b, 0, 0) }); allocs > 0 && err == nil {
			t.Fatalf("AddV2 of %d bytes allocated %v times", len(b), allocs)
		}
		if err != nil {
			if dst.Count() != 0 || dst.top != 0 || dst.counts != ([CountsLen]int64{}) {
				t.Fatalf("AddV2 failed (%v) but changed the histogram", err)
			}
			if len(err.Error()) == 0 {
				t.Fatal("empty error message")
			}
			return
		}
		var total int64
		for _, c := range dst.counts {
			if c < 0 {
				t.Fatalf("decoded a negative count %d", c)
			}
			total += c
		}
		if total != dst.Count() {
			t.Fatalf("Count() = %d, counts sum to %d", dst.Count(), total)
		}
		// Whatever decoded must re-encode and decode to the same counts.
		var again Hist
		if err := again.AddV2(dst.AppendV2(nil), 0, 0); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if again.counts != dst.counts || again.Count() != dst.Count() || again.top != dst.top {
			t.Fatal("round trip changed counts")
		}
		checkPercentiles(t, &dst)

		// Merged into another histogram, totals are the sums.
		merged := base
		if err := merged.AddProto(dst.Proto()); err != nil {
			if base.Count() <= math.MaxInt64-dst.Count() {
				t.Fatalf("merge of a decodable histogram failed: %v", err)
			}
			if merged.counts != base.counts || merged.Count() != base.Count() {
				t.Fatal("failed merge changed the histogram")
			}
			return
		}
		if merged.Count() < base.Count() || merged.Count() != base.Count()+dst.Count() {
			t.Fatalf("merged count %d, want %d + %d", merged.Count(), base.Count(), dst.Count())
		}
		for i := range merged.counts {
			if merged.counts[i] != base.counts[i]+dst.counts[i] {
				t.Fatalf("merged counts[%d] = %d, want %d + %d", i, merged.counts[i], base.counts[i], dst.counts[i])
			}
		}
		checkPercentiles(t, &merged)
	})
}

// FuzzMerge records fuzz-chosen values into two histograms, ships both
// over the wire encoding and merges them: the merge must equal one
// histogram fed every value, and its percentiles must be monotone.
func FuzzMerge(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0}, []byte{})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, []byte{0xe8, 3, 0, 0, 0, 0, 0, 0})
	seed := func(vs []int64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
		return b
	}
	f.Add(seed(latencies(11, 64, 1e6)), seed(latencies(12, 32, 5e7)))
	f.Add(seed([]int64{-1, 0, Lowest, Highest, Highest + 1, math.MaxInt64}), seed([]int64{math.MinInt64, 1023, 1024}))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var ha, hb, all, merged Hist
		record := func(h *Hist, raw []byte) {
			for len(raw) >= 8 {
				v := int64(binary.LittleEndian.Uint64(raw))
				raw = raw[8:]
				h.Record(v)
				all.Record(v)
			}
		}
		record(&ha, a)
		record(&hb, b)
		for _, h := range []*Hist{&ha, &hb} {
			if err := merged.AddProto(h.Proto()); err != nil {
				t.Fatalf("merge a valid encoding: %v", err)
			}
		}
		if merged.Count() != ha.Count()+hb.Count() || merged.Count() != all.Count() {
			t.Fatalf("merged count %d, want %d + %d = %d", merged.Count(), ha.Count(), hb.Count(), all.Count())
		}
		if merged.Sum() != ha.Sum()+hb.Sum() || merged.Max() != max(ha.Max(), hb.Max()) {
			t.Fatalf("merged sum %d max %d, want %d and %d", merged.Sum(), merged.Max(), ha.Sum()+hb.Sum(), max(ha.Max(), hb.Max()))
		}
		if merged.counts != all.counts {
			t.Fatal("merged counts differ from one histogram fed every value")
		}
		checkPercentiles(t, &merged)
		pm, pa := merged.Percentiles(fuzzPercentiles...), all.Percentiles(fuzzPercentiles...)
		for i := range pm {
			if pm[i] != pa[i] {
				t.Fatalf("merged p%v = %d, one histogram says %d", fuzzPercentiles[i], pm[i], pa[i])
			}
		}
	})
}
