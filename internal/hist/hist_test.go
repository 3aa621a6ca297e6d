package hist

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// latencies returns n lognormal-ish values around median ns with rare
// outliers, from a seeded source.
func latencies(seed uint64, n int, median float64) []int64 {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]int64, n)
	for i := range out {
		v := median * (0.2 + r.ExpFloat64())
		if r.IntN(1000) == 0 {
			v *= 50
		}
		out[i] = int64(v)
	}
	return out
}

func TestGeometryMatchesHdrHistogram(t *testing.T) {
	ref := hdrhistogram.New(Lowest, Highest, SigFigs)
	if got := len(ref.Export().Counts); got != CountsLen {
		t.Fatalf("hdrhistogram counts length = %d, want CountsLen %d", got, CountsLen)
	}
	var h Hist
	values := []int64{0, 1, 511, 512, 999, 1000, 1023, 1024, 2047, 2048, 1_000_000, 1_048_575, 1_048_576, 59_999_999_999, Highest}
	values = append(values, latencies(1, 100_000, 3e6)...)
	r := rand.New(rand.NewPCG(3, 3))
	for range 100_000 {
		values = append(values, r.Int64N(Highest+1))
	}
	for _, v := range values {
		h.Record(v)
		if err := ref.RecordValue(v); err != nil {
			t.Fatalf("reference RecordValue(%d): %v", v, err)
		}
	}
	want := ref.Export().Counts
	for i := range want {
		if h.counts[i] != want[i] {
			t.Fatalf("counts[%d] = %d, want %d (hdrhistogram-go layout)", i, h.counts[i], want[i])
		}
	}
	if !h.HDR().Equals(ref) {
		t.Fatal("HDR() != reference histogram")
	}
}

func TestRecordClampsOutOfRange(t *testing.T) {
	var h Hist
	h.Record(-5)
	h.Record(Highest + 1)
	h.Record(5000)
	if h.Clamped() != 2 || h.Count() != 3 || h.Max() != Highest {
		t.Fatalf("clamped=%d count=%d max=%d, want 2, 3, %d", h.Clamped(), h.Count(), h.Max(), Highest)
	}
}

// TestMergeEqualsOneHistogram is the contract of the controller's merge:
// K agents' encoded interval histograms, merged, give exactly the
// percentiles of one histogram fed every value.
func TestMergeEqualsOneHistogram(t *testing.T) {
	const agents = 8
	all := hdrhistogram.New(Lowest, Highest, SigFigs)
	var exactSum, exactMax int64
	var merged Hist
	for a := range agents {
		median := 2e6
		if a == 3 {
			median = 6e6 // one slow agent
		}
		var h Hist
		for _, v := range latencies(uint64(a+10), 50_000, median) {
			h.Record(v)
			if err := all.RecordValue(v); err != nil {
				t.Fatal(err)
			}
			exactSum += v
			exactMax = max(exactMax, v)
		}
		if err := merged.AddV2(h.AppendV2(nil), h.Sum(), h.Max()); err != nil {
			t.Fatalf("AddV2 agent %d: %v", a, err)
		}
	}
	if !merged.HDR().Equals(all) {
		t.Fatal("merged histogram differs from one histogram fed all values")
	}
	ps := []float64{50, 90, 95, 99, 99.9, 99.99, 100}
	got := merged.Percentiles(ps...)
	for i, p := range ps {
		if want := all.ValueAtPercentile(p); got[i] != want {
			t.Errorf("p%v = %d, want %d", p, got[i], want)
		}
	}
	if merged.Count() != all.TotalCount() || merged.Sum() != exactSum || merged.Max() != exactMax {
		t.Errorf("count/sum/max = %d/%d/%d, want %d/%d/%d", merged.Count(), merged.Sum(), merged.Max(), all.TotalCount(), exactSum, exactMax)
	}
}

