package producer

import "context"

// Record is one record on its way through a Client. Records are recycled:
// a Client must not touch a record after completing it.
type Record struct {
	// Intended is when the schedule meant the record to be sent (Clock ns).
	Intended int64
	// Handoff is when the worker handed the record to the client.
	Handoff int64
	// Payload indexes the worker's payloads.
	Payload int32
	// Size is the value size in bytes.
	Size int32
	// Stamp is the intended send time on the controller's clock (Unix ns),
	// which clients made with stamping on put in the record's header.
	Stamp int64
	// Err is set by the client when the record failed.
	Err error
	// slot is the client's own per-record state, set once by NewRecord.
	slot any
}

// Completer receives completed records. now is the Clock time of the acks.
// Complete must not keep recs.
type Completer interface {
	Complete(recs []*Record, now int64)
}

// Client is one Kafka producer client driven by one worker goroutine.
type Client interface {
	// NewRecord allocates a record with the client's per-record state.
	NewRecord() *Record
	// Send hands r to the client. It blocks while the client's queue is full
	// and returns false, without sending, when ctx is done first.
	Send(ctx context.Context, r *Record) bool
	// Close flushes, waits until every sent record has been completed (at
	// most the client's close budget), and releases the client. When ctx is
	// done, or becomes done while it waits, Close lets go of the records
	// still in flight at once: they are never delivered late, and stay
	// counted as sent. It must not run concurrently with Send.
	Close(ctx context.Context) error
}
