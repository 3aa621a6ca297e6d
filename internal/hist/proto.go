package hist

import kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"

// Proto returns h as a wire message.
func (h *Hist) Proto() *kperfv1.Histogram {
	return &kperfv1.Histogram{Hdr: h.AppendV2(nil), Count: h.count, SumNs: h.sum, MaxNs: h.max}
}

// AddProto adds a wire histogram to h. A nil message adds nothing. The
// encoded count must match the message's count.
func (h *Hist) AddProto(m *kperfv1.Histogram) error {
	if m == nil || (m.GetCount() == 0 && len(m.GetHdr()) == 0) {
		return nil
	}
	return h.addV2(m.GetHdr(), m.GetCount(), m.GetSumNs(), m.GetMaxNs())
}
