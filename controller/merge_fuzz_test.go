package controller

import (
	"testing"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/internal/hist"
)

// FuzzMergeIntervals feeds the merger fuzz-chosen intervals and finals:
// out of order, duplicated, with negative or far-ahead sequence numbers,
// finals that contradict the intervals. The merger must reject exactly the
// inconsistent messages (the run then ends with that error), never panic,
// emit each window once and only when complete, and every emitted window's
// totals must be the sums of the intervals accepted for it; once all is
// done, no accepted interval may be missing from the output.
//
// Each op is 3 bytes: agent and kind (high bit: final), the sequence number
// or interval count as a signed byte (0x7f: far ahead), and the number of
// latencies in the interval.
func FuzzMergeIntervals(f *testing.F) {
	in := func(ops ...[3]byte) []byte {
		var b []byte
		for _, o := range ops {
			b = append(b, o[:]...)
		}
		return b
	}
	const fin = 0x80
	f.Add(uint8(1), in([3]byte{0, 0, 3}, [3]byte{0, 1, 2}, [3]byte{fin, 2, 0}))
	f.Add(uint8(2), in([3]byte{1, 1, 3}, [3]byte{0, 0, 1}, [3]byte{fin | 0, 1, 0}, [3]byte{1, 0, 5}, [3]byte{fin | 1, 2, 0}))
	f.Add(uint8(2), in([3]byte{0, 0, 3}, [3]byte{0, 0, 3}))                                        // duplicate
	f.Add(uint8(1), in([3]byte{0, 0, 3}, [3]byte{0, 0, 3}))                                        // duplicate of an emitted window
	f.Add(uint8(1), in([3]byte{0, 0xff, 3}))                                                       // negative
	f.Add(uint8(2), in([3]byte{0, 0x7f, 1}, [3]byte{fin | 0, 1, 0}))                               // far ahead, then a final that contradicts it
	f.Add(uint8(1), in([3]byte{0, 0, 1}, [3]byte{fin, 1, 0}, [3]byte{0, 5, 1}))                    // an interval after the final
	f.Add(uint8(3), in([3]byte{fin | 2, 0xfe, 0}, [3]byte{fin | 2, 0, 0}, [3]byte{fin | 2, 0, 0})) // negative and repeated finals
	f.Fuzz(func(t *testing.T, agentsByte uint8, ops []byte) {
		agents := 1 + int(agentsByte%4)
		type key struct {
			agent int
			seq   int64
		}
		accepted := map[key]int64{} // sent per accepted interval
		finished := make([]int64, agents)
		for a := range finished {
			finished[a] = -1
		}
		emitted := map[int64]bool{}
		var lastEmitted int64 = -1
		ready := func(seq int64) bool {
			for a := range agents {
				_, ok := accepted[key{a, seq}]
				if !ok && (finished[a] < 0 || finished[a] > seq) {
					return false
				}
			}
			return true
		}
		var sent, acked map[int64]int64 = map[int64]int64{}, map[int64]int64{}
		m := newMerger(agents, func(w *window) error {
			if emitted[w.seq] || w.seq <= lastEmitted {
				t.Fatalf("window %d emitted after window %d", w.seq, lastEmitted)
			}
			if !ready(w.seq) {
				t.Fatalf("window %d emitted before every agent delivered it or finished", w.seq)
			}
			emitted[w.seq], lastEmitted = true, w.seq
			sent[w.seq], acked[w.seq] = w.sent, w.ack.Count()
			return nil
		})
		var h hist.Hist
		for i := 0; i+3 <= len(ops) && i < 3*32; i += 3 {
			agent := int(ops[i]&0x7f) % agents
			seq := int64(int8(ops[i+1]))
			if ops[i+1] == 0x7f {
				seq = 1 << 40
			}
			if ops[i]&0x80 != 0 {
				valid := seq >= 0 && finished[agent] < 0
				for k := range accepted {
					if k.agent == agent && k.seq >= seq {
						valid = false
					}
				}
				// The oracle learns of the final first: the merger emits
				// from inside finish.
				was := finished[agent]
				if valid {
					finished[agent] = seq
				}
				err := m.finish(agent, seq)
				if valid != (err == nil) {
					t.Fatalf("op %d: finish(agent %d, %d intervals) = %v, want valid %v", i/3, agent, seq, err, valid)
				}
				if err != nil {
					finished[agent] = was
					break // the run ends with this error
				}
				continue
			}
			n := int64(ops[i+2] % 16)
			h.Reset()
			for range n {
				h.Record((seq%1000 + 1) * int64(agent+1) * 1000)
			}
			iv := &kperfv1.Interval{Seq: seq, StartUnixNano: seq, EndUnixNano: seq + 1,
				Counters: &kperfv1.Counters{Sent: n + int64(agent), Acked: n}, AckLatency: h.Proto()}
			_, dup := accepted[key{agent, seq}]
			valid := seq >= 0 && !dup && !emitted[seq] && (finished[agent] < 0 || seq < finished[agent])
			if valid {
				accepted[key{agent, seq}] = n + int64(agent)
			}
			err := m.add(agent, iv)
			if valid != (err == nil) {
				t.Fatalf("op %d: add(agent %d, interval %d) = %v, want valid %v", i/3, agent, seq, err, valid)
			}
			if err != nil {
				break
			}
		}
		wantSent, wantAcked := map[int64]int64{}, map[int64]int64{}
		for k, s := range accepted {
			wantSent[k.seq] += s
			wantAcked[k.seq] += s - int64(k.agent)
		}
		for seq := range emitted {
			if sent[seq] != wantSent[seq] || acked[seq] != wantAcked[seq] {
				t.Fatalf("window %d: sent %d acked %d, accepted intervals sum to %d and %d", seq, sent[seq], acked[seq], wantSent[seq], wantAcked[seq])
			}
		}
		if m.allDone() {
			for k := range accepted {
				if !emitted[k.seq] {
					t.Fatalf("all done, but agent %d's interval %d was never reported", k.agent, k.seq)
				}
			}
		}
	})
}
