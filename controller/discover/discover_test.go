package discover

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeResolver answers from maps; each lookup of a name takes the next
// answer of its list (the last one repeats).
type fakeResolver struct {
	mu    sync.Mutex
	ips   map[string][][]string
	srvs  map[string][]*net.SRV
	calls map[string]int
}

func (f *fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	answers, ok := f.ips[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	i := min(f.calls[host], len(answers)-1)
	f.calls[host]++
	var out []net.IPAddr
	for _, s := range answers[i] {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

func (f *fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	if service != "" || proto != "" {
		return "", nil, errors.New("want the full name")
	}
	s, ok := f.srvs[name]
	if !ok {
		return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return name, s, nil
}

var _ Resolver = net.DefaultResolver

func fake() *fakeResolver {
	return &fakeResolver{
		ips: map[string][][]string{
			"kperf.default.svc.cluster.local": {{"10.0.0.2", "10.0.0.1", "fd00::1"}},
			"localhost":                       {{"127.0.0.1", "::1"}},
			"grow":                            {{"10.1.0.1"}, {"10.1.0.1", "10.1.0.2", "10.1.0.3"}},
		},
		srvs: map[string][]*net.SRV{
			"_kperf._tcp.marathon.mesos": {
				{Target: "kperf-abc.marathon.mesos.", Port: 31001},
				{Target: "kperf-def.marathon.mesos.", Port: 31002},
				{Target: "kperf-abc.marathon.mesos.", Port: 31001},
			},
		},
	}
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want []string
	}{
		{"h2:7070, h1:7070", []string{"h1:7070", "h2:7070"}},
		{"dns:///kperf.default.svc.cluster.local:7070", []string{"10.0.0.1:7070", "10.0.0.2:7070", "[fd00::1]:7070"}},
		{"dns:///localhost:7070", []string{"127.0.0.1:7070", "[::1]:7070"}},
		{"srv:_kperf._tcp.marathon.mesos", []string{"kperf-abc.marathon.mesos:31001", "kperf-def.marathon.mesos:31002"}},
		{"dns:///localhost:7070,127.0.0.1:7070,srv:_kperf._tcp.marathon.mesos,h1:7070",
			[]string{"127.0.0.1:7070", "[::1]:7070", "h1:7070", "kperf-abc.marathon.mesos:31001", "kperf-def.marathon.mesos:31002"}},
	} {
		got, err := Resolve(context.Background(), tc.spec, fake())
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Resolve(%q) = %v, %v; want %v", tc.spec, got, err, tc.want)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	for _, tc := range []struct {
		spec, want string
		bad        bool // a SpecError
	}{
		{"h1:7070,dns:///kperf:7070", "--agents dns:///kperf:7070: lookup kperf: no such host", false},
		{"srv:_x._tcp.nowhere", "--agents srv:_x._tcp.nowhere: lookup _x._tcp.nowhere: no such host", false},
		{"dns:///kperf", "--agents dns:///kperf: want dns:///name:port", true},
		{"dns:///kperf:", "--agents dns:///kperf:: want dns:///name:port", true},
		{"dns:///:7070", "--agents dns:///:7070: want dns:///name:port", true},
		{"dns:///kperf:http", `--agents dns:///kperf:http: port "http": want 1-65535`, true},
		{"srv:", "--agents srv:: want srv:_service._proto.domain", true},
		{"dns://kperf:7070", "--agents dns://kperf:7070: want host:port, dns:///name:port or srv:_service._proto.domain", true},
	} {
		_, err := Resolve(context.Background(), tc.spec, fake())
		var se *SpecError
		if err == nil || err.Error() != tc.want || errors.As(err, &se) != tc.bad {
			t.Errorf("Resolve(%q): %v; want %q (spec error %v)", tc.spec, err, tc.want, tc.bad)
		}
		if tc.bad && Check(tc.spec) == nil {
			t.Errorf("Check(%q) = nil", tc.spec)
		}
	}
	if !IsDynamic("h1:1,srv:_a._tcp.b") || IsDynamic("h1:1,h2:2") {
		t.Error("IsDynamic")
	}
}

func TestWaitForGrows(t *testing.T) {
	defer func(d time.Duration) { Interval = d }(Interval)
	Interval = 10 * time.Millisecond
	f := fake()
	got, err := WaitFor(context.Background(), "dns:///grow:7070", 3, 5*time.Second, f, nil)
	want := []string{"10.1.0.1:7070", "10.1.0.2:7070", "10.1.0.3:7070"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("WaitFor = %v, %v; want %v", got, err, want)
	}
	if f.calls["grow"] != 2 {
		t.Errorf("%d lookups, want 2", f.calls["grow"])
	}
}

func TestWaitForTimeout(t *testing.T) {
	defer func(d time.Duration) { Interval = d }(Interval)
	Interval = 10 * time.Millisecond
	f := fake()
	f.ips["grow"] = [][]string{{"10.1.0.1"}}
	_, err := WaitFor(context.Background(), "dns:///grow:7070", 3, 100*time.Millisecond, f, nil)
	if err == nil || !strings.Contains(err.Error(), "found 1 of 3 agents after 100ms: [10.1.0.1:7070]") {
		t.Fatalf("WaitFor: %v; want found 1 of 3", err)
	}
	// A name that never resolves: the last lookup error is in the message.
	_, err = WaitFor(context.Background(), "dns:///kperf:7070", 1, 50*time.Millisecond, f, nil)
	if err == nil || !strings.Contains(err.Error(), "found 0 of 1 agents after 50ms: []; last lookup: --agents dns:///kperf:7070: lookup kperf: no such host") {
		t.Fatalf("WaitFor: %v", err)
	}
	// A malformed entry fails at once.
	_, err = WaitFor(context.Background(), "dns:///kperf", 1, time.Hour, f, nil)
	var se *SpecError
	if !errors.As(err, &se) {
		t.Fatalf("WaitFor: %v; want a SpecError", err)
	}
}

func TestWaitForReady(t *testing.T) {
	defer func(d time.Duration) { Interval = d }(Interval)
	Interval = 10 * time.Millisecond
	notV6 := func(a string) bool { return !strings.HasPrefix(a, "[") }

	// expect 0: one lookup, one check; the unreachable ::1 is left out.
	got, err := WaitFor(context.Background(), "dns:///localhost:7070", 0, time.Hour, fake(), notV6)
	if err != nil || !slices.Equal(got, []string{"127.0.0.1:7070"}) {
		t.Errorf("expect 0: %v, %v", got, err)
	}
	// expect 0 with nothing answering fails at once.
	_, err = WaitFor(context.Background(), "dns:///localhost:7070", 0, time.Hour, fake(), func(string) bool { return false })
	if err == nil || !strings.Contains(err.Error(), "no agent answers at [127.0.0.1:7070 [::1]:7070]") {
		t.Errorf("expect 0, none ready: %v", err)
	}
	// expect 0 and a failing lookup: no retry.
	_, err = WaitFor(context.Background(), "dns:///kperf:7070", 0, time.Hour, fake(), nil)
	if err == nil || err.Error() != "--agents dns:///kperf:7070: lookup kperf: no such host" {
		t.Errorf("expect 0, lookup fails: %v", err)
	}

	// Three resolved, two answering: expect 2 is met, expect 3 times out.
	spec := "dns:///kperf.default.svc.cluster.local:7070"
	got, err = WaitFor(context.Background(), spec, 2, time.Hour, fake(), notV6)
	if err != nil || !slices.Equal(got, []string{"10.0.0.1:7070", "10.0.0.2:7070"}) {
		t.Errorf("expect 2: %v, %v", got, err)
	}
	_, err = WaitFor(context.Background(), spec, 3, 50*time.Millisecond, fake(), notV6)
	if err == nil || err.Error() != "found 2 of 3 agents after 50ms: [10.0.0.1:7070 10.0.0.2:7070] (not answering: [[fd00::1]:7070])" {
		t.Errorf("expect 3: %v", err)
	}

	// An agent that starts answering later is waited for.
	var mu sync.Mutex
	checks := map[string]int{}
	late := func(a string) bool {
		mu.Lock()
		defer mu.Unlock()
		checks[a]++
		return a != "10.0.0.2:7070" || checks[a] > 3
	}
	got, err = WaitFor(context.Background(), spec, 3, 5*time.Second, fake(), late)
	if err != nil || len(got) != 3 || checks["10.0.0.2:7070"] != 4 {
		t.Errorf("late agent: %v, %v, %d checks", got, err, checks["10.0.0.2:7070"])
	}
}
