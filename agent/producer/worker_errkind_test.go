package producer

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestErrorKindIsTheSameForEveryDriver(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{err: sarama.ErrNotEnoughReplicas, want: "NOT_ENOUGH_REPLICAS"},
		{err: fmt.Errorf("produce: %w", kerr.NotEnoughReplicas), want: "NOT_ENOUGH_REPLICAS"},
		{err: errors.New("dial tcp: refused"), want: "dial tcp: refused"},
		{err: fmt.Errorf("kafka: out of brokers: %w", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), want: "read: connection reset by peer"},
		{err: &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, want: "read: connection reset by peer"},
	}
	for _, tc := range tests {
		if got := errorKind(tc.err); got != tc.want {
			t.Errorf("errorKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
