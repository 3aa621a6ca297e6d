package producer

import "time"

// Clock reads monotonic time as nanoseconds since its creation, and maps
// those readings to wall-clock time.
type Clock struct {
	base time.Time
}

// NewClock returns a clock whose zero is now.
func NewClock() Clock { return Clock{base: time.Now()} }

// Now returns monotonic nanoseconds since the clock was made.
func (c Clock) Now() int64 { return int64(time.Since(c.base)) }

// Wall returns the Unix nanoseconds of the monotonic reading t.
func (c Clock) Wall(t int64) int64 { return c.base.UnixNano() + t }

// FromWall returns the monotonic reading of Unix nanoseconds u.
func (c Clock) FromWall(u int64) int64 { return u - c.base.UnixNano() }
