// Package stamp is the end-to-end latency stamp kperf producers put on each
// record and kperf consumers read back: a record header named Key whose
// value is the record's intended send time as 8 bytes of big-endian Unix
// nanoseconds on the controller's clock.
package stamp

import "encoding/binary"

// Key is the header name of the stamp.
const Key = "kperf-ts"

// Size is the length of a stamp's value in bytes.
const Size = 8

// Put writes the stamp t into b, which must hold Size bytes.
func Put(b []byte, t int64) { binary.BigEndian.PutUint64(b[:Size], uint64(t)) }

// Get reads a stamp value; ok is false when v is not Size bytes long.
func Get(v []byte) (t int64, ok bool) {
	if len(v) != Size {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v)), true
}
