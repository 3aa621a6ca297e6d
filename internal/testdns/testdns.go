package testdns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// SRV is the data of one SRV record.
type SRV struct {
	// Target is the host name the record points at; a final dot is optional.
	Target   string
	Port     uint16
	Priority uint16
	Weight   uint16
}

// Zone is what a Server answers. Names are matched without regard to case,
// with or without a final dot. A name listed with no records exists but
// has no data (the answer is empty, not NXDOMAIN); a name that is in
// neither map does not exist (NXDOMAIN).
type Zone struct {
	// Hosts holds each name's addresses: IPv4 ones answer A questions,
	// IPv6 ones AAAA questions.
	Hosts map[string][]netip.Addr
	// SRV holds each name's SRV records, e.g. "_grpc._tcp.agents.test".
	SRV map[string][]SRV
}

// Query is one question a Server received.
type Query struct {
	Name string // lower case, with a final dot
	Type string // "A", "AAAA", "SRV", ...
	Net  string // "udp" or "tcp"
}

// Server answers DNS questions from a Zone on one address over UDP and
// TCP. Its methods are safe for concurrent use.
type Server struct {
	hosts map[string][]netip.Addr
	srv   map[string][]dnsmessage.SRVResource
	udp   net.PacketConn
	tcp   net.Listener
	wg    sync.WaitGroup

	mu      sync.Mutex
	conns   map[net.Conn]bool
	queries []Query
	closed  bool
}

// tcpIdle is how long a TCP connection may sit between questions.
const tcpIdle = 10 * time.Second

// maxUDP is the largest UDP answer the server sends to EDNS0 clients; it
// advertises the same size.
const maxUDP = 1232

// Start serves zone on addr (host:port) over UDP and TCP until Close. With
// port 0 both listen on one port the system picks.
func Start(addr string, zone Zone) (*Server, error) {
	s := &Server{hosts: map[string][]netip.Addr{}, srv: map[string][]dnsmessage.SRVResource{}, conns: map[net.Conn]bool{}}
	for name, addrs := range zone.Hosts {
		n, err := canonical(name)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			if !a.IsValid() {
				return nil, fmt.Errorf("testdns: host %s: invalid address", name)
			}
			s.hosts[n] = append(s.hosts[n], a.Unmap())
		}
		if s.hosts[n] == nil {
			s.hosts[n] = []netip.Addr{}
		}
	}
	for name, recs := range zone.SRV {
		n, err := canonical(name)
		if err != nil {
			return nil, err
		}
		s.srv[n] = []dnsmessage.SRVResource{}
		for _, r := range recs {
			target, err := canonical(r.Target)
			if err != nil {
				return nil, fmt.Errorf("testdns: SRV %s: %w", name, err)
			}
			s.srv[n] = append(s.srv[n], dnsmessage.SRVResource{Priority: r.Priority, Weight: r.Weight, Port: r.Port,
				Target: dnsmessage.MustNewName(target)})
		}
	}
	if err := s.listen(addr); err != nil {
		return nil, err
	}
	s.wg.Add(2)
	go s.serveUDP()
	go s.serveTCP()
	return s, nil
}

// canonical checks a name and returns it in lower case with a final dot.
func canonical(name string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(name, ".")) + "."
	if n == "." || len(n) > 254 || strings.Contains(n, "..") {
		return "", fmt.Errorf("testdns: invalid name %q", name)
	}
	for _, label := range strings.Split(strings.TrimSuffix(n, "."), ".") {
		if len(label) > 63 {
			return "", fmt.Errorf("testdns: invalid name %q: label longer than 63 bytes", name)
		}
	}
	return n, nil
}

// listen opens the UDP and TCP listeners on one port.
func (s *Server) listen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("testdns: listen %s: %w", addr, err)
	}
	for try := 0; ; try++ {
		udp, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("testdns: listen udp %s: %w", addr, err)
		}
		p := port
		if p == "0" {
			p = strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port)
		}
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, p))
		if err == nil {
			s.udp, s.tcp = udp, tcp
			return nil
		}
		udp.Close()
		// A picked UDP port may be taken for TCP: pick again.
		if port != "0" || try == 10 {
			return fmt.Errorf("testdns: listen tcp %s: %w", net.JoinHostPort(host, p), err)
		}
	}
}

// Addr is the host:port the server answers on (UDP and TCP).
func (s *Server) Addr() string { return s.tcp.Addr().String() }

// Queries returns the questions received so far, oldest first.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

// Close stops the server, closes its connections and waits for its
// goroutines. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := errors.Join(s.udp.Close(), s.tcp.Close())
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if out := s.answer(buf[:n], "udp"); out != nil {
			s.udp.WriteTo(out, from)
		}
	}
}

