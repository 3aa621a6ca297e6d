// Package discover turns an --agents spec into agent addresses: static
// host:port entries, every address of a DNS name (dns:///name:port), or
// every target of an SRV name (srv:_service._proto.domain).
package discover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Resolver looks names up; *net.Resolver satisfies it.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

const (
	dnsPrefix = "dns:///"
	srvPrefix = "srv:"
)

// SpecError is a malformed entry of a spec.
type SpecError struct {
	Entry string
	Msg   string
}

func (e *SpecError) Error() string { return fmt.Sprintf("--agents %s: %s", e.Entry, e.Msg) }

// entry is one parsed spec entry.
type entry struct {
	raw        string
	kind       byte // 's' static, 'd' dns, 'v' srv
	host, port string
}

func entries(spec string) []string {
	var out []string
	for _, p := range strings.Split(spec, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parse(raw string) (entry, error) {
	switch {
	case strings.HasPrefix(raw, dnsPrefix):
		host, port, err := net.SplitHostPort(strings.TrimPrefix(raw, dnsPrefix))
		if err != nil || host == "" || port == "" {
			return entry{}, &SpecError{raw, "want dns:///name:port"}
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return entry{}, &SpecError{raw, fmt.Sprintf("port %q: want 1-65535", port)}
		}
		return entry{raw: raw, kind: 'd', host: host, port: port}, nil
	case strings.HasPrefix(raw, srvPrefix):
		name := strings.TrimPrefix(raw, srvPrefix)
		if name == "" || strings.ContainsAny(name, ":/ ") {
			return entry{}, &SpecError{raw, "want srv:_service._proto.domain"}
		}
		return entry{raw: raw, kind: 'v', host: name}, nil
	case strings.Contains(raw, "://") || strings.HasPrefix(raw, "dns:"):
		return entry{}, &SpecError{raw, "want host:port, dns:///name:port or srv:_service._proto.domain"}
	}
	return entry{raw: raw, kind: 's'}, nil
}

// Check reports the first malformed entry of spec.
func Check(spec string) error {
	for _, raw := range entries(spec) {
		if _, err := parse(raw); err != nil {
			return err
		}
	}
	return nil
}

// IsDynamic reports whether spec has a dns:/// or srv: entry.
func IsDynamic(spec string) bool {
	for _, raw := range entries(spec) {
		if strings.HasPrefix(raw, dnsPrefix) || strings.HasPrefix(raw, srvPrefix) {
			return true
		}
	}
	return false
}

// Resolve returns the addresses of spec's entries, deduplicated and sorted.
// Static entries are kept as given; errors name the entry.
func Resolve(ctx context.Context, spec string, r Resolver) ([]string, error) {
	seen := map[string]bool{}
	for _, raw := range entries(spec) {
		e, err := parse(raw)
		if err != nil {
			return nil, err
		}
		switch e.kind {
		case 's':
			seen[raw] = true
		case 'd':
			ips, err := r.LookupIPAddr(ctx, e.host)
			if err != nil {
				return nil, fmt.Errorf("--agents %s: %w", raw, err)
			}
			if len(ips) == 0 {
				return nil, fmt.Errorf("--agents %s: lookup %s: no addresses", raw, e.host)
			}
			for _, ip := range ips {
				seen[net.JoinHostPort(ip.String(), e.port)] = true
			}
		case 'v':
			_, srvs, err := r.LookupSRV(ctx, "", "", e.host)
			if err != nil {
				return nil, fmt.Errorf("--agents %s: %w", raw, err)
			}
			if len(srvs) == 0 {
				return nil, fmt.Errorf("--agents %s: lookup %s: no SRV records", raw, e.host)
			}
			for _, s := range srvs {
				seen[net.JoinHostPort(strings.TrimSuffix(s.Target, "."), strconv.Itoa(int(s.Port)))] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	slices.Sort(out)
	return out, nil
}

// Interval is how often WaitFor resolves again.
var Interval = 500 * time.Millisecond

// WaitFor resolves spec until at least expect of its addresses answer
// ready (nil: every address is ready), and returns those. Addresses that
// do not answer are left out. expect 0 resolves and checks once, without
// waiting, and needs one ready address. Lookup failures while waiting are
// retried; after timeout the error says how many agents were found.
func WaitFor(ctx context.Context, spec string, expect int, timeout time.Duration, r Resolver, ready func(addr string) bool) ([]string, error) {
	if err := Check(spec); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var ok, down []string // of the last check that the deadline did not cut short
	var lookupErr error   // of the last lookup that the deadline did not cut short
	for {
		began := time.Now()
		resolved, err := Resolve(ctx, spec, r)
		if err != nil && expect == 0 {
			return nil, err
		}
		if ctx.Err() == nil || lookupErr == nil {
			lookupErr = err
		}
		if err == nil {
			o, d := check(resolved, ready)
			if len(o) > 0 && len(o) >= expect {
				return o, nil
			}
			if ctx.Err() == nil || (ok == nil && down == nil) {
				ok, down = o, d
			}
		}
		if expect == 0 {
			return nil, fmt.Errorf("--agents %s: no agent answers at %v", spec, down)
		}
		wait := time.NewTimer(Interval - time.Since(began))
		select {
		case <-ctx.Done():
			wait.Stop()
			msg := fmt.Sprintf("found %d of %d agents after %v: %v", len(ok), expect, timeout, orEmpty(ok))
			if len(down) > 0 {
				msg += fmt.Sprintf(" (not answering: %v)", down)
			}
			if lookupErr != nil {
				msg += "; last lookup: " + lookupErr.Error()
			}
			return nil, errors.New(msg)
		case <-wait.C:
		}
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// check splits addrs into those that answer ready and those that do not,
// checking in parallel; both stay sorted.
func check(addrs []string, ready func(string) bool) (ok, down []string) {
	if ready == nil {
		return addrs, nil
	}
	res := make([]bool, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() { res[i] = ready(a) })
	}
	wg.Wait()
	for i, a := range addrs {
		if res[i] {
			ok = append(ok, a)
		} else {
			down = append(down, a)
		}
	}
	return ok, down
}
