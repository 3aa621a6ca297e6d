package testdns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"
)

// resolver is Go's own DNS client pointed at s over network ("udp" lets
// the client choose, falling back to TCP for truncated answers; "tcp"
// forces TCP).
func resolver(s *Server, network string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, n, _ string) (net.Conn, error) {
		if network == "tcp" {
			n = "tcp"
		}
		var d net.Dialer
		return d.DialContext(ctx, n, s.Addr())
	}}
}

func start(t *testing.T, z Zone) *Server {
	t.Helper()
	s, err := Start("127.0.0.1:0", z)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func zone() Zone {
	return Zone{
		Hosts: map[string][]netip.Addr{
			"agents.kperf.test":     addrs("10.213.0.12", "10.213.0.11", "fd00::13"),
			"A1.Agents.kperf.test.": addrs("10.213.0.11"),
			"v6only.kperf.test":     addrs("fd00::1"),
			"empty.kperf.test":      nil,
		},
		SRV: map[string][]SRV{
			"_grpc._tcp.agents.kperf.test": {
				{Target: "a1.agents.kperf.test", Port: 7070, Priority: 1, Weight: 1},
				{Target: "a2.agents.kperf.test.", Port: 7071, Priority: 1, Weight: 1},
			},
		},
	}
}

func TestLookups(t *testing.T) {
	t.Parallel()
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			t.Parallel()
			s := start(t, zone())
			r := resolver(s, network)
			ctx := context.Background()

			for _, tc := range []struct {
				host string
				want []string
			}{
				{host: "agents.kperf.test", want: []string{"10.213.0.11", "10.213.0.12", "fd00::13"}},
				{host: "a1.agents.KPERF.test.", want: []string{"10.213.0.11"}},
				{host: "v6only.kperf.test", want: []string{"fd00::1"}},
			} {
				ips, err := r.LookupIPAddr(ctx, tc.host)
				var got []string
				for _, ip := range ips {
					got = append(got, ip.IP.String())
				}
				slices.Sort(got)
				if err != nil || !slices.Equal(got, tc.want) {
					t.Errorf("LookupIPAddr(%q) = %v, %v; want %v", tc.host, got, err, tc.want)
				}
			}

			_, srvs, err := r.LookupSRV(ctx, "", "", "_grpc._tcp.agents.kperf.test")
			var got []string
			for _, s := range srvs {
				got = append(got, fmt.Sprintf("%s:%d", s.Target, s.Port))
			}
			slices.Sort(got)
			if want := []string{"a1.agents.kperf.test.:7070", "a2.agents.kperf.test.:7071"}; err != nil || !slices.Equal(got, want) {
				t.Errorf("LookupSRV = %v, %v; want %v", got, err, want)
			}

			for _, host := range []string{"nothing.kperf.test", "empty.kperf.test", "_grpc._tcp.agents.kperf.test"} {
				ips, err := r.LookupIPAddr(ctx, host)
				var de *net.DNSError
				if !errors.As(err, &de) || !de.IsNotFound {
					t.Errorf("LookupIPAddr(%q) = %v, %v; want not found", host, ips, err)
				}
			}
			if _, srvs, err := r.LookupSRV(ctx, "", "", "agents.kperf.test"); err == nil {
				t.Errorf("LookupSRV(agents.kperf.test) = %v; want an error (no SRV records)", srvs)
			}

			for _, q := range s.Queries() {
				if q.Net != network {
					t.Errorf("query %+v over %s, want %s", q, q.Net, network)
				}
			}
			if q := s.Queries(); !slices.Contains(q, Query{Name: "_grpc._tcp.agents.kperf.test.", Type: "SRV", Net: network}) ||
				!slices.Contains(q, Query{Name: "agents.kperf.test.", Type: "AAAA", Net: network}) {
				t.Errorf("Queries() = %v; want the SRV and AAAA questions", q)
			}
		})
	}
}