// TestEncodingReadableByHdrHistogram wraps AppendV2's bytes the way
// V2-compressed logs do and decodes them with hdrhistogram-go.
func TestEncodingReadableByHdrHistogram(t *testing.T) {
	var h Hist
	for _, v := range latencies(42, 20_000, 1e6) {
		h.Record(v)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := zw.Write(h.AppendV2(nil)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	outer := binary.BigEndian.AppendUint32(nil, 0x1c849314)
	outer = binary.BigEndian.AppendUint32(outer, uint32(z.Len()))
	outer = append(outer, z.Bytes()...)
	decoded, err := hdrhistogram.Decode([]byte(base64.StdEncoding.EncodeToString(outer)))
	if err != nil {
		t.Fatalf("hdrhistogram.Decode: %v", err)
	}
	if !decoded.Equals(h.HDR()) {
		t.Fatal("decoded histogram differs from the original")
	}
}

func TestAddV2RejectsBadInput(t *testing.T) {
	var h Hist
	h.Record(5000)
	good := h.AppendV2(nil)
	otherGeometry := bytes.Clone(good)
	binary.BigEndian.PutUint32(otherGeometry[12:], 2)
	truncated := good[:len(good)-1]
	tests := []struct {
		name string
		b    []byte
	}{
		{name: "empty", b: nil},
		{name: "wrong cookie", b: append([]byte{1, 2, 3, 4}, good[4:]...)},
		{name: "other geometry", b: otherGeometry},
		{name: "truncated", b: truncated},
		{name: "count overflows int64", b: func() []byte {
			// Found by FuzzAddV2: merged into a non-empty histogram, the
			// count used to wrap negative.
			b := bytes.Clone(good[:headerSize])
			b = appendZigZag(b, math.MaxInt64)
			binary.BigEndian.PutUint32(b[4:], uint32(len(b)-headerSize))
			return b
		}()},
		{name: "zero run past end", b: func() []byte {
			b := bytes.Clone(good[:headerSize])
			b = appendZigZag(b, -CountsLen-1)
			binary.BigEndian.PutUint32(b[4:], uint32(len(b)-headerSize))
			return b
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var dst Hist
			dst.Record(1)
			if err := dst.AddV2(tc.b, 0, 0); err == nil {
				t.Fatal("AddV2 accepted bad input")
			}
			if dst.Count() != 1 {
				t.Fatalf("AddV2 changed the histogram on error: count %d", dst.Count())
			}
		})
	}
}

// TestAddV2RejectsImpossibleSumMax: the sum and max travel beside the
// encoding; values no histogram of the geometry can have, or totals that
// overflow, are errors and leave the histogram unchanged.
func TestAddV2RejectsImpossibleSumMax(t *testing.T) {
	var src Hist
	src.Record(5000)
	src.Record(7000)
	enc := src.AppendV2(nil)
	tests := []struct {
		name     string
		sum, max int64
	}{
		{name: "negative sum", sum: -1, max: 7000},
		{name: "negative max", sum: 12000, max: -1},
		{name: "max above Highest", sum: 12000, max: Highest + 1},
		{name: "sum above count x Highest", sum: 3 * Highest, max: 7000},
		{name: "sum overflows the total", sum: math.MaxInt64, max: 7000},
	}
	for _, tc := range tests {
		var dst Hist
		dst.Record(Highest)
		if err := dst.AddV2(enc, tc.sum, tc.max); err == nil {
			t.Errorf("%s: AddV2(sum %d, max %d) = nil error", tc.name, tc.sum, tc.max)
		}
		if dst.Count() != 1 || dst.Sum() != Highest || dst.Max() != Highest {
			t.Errorf("%s: AddV2 changed the histogram on error", tc.name)
		}
	}
	var dst Hist
	if err := dst.AddV2(enc, src.Sum(), src.Max()); err != nil || dst.Sum() != 12000 || dst.Max() != 7000 {
		t.Errorf("AddV2 of a real sum and max: %v, sum %d max %d", err, dst.Sum(), dst.Max())
	}
}

func TestResetAndAdd(t *testing.T) {
	var a, b Hist
	for _, v := range latencies(5, 1000, 1e6) {
		a.Record(v)
	}
	b.Add(&a)
	b.Add(&a)
	if b.Count() != 2*a.Count() || b.Sum() != 2*a.Sum() || b.Max() != a.Max() {
		t.Fatalf("Add twice: count %d sum %d max %d", b.Count(), b.Sum(), b.Max())
	}
	a.Reset()
	if a.Count() != 0 || len(a.AppendV2(nil)) != headerSize || a.Percentiles(99)[0] != 0 {
		t.Fatal("Reset left values behind")
	}
}

func TestZigZagRoundTrip(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, -64, 64, 1 << 20, -(1 << 40), 1<<62 + 5, -(1 << 62), 9223372036854775807, -9223372036854775808} {
		b := appendZigZag(nil, v)
		got, n := readZigZag(b)
		if got != v || n != len(b) {
			t.Errorf("readZigZag(appendZigZag(%d)) = %d (%d of %d bytes)", v, got, n, len(b))
		}
	}
}
