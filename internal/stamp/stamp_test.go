package stamp

import "testing"

func TestPutGetRoundTrip(t *testing.T) {
	t.Parallel()
	for _, v := range []int64{0, 1, 1_764_000_000_123_456_789, -5} {
		b := make([]byte, Size)
		Put(b, v)
		if got, ok := Get(b); !ok || got != v {
			t.Errorf("Get(Put(%d)) = %d, %v; want %d, true", v, got, ok, v)
		}
	}
	// Big-endian: the first byte is the most significant.
	b := make([]byte, Size)
	Put(b, 0x0102030405060708)
	if b[0] != 1 || b[7] != 8 {
		t.Errorf("Put(0x0102030405060708) = % x, want big-endian", b)
	}
}

func TestGetRejectsOtherLengths(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 7, 9} {
		if _, ok := Get(make([]byte, n)); ok {
			t.Errorf("Get(%d bytes) ok, want not ok", n)
		}
	}
}