func (s *Server) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// serveConn answers length-prefixed questions on c until it closes or idles.
func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	var size [2]byte
	for {
		c.SetDeadline(time.Now().Add(tcpIdle))
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		req := make([]byte, binary.BigEndian.Uint16(size[:]))
		if _, err := io.ReadFull(c, req); err != nil {
			return
		}
		out := s.answer(req, "tcp")
		if out == nil {
			return
		}
		if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(out))), out...)); err != nil {
			return
		}
	}
}

// answer builds the response to the message req received over network
// ("udp" or "tcp"); nil means no response (req is not a question).
func (s *Server) answer(req []byte, network string) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil || h.Response {
		return nil
	}
	resp := dnsmessage.Header{ID: h.ID, Response: true, OpCode: h.OpCode, Authoritative: true, RecursionDesired: h.RecursionDesired}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 {
		resp.RCode = dnsmessage.RCodeFormatError
		return build(resp, nil, nil, false)
	}
	q := qs[0]
	// The client's EDNS0 OPT record, if any, says how large a UDP answer may be.
	limit, edns := 512, false
	if p.SkipAllAnswers() == nil && p.SkipAllAuthorities() == nil {
		for {
			rh, err := p.AdditionalHeader()
			if err != nil {
				break
			}
			if rh.Type == dnsmessage.TypeOPT {
				edns = true
				limit = min(max(int(rh.Class), 512), maxUDP)
			}
			if p.SkipAdditional() != nil {
				break
			}
		}
	}
	name := strings.ToLower(q.Name.String())
	s.mu.Lock()
	s.queries = append(s.queries, Query{Name: name, Type: strings.TrimPrefix(q.Type.String(), "Type"), Net: network})
	s.mu.Unlock()

	var rrs []func(*dnsmessage.Builder) error
	switch {
	case h.OpCode != 0:
		resp.RCode = dnsmessage.RCodeNotImplemented
	case q.Class != dnsmessage.ClassINET:
		resp.RCode = dnsmessage.RCodeRefused
	default:
		rrs, resp.RCode = s.records(q)
	}
	out := build(resp, &q, rrs, edns)
	if out == nil { // more records than a message holds
		resp.RCode = dnsmessage.RCodeServerFailure
		out = build(resp, &q, nil, edns)
	}
	if network == "udp" && len(out) > limit {
		resp.Truncated = true
		out = build(resp, &q, nil, edns)
	}
	return out
}

// records returns the answer records for q and the response code.
func (s *Server) records(q dnsmessage.Question) ([]func(*dnsmessage.Builder) error, dnsmessage.RCode) {
	name := strings.ToLower(q.Name.String())
	addrs, isHost := s.hosts[name]
	srvs, isSRV := s.srv[name]
	if !isHost && !isSRV {
		return nil, dnsmessage.RCodeNameError
	}
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET}
	var rrs []func(*dnsmessage.Builder) error
	switch q.Type {
	case dnsmessage.TypeA, dnsmessage.TypeAAAA:
		for _, a := range addrs {
			switch {
			case a.Is4() && q.Type == dnsmessage.TypeA:
				rrs = append(rrs, func(b *dnsmessage.Builder) error { return b.AResource(rh, dnsmessage.AResource{A: a.As4()}) })
			case a.Is6() && q.Type == dnsmessage.TypeAAAA:
				rrs = append(rrs, func(b *dnsmessage.Builder) error { return b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()}) })
			}
		}
	case dnsmessage.TypeSRV:
		for _, r := range srvs {
			rrs = append(rrs, func(b *dnsmessage.Builder) error { return b.SRVResource(rh, r) })
		}
	}
	return rrs, dnsmessage.RCodeSuccess
}

// build packs a response; q nil leaves the question section empty.
func build(h dnsmessage.Header, q *dnsmessage.Question, rrs []func(*dnsmessage.Builder) error, edns bool) []byte {
	b := dnsmessage.NewBuilder(nil, h)
	b.EnableCompression()
	if q != nil {
		if b.StartQuestions() != nil || b.Question(*q) != nil {
			return nil
		}
	}
	if b.StartAnswers() != nil {
		return nil
	}
	for _, rr := range rrs {
		if rr(&b) != nil {
			return nil
		}
	}
	if edns {
		var opt dnsmessage.ResourceHeader
		if b.StartAdditionals() != nil || opt.SetEDNS0(maxUDP, dnsmessage.RCodeSuccess, false) != nil ||
			b.OPTResource(opt, dnsmessage.OPTResource{}) != nil {
			return nil
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}
