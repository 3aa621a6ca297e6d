package hist

import (
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

func BenchmarkRecord(b *testing.B) {
	var h Hist
	vs := latencies(1, 4096, 2e6)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Record(vs[i&4095])
		i++
	}
}

func BenchmarkAppendV2(b *testing.B) {
	var h Hist
	for _, v := range latencies(1, 200_000, 2e6) {
		h.Record(v)
	}
	buf := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf = h.AppendV2(buf[:0])
	}
	b.ReportMetric(float64(len(buf)), "bytes")
}

// BenchmarkMergeInterval merges one interval of 1000 agents, each with the
// four histograms an Interval carries, and computes the percentiles the
// controller reports.
func BenchmarkMergeInterval(b *testing.B) {
	const agents = 1000
	encoded := make([][]byte, agents)
	for a := range encoded {
		var h Hist
		for _, v := range latencies(uint64(a), 20_000, 2e6) {
			h.Record(v)
		}
		encoded[a] = h.AppendV2(nil)
	}
	b.ReportAllocs()
	var merged [4]Hist
	for b.Loop() {
		for i := range merged {
			merged[i].Reset()
		}
		for _, e := range encoded {
			for i := range merged {
				if err := merged[i].AddV2(e, 0, 0); err != nil {
					b.Fatal(err)
				}
			}
		}
		merged[0].Percentiles(50, 95, 99, 99.9)
	}
}

// BenchmarkRecordHdrHistogram is hdrhistogram-go's RecordValue on the same
// geometry and values, to compare with BenchmarkRecord in one run.
func BenchmarkRecordHdrHistogram(b *testing.B) {
	h := hdrhistogram.New(Lowest, Highest, SigFigs)
	vs := latencies(1, 4096, 2e6)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := h.RecordValue(vs[i&4095]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkMergeHdrHistogram decodes and merges one V2-compressed histogram
// with hdrhistogram-go, the path AddV2 replaces (compare with
// BenchmarkAddV2).
func BenchmarkMergeHdrHistogram(b *testing.B) {
	src := hdrhistogram.New(Lowest, Highest, SigFigs)
	for _, v := range latencies(1, 20_000, 2e6) {
		src.RecordValue(v)
	}
	enc, err := src.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		b.Fatal(err)
	}
	dst := hdrhistogram.New(Lowest, Highest, SigFigs)
	b.ReportAllocs()
	for b.Loop() {
		h, err := hdrhistogram.Decode(enc)
		if err != nil {
			b.Fatal(err)
		}
		dst.Merge(h)
	}
}

// BenchmarkAddV2 decodes and merges one histogram with kperf's codec.
func BenchmarkAddV2(b *testing.B) {
	var src, dst Hist
	for _, v := range latencies(1, 20_000, 2e6) {
		src.Record(v)
	}
	enc := src.AppendV2(nil)
	b.ReportAllocs()
	for b.Loop() {
		if err := dst.AddV2(enc, src.Sum(), src.Max()); err != nil {
			b.Fatal(err)
		}
	}
}
