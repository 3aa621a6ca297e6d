package controller

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestConnectErrorPointsAtTheCause(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "refused login", err: fmt.Errorf("metadata: %w", kerr.SaslAuthenticationFailed), want: "authentication failed (check the producer properties sasl.mechanism and sasl.jaas.config)"},
		{name: "untrusted certificate", err: fmt.Errorf("unable to dial: %w", &tls.CertificateVerificationError{Err: errors.New("x509: unknown authority")}),
			want: "TLS handshake failed"},
		{name: "broker's alert", err: &net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}, want: "TLS handshake failed"},
		{name: "nothing listening", err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}, want: "kafka unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := connectError(tc.err)
			if !strings.HasPrefix(got.Error(), tc.want) || !errors.Is(got, tc.err) {
				t.Errorf("connectError(%v) = %v, want it to start with %q and wrap the cause", tc.err, got, tc.want)
			}
		})
	}
}
