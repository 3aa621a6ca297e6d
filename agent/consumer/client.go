package consumer

import "context"

// Client is one consumer group member driven by one worker.
type Client interface {
	// Run consumes until ctx is done or the agent's record limit is
	// reached. The client joins the group at once but hands records to its
	// worker only once the worker's gate is open.
	Run(ctx context.Context) error
	// Close commits what was consumed, leaves the group and releases the
	// client. Call it after Run returned.
	Close() error
}

// Options configure a client.
type Options struct {
	Brokers  []string
	Topic    string
	Group    string
	Settings Settings
	// Worker receives what the client consumes.
	Worker *Worker
	// JoinAtStart delays joining the group until the worker's gate opens.
	JoinAtStart bool
}
