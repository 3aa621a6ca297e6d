package hist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Cookie is the HdrHistogram V2 (uncompressed) encoding cookie that starts
// every encoded histogram.
const Cookie uint32 = 0x1c849313

const headerSize = 40

// AppendV2 appends h in HdrHistogram's V2 encoding (uncompressed; the same
// payload that V2-compressed logs deflate) to dst and returns the result.
// Counts are zig-zag LEB128-64b9B varints, zero runs as negative numbers.
func (h *Hist) AppendV2(dst []byte) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, Cookie)
	dst = binary.BigEndian.AppendUint32(dst, 0) // payload length, patched below
	dst = binary.BigEndian.AppendUint32(dst, 0) // normalizing index offset
	dst = binary.BigEndian.AppendUint32(dst, SigFigs)
	dst = binary.BigEndian.AppendUint64(dst, uint64(Lowest))
	dst = binary.BigEndian.AppendUint64(dst, uint64(Highest))
	dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(1))
	payload := len(dst)
	counts := h.counts[:h.top]
	for i := 0; i < len(counts); {
		c := counts[i]
		i++
		if c == 0 {
			zeros := int64(1)
			for i < len(counts) && counts[i] == 0 {
				zeros++
				i++
			}
			if zeros > 1 {
				c = -zeros
			}
		}
		dst = appendZigZag(dst, c)
	}
	binary.BigEndian.PutUint32(dst[start+4:], uint32(len(dst)-payload))
	return dst
}

// AddV2 decodes an encoding made by AppendV2 (or any HdrHistogram V2
// uncompressed encoding of kperf's geometry) and adds its counts to h. The
// exact sum and max are not part of the encoding: pass them along; they are
// added after a range check (0 <= max <= Highest, sum at most count x
// Highest), and totals that would overflow are an error. AddV2 does not
// allocate. On error h is unchanged.
func (h *Hist) AddV2(b []byte, sum, maxValue int64) error {
	return h.addV2(b, -1, sum, maxValue)
}

// addV2 is AddV2 that also checks the encoded count when wantCount >= 0.
func (h *Hist) addV2(b []byte, wantCount, sum, maxValue int64) error {
	if len(b) < headerSize {
		return fmt.Errorf("histogram: %d bytes, shorter than the %d-byte header", len(b), headerSize)
	}
	if c := binary.BigEndian.Uint32(b); c != Cookie {
		return fmt.Errorf("histogram: cookie %#x, want HdrHistogram V2 %#x", c, Cookie)
	}
	n := int(binary.BigEndian.Uint32(b[4:]))
	if off := binary.BigEndian.Uint32(b[8:]); off != 0 {
		return fmt.Errorf("histogram: normalizing index offset %d not supported", off)
	}
	sig := binary.BigEndian.Uint32(b[12:])
	lo := int64(binary.BigEndian.Uint64(b[16:]))
	hi := int64(binary.BigEndian.Uint64(b[24:]))
	if sig != SigFigs || lo != Lowest || hi != Highest {
		return fmt.Errorf("histogram: geometry (lowest %d, highest %d, %d digits), want (%d, %d, %d)",
			lo, hi, sig, Lowest, Highest, SigFigs)
	}
	payload := b[headerSize:]
	if n != len(payload) {
		return fmt.Errorf("histogram: payload of %d bytes, header says %d", len(payload), n)
	}
	if sum < 0 || maxValue < 0 || maxValue > Highest {
		return fmt.Errorf("histogram: sum %d, max %d outside 0..%d", sum, maxValue, Highest)
	}
	if sum > math.MaxInt64-h.sum {
		return fmt.Errorf("histogram: sum %d overflows the total %d", sum, h.sum)
	}
	used, top, total, err := addCounts(&h.counts, payload, 1)
	switch {
	case err != nil:
	case wantCount >= 0 && total != wantCount:
		err = errCountMismatch(total, wantCount)
	case total > math.MaxInt64-h.count:
		// h.count bounds every counter, so no counter overflowed either.
		err = fmt.Errorf("histogram: count %d overflows the total %d", total, h.count)
	case sum/Highest > total || (total == 0 && maxValue != 0):
		err = fmt.Errorf("histogram: sum %d, max %d impossible for %d values of at most %d", sum, maxValue, total, Highest)
	}
	if err != nil {
		addCounts(&h.counts, payload[:used], -1) // undo what was added
		return err
	}
	h.count += total
	h.sum += sum
	h.max = max(h.max, maxValue)
	h.top = max(h.top, top)
	return nil
}

var errCorrupt = errors.New("histogram: corrupt payload")

// addCounts adds sign times the counts encoded in payload to counts. It
// returns the bytes of payload decoded without error, one past the highest
// index with a count, and the total count.
func addCounts(counts *[CountsLen]int64, payload []byte, sign int64) (used, top int, total int64, err error) {
	idx := 0
	for used < len(payload) {
		var v int64
		n := 1
		if c := payload[used]; c < 0x80 { // one-byte varint: the common case
			v = int64(c>>1) ^ -int64(c&1)
		} else if v, n = readZigZag(payload[used:]); n == 0 {
			return used, top, total, errCorrupt
		}
		if v < 0 {
			if v == math.MinInt64 || -v > int64(CountsLen-idx) {
				return used, top, total, errCorrupt
			}
			idx += int(-v)
			used += n
			continue
		}
		if idx >= CountsLen || v > math.MaxInt64-total {
			return used, top, total, errCorrupt
		}
		counts[idx] += sign * v
		if v > 0 {
			top = idx + 1
		}
		total += v
		idx++
		used += n
	}
	return used, top, total, nil
}

// appendZigZag appends v as a zig-zag LEB128-64b9B varint: up to eight
// 7-bit groups, then a ninth byte holding the last 8 bits.
func appendZigZag(dst []byte, v int64) []byte {
	u := uint64((v << 1) ^ (v >> 63))
	for i := 0; i < 8; i++ {
		if u < 0x80 {
			return append(dst, byte(u))
		}
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

// readZigZag reads one varint written by appendZigZag. It returns n == 0 on
// a truncated input.
func readZigZag(b []byte) (v int64, n int) {
	var u uint64
	for i := 0; i < 9; i++ {
		if i >= len(b) {
			return 0, 0
		}
		c := b[i]
		if i == 8 {
			u |= uint64(c) << 56
			return int64(u>>1) ^ -int64(u&1), 9
		}
		u |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), i + 1
		}
	}
	return 0, 0
}

func errCountMismatch(got, want int64) error {
	return fmt.Errorf("histogram: encoded %d values, message says %d", got, want)
}
