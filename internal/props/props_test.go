package props

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	t.Parallel()
	got, err := Parse(map[string]string{
		"acks": "1", "batch.size": "100000", "linger.ms": "10", "compression.type": "lz4",
		"retries": "0", "buffer.memory": "67108864", "bootstrap.servers": "b:9092",
		"max.in.flight.requests.per.connection": "1", "request.timeout.ms": "5000", "client.id": "x",
		"max.request.size": "2097152",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Producer{Acks: AcksLeader, BatchBytes: 100000, Linger: 10 * time.Millisecond, Compression: "lz4",
		MaxInFlight: 1, Retries: 0, BufferBytes: 64 << 20, MaxRequestBytes: 2 << 20, RequestTimeout: 5 * time.Second, ClientID: "x",
		Security: Security{Protocol: ProtocolPlaintext, VerifyHostname: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
	if d, _ := Parse(nil); !cmp.Equal(d, Defaults()) {
		t.Errorf("Parse(nil) = %+v, want defaults", d)
	}
}

func TestParseErrorsNameTheProperty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		props map[string]string
		want  string
	}{
		{name: "unknown", props: map[string]string{"lingerms": "5"}, want: "lingerms"},
		{name: "bad acks", props: map[string]string{"acks": "2"}, want: "acks"},
		{name: "bad compression", props: map[string]string{"compression.type": "brotli"}, want: "compression.type"},
		{name: "negative batch", props: map[string]string{"batch.size": "-1"}, want: "batch.size"},
		{name: "not a number", props: map[string]string{"linger.ms": "five"}, want: "linger.ms"},
		{name: "idempotence without acks=all", props: map[string]string{"enable.idempotence": "true", "acks": "1"}, want: "enable.idempotence"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tc.props)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%v) error = %v, want one naming %q", tc.props, err, tc.want)
			}
		})
	}
}

// TestParseIgnoresJavaClientTuning: properties that tune the Java client's
// machinery are accepted and listed as not applied; other unknown names
// are still refused.
func TestParseIgnoresJavaClientTuning(t *testing.T) {
	p, err := Parse(map[string]string{"max.block.ms": "60000", "delivery.timeout.ms": "120000", "acks": "1", "ssl.enabled.protocols": "TLSv1.3"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"delivery.timeout.ms", "max.block.ms", "ssl.enabled.protocols"}; !slices.Equal(p.Ignored, want) || p.Acks != AcksLeader {
		t.Errorf("Ignored %v acks %v; want %v and acks 1", p.Ignored, p.Acks, want)
	}
	for _, k := range p.Ignored {
		if IgnoredWhy(k) == "" {
			t.Errorf("%s: no reason", k)
		}
	}
	if _, err := Parse(map[string]string{"interceptor.classes": "x.Y"}); err == nil || !strings.Contains(err.Error(), "producer property interceptor.classes: unknown property") {
		t.Errorf("interceptor.classes: %v", err)
	}
}