// TestTruncation: an answer larger than a UDP message is sent truncated
// and the client gets all of it again over TCP.
func TestTruncation(t *testing.T) {
	t.Parallel()
	var many []netip.Addr
	for i := range 200 {
		many = append(many, netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(i%250 + 1)}))
	}
	s := start(t, Zone{Hosts: map[string][]netip.Addr{"many.test": many}})
	ips, err := resolver(s, "udp").LookupIPAddr(context.Background(), "many.test")
	if err != nil || len(ips) != len(many) {
		t.Fatalf("LookupIPAddr(many.test) = %d addresses, %v; want %d", len(ips), err, len(many))
	}
	var udp, tcp bool
	for _, q := range s.Queries() {
		if q.Name == "many.test." && q.Type == "A" {
			udp = udp || q.Net == "udp"
			tcp = tcp || q.Net == "tcp"
		}
	}
	if !udp || !tcp {
		t.Errorf("queries %v: want the A question over UDP, then again over TCP", s.Queries())
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 64) + ".test"
	for _, tc := range []struct {
		name string
		zone Zone
		want string
	}{
		{name: "empty name", zone: Zone{Hosts: map[string][]netip.Addr{"": nil}}, want: `invalid name ""`},
		{name: "empty label", zone: Zone{Hosts: map[string][]netip.Addr{"a..test": nil}}, want: `invalid name "a..test"`},
		{name: "long label", zone: Zone{Hosts: map[string][]netip.Addr{long: nil}}, want: "longer than 63"},
		{name: "zero address", zone: Zone{Hosts: map[string][]netip.Addr{"a.test": {{}}}}, want: "host a.test: invalid address"},
		{name: "SRV without target", zone: Zone{SRV: map[string][]SRV{"_a._tcp.test": {{Port: 1}}}}, want: "SRV _a._tcp.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Start("127.0.0.1:0", tc.zone)
			if err == nil {
				s.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start: %v; want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := Start("127.0.0.1", Zone{}); err == nil {
		t.Error("Start(127.0.0.1) without a port: want an error")
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	s := start(t, zone())
	// A TCP client that stays connected must not keep Close waiting.
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with an idle TCP client connected")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := resolver(s, "tcp").LookupIPAddr(ctx, "agents.kperf.test"); err == nil {
		t.Error("lookup after Close succeeded")
	}
}

func TestMalformedQuestions(t *testing.T) {
	t.Parallel()
	s := start(t, zone())
	if out := s.answer([]byte{1, 2, 3}, "udp"); out != nil {
		t.Errorf("answer(3 bytes) = %x; want no answer", out)
	}
	// A header with no question: FORMERR.
	out := s.answer([]byte{0xab, 0xcd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "udp")
	if len(out) < 12 || out[0] != 0xab || out[1] != 0xcd || out[3]&0x0f != 1 {
		t.Errorf("answer(no question) = %x; want FORMERR for id abcd", out)
	}
	if diff := cmp.Diff([]Query(nil), s.Queries()); diff != "" {
		t.Errorf("malformed questions recorded (-want +got):\n%s", diff)
	}
}

// exchange sends one question over UDP without the Go resolver and
// returns the response header and answer count.
func exchange(t *testing.T, s *Server, name string, typ dnsmessage.Type, class dnsmessage.Class, opcode dnsmessage.OpCode, edns bool) (dnsmessage.Header, int) {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, OpCode: opcode, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: class})
	if edns {
		var opt dnsmessage.ResourceHeader
		opt.SetEDNS0(4096, dnsmessage.RCodeSuccess, false)
		b.StartAdditionals()
		b.OPTResource(opt, dnsmessage.OPTResource{})
	}
	req, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read answer to %s: %v", name, err)
	}
	var p dnsmessage.Parser
	h, err := p.Start(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	p.SkipAllQuestions()
	answers, err := p.AllAnswers()
	if err != nil {
		t.Fatal(err)
	}
	if h.ID != 7 || !h.Response || !h.Authoritative || !h.RecursionDesired {
		t.Errorf("answer to %s: header %+v; want id 7, response, authoritative, recursion desired", name, h)
	}
	return h, len(answers)
}

func TestResponseCodes(t *testing.T) {
	t.Parallel()
	var many []netip.Addr
	for i := range 40 { // 40 A records: over 512 bytes, under 1232
		many = append(many, netip.AddrFrom4([4]byte{10, 2, 0, byte(i + 1)}))
	}
	z := zone()
	z.Hosts["many.test"] = many
	s := start(t, z)
	inet := dnsmessage.ClassINET
	for _, tc := range []struct {
		name      string
		qname     string
		typ       dnsmessage.Type
		class     dnsmessage.Class
		opcode    dnsmessage.OpCode
		edns      bool
		rcode     dnsmessage.RCode
		answers   int
		truncated bool
	}{
		{name: "A", qname: "agents.kperf.test.", typ: dnsmessage.TypeA, class: inet, rcode: dnsmessage.RCodeSuccess, answers: 2},
		{name: "AAAA", qname: "agents.kperf.test.", typ: dnsmessage.TypeAAAA, class: inet, rcode: dnsmessage.RCodeSuccess, answers: 1},
		{name: "SRV", qname: "_grpc._tcp.agents.kperf.test.", typ: dnsmessage.TypeSRV, class: inet, rcode: dnsmessage.RCodeSuccess, answers: 2},
		{name: "unknown name", qname: "nothing.kperf.test.", typ: dnsmessage.TypeA, class: inet, rcode: dnsmessage.RCodeNameError},
		{name: "name without data", qname: "empty.kperf.test.", typ: dnsmessage.TypeA, class: inet, rcode: dnsmessage.RCodeSuccess},
		{name: "other type", qname: "agents.kperf.test.", typ: dnsmessage.TypeMX, class: inet, rcode: dnsmessage.RCodeSuccess},
		{name: "other class", qname: "agents.kperf.test.", typ: dnsmessage.TypeA, class: dnsmessage.ClassCHAOS, rcode: dnsmessage.RCodeRefused},
		{name: "other opcode", qname: "agents.kperf.test.", typ: dnsmessage.TypeA, class: inet, opcode: 2, rcode: dnsmessage.RCodeNotImplemented},
		{name: "large without EDNS0", qname: "many.test.", typ: dnsmessage.TypeA, class: inet, rcode: dnsmessage.RCodeSuccess, truncated: true},
		{name: "large with EDNS0", qname: "many.test.", typ: dnsmessage.TypeA, class: inet, edns: true, rcode: dnsmessage.RCodeSuccess, answers: 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, n := exchange(t, s, tc.qname, tc.typ, tc.class, tc.opcode, tc.edns)
			if h.RCode != tc.rcode || n != tc.answers || h.Truncated != tc.truncated {
				t.Errorf("%s %s: rcode %v, %d answers, truncated %v; want %v, %d, %v", tc.qname, tc.typ, h.RCode, n, h.Truncated, tc.rcode, tc.answers, tc.truncated)
			}
		})
	}
}
