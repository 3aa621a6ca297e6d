//go:build e2e && linux

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kperf/kperf/internal/netns"
	"github.com/kperf/kperf/internal/testdns"
)

// The multi-host network: a bridge at 10.213.0.1 in the root namespace
// (where the DNS server and the broker listen), an agent in each of three
// namespaces, and the controller in a fourth.
const (
	mhPrefix   = "kperf-mh"
	mhBridge   = "10.213.0.1/24"
	mhCtlAddr  = "10.213.0.10"
	mhPort     = "7070"
	mhDNSName  = "agents.kperf.test"
	mhSRVName  = "_grpc._tcp.agents.kperf.test"
	mhNone     = "none.kperf.test"            // exists, no addresses
	mhNoSRV    = "_grpc._tcp.none.kperf.test" // does not exist
	mhRecords  = 30_000
	mhAgentNum = 3
)

// mhAgent is an agent process in its own namespace.
type mhAgent struct {
	ns   *netns.Namespace
	name string // its DNS name, a<i>.agents.kperf.test
}

func (a mhAgent) addr() string { return a.ns.Addr.String() + ":" + mhPort }

// mhSummary is the part of summary.json the multi-host test reads.
type mhSummary struct {
	Records int64 `json:"records"`
	Agents  []struct {
		Address  string `json:"address"`
		Hostname string `json:"hostname"`
		Version  string `json:"version"`
		Records  int64  `json:"records"`
	} `json:"agents"`
	DeliveryCheck struct {
		Acked             int64 `json:"acked"`
		BrokerOffsetDelta int64 `json:"broker_offset_delta"`
		OK                bool  `json:"ok"`
	} `json:"delivery_check"`
}

// TestMultiHost runs agents as separate hosts (network namespaces with
// their own addresses and host names) found through DNS: A records of
// one name, and SRV records, served by a test DNS server the controller's
// namespace uses as its resolver. The broker listens on the bridge.
func TestMultiHost(t *testing.T) {
	began := time.Now()
	ctx, nw := netnsNetwork(t, mhPrefix, mhBridge)

	// Agents in namespaces a1..a3, at .11.. .13.
	var agents []mhAgent
	zone := testdns.Zone{
		Hosts: map[string][]netip.Addr{mhDNSName: nil, mhNone: nil},
		SRV:   map[string][]testdns.SRV{mhSRVName: nil},
	}
	for i := 1; i <= mhAgentNum; i++ {
		ns, err := nw.Add(ctx, fmt.Sprintf("a%d", i), netip.AddrFrom4([4]byte{10, 213, 0, byte(10 + i)}))
		if err != nil {
			t.Fatal(err)
		}
		a := mhAgent{ns: ns, name: fmt.Sprintf("a%d.%s", i, mhDNSName)}
		agents = append(agents, a)
		zone.Hosts[mhDNSName] = append(zone.Hosts[mhDNSName], ns.Addr)
		zone.Hosts[a.name] = []netip.Addr{ns.Addr}
		zone.SRV[mhSRVName] = append(zone.SRV[mhSRVName], testdns.SRV{Target: a.name, Port: 7070, Priority: 1, Weight: 1})
	}
	dns, err := testdns.Start(netip.AddrPortFrom(nw.Addr(), 53).String(), zone)
	if err != nil {
		t.Fatalf("dns server: %v", err)
	}
	t.Cleanup(func() { dns.Close() })

	ctl, err := nw.Add(ctx, "ctl", netip.MustParseAddr(mhCtlAddr))
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.SetEtc("resolv.conf", fmt.Sprintf("nameserver %s\noptions timeout:2 attempts:2\n", nw.Addr())); err != nil {
		t.Fatal(err)
	}
	netReady := time.Since(began)

	bootstrap := startKafka(t, mhPrefix+"-kafka", nw.Addr().String()).bootstrap
	if !strings.HasPrefix(bootstrap, nw.Addr().String()+":") {
		t.Fatalf("scripts/kafka up: bootstrap %q is not on %s", bootstrap, nw.Addr())
	}
	kafkaReady := time.Since(began)

	for _, a := range agents {
		startAgentIn(ctx, t, a)
	}
	agentsReady := time.Since(began)
	t.Logf("network %v, broker %v, agents %v after start", netReady.Round(time.Millisecond), kafkaReady.Round(time.Millisecond), agentsReady.Round(time.Millisecond))

	version, err := exec.Command(filepath.Join(binDir, "kperf-agent"), "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	ctlRun := func(t *testing.T, args ...string) (controllerResult, time.Duration) {
		t.Helper()
		start := time.Now()
		r := runIn(t, ctl, 2*time.Minute, args...)
		return r, time.Since(start)
	}

	for _, tc := range []struct {
		name  string
		spec  string
		addrs []string // the agents' addresses as the controller reports them, agent i first
	}{
		{name: "dns", spec: "dns:///" + mhDNSName + ":" + mhPort, addrs: mapAgents(agents, mhAgent.addr)},
		{name: "srv", spec: "srv:" + mhSRVName, addrs: mapAgents(agents, func(a mhAgent) string { return a.name + ":" + mhPort })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, took := ctlRun(t, "agents", "--agents", tc.spec, "--expect-agents", strconv.Itoa(mhAgentNum), "--discovery-timeout", "30s")
			if r.code != 0 {
				t.Fatalf("agents: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			t.Logf("kperf-controller agents --agents %s (%v):\n%s", tc.spec, took.Round(time.Millisecond), r.stdout)
			rows := agentRows(r.stdout)
			if len(rows) != mhAgentNum {
				t.Errorf("agents lists %d agents, want %d:\n%s", len(rows), mhAgentNum, r.stdout)
			}
			for i, a := range agents {
				row, ok := rows[tc.addrs[i]]
				if !ok {
					t.Errorf("agents does not list %s:\n%s", tc.addrs[i], r.stdout)
					continue
				}
				cores, err := strconv.Atoi(row["CORES"])
				if row["VERSION"] != strings.TrimSpace(string(version)) || row["HOST"] != a.ns.Name || err != nil || cores < 1 || cores > runtime.NumCPU() || row["STATE"] != "ready" {
					t.Errorf("agents row of %s = %v; want version %s, host %s, 1-%d cores, ready", tc.addrs[i], row, strings.TrimSpace(string(version)), a.ns.Name, runtime.NumCPU())
				}
			}

			topic := topicName(t)
			out := t.TempDir()
			r, took = ctlRun(t, "run", "--agents", tc.spec, "--expect-agents", strconv.Itoa(mhAgentNum), "--discovery-timeout", "30s",
				"--bootstrap-servers", bootstrap, "--topic", topic, "--partitions", "3", "--num-records", strconv.Itoa(mhRecords),
				"--record-size", "100", "--throughput", "20000", "--producer-props", "acks=all", "linger.ms=5", "--out", out)
			if r.code != 0 {
				t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			t.Logf("kperf-controller run --agents %s: %v", tc.spec, took.Round(time.Millisecond))
			s := readMHSummary(t, out)
			var sum int64
			var got []string
			for _, a := range s.Agents {
				sum += a.Records
				got = append(got, a.Address)
				i := slices.Index(tc.addrs, a.Address)
				if i < 0 {
					continue
				}
				// The agent at this address is the one in that namespace.
				if a.Hostname != agents[i].ns.Name || a.Records <= 0 || a.Version != strings.TrimSpace(string(version)) {
					t.Errorf("summary agent %s: host %q, version %q, %d records; want host %s, version %s, some records", a.Address, a.Hostname, a.Version, a.Records, agents[i].ns.Name, strings.TrimSpace(string(version)))
				}
			}
			slices.Sort(got)
			if want := slices.Sorted(slices.Values(tc.addrs)); !slices.Equal(got, want) {
				t.Errorf("summary agents %v, want %v", got, want)
			}
			broker := endOffsetsOn(t, bootstrap, topic) // a new topic: its end offsets are the growth
			if s.Records != mhRecords || sum != mhRecords || broker != mhRecords {
				t.Errorf("records: summary %d, sum of agents %d, broker %d; want %d each", s.Records, sum, broker, mhRecords)
			}
			if d := s.DeliveryCheck; !d.OK || d.Acked != mhRecords || d.BrokerOffsetDelta != mhRecords {
				t.Errorf("delivery_check = %+v, want ok with %d", d, mhRecords)
			}
		})
	}
	// The names came from the test's DNS server, asked from the controller's namespace.
	for _, want := range []testdns.Query{{Name: mhDNSName + ".", Type: "A", Net: "udp"}, {Name: mhSRVName + ".", Type: "SRV", Net: "udp"}} {
		if !slices.Contains(dns.Queries(), want) {
			t.Errorf("the DNS server was never asked %+v", want)
		}
	}

	t.Run("bad input", func(t *testing.T) {
		// Without --insecure, TLS or a token, an agent does not listen on its network.
		refused := agents[0].ns.Command(ctx, filepath.Join(binDir, "kperf-agent"), "--listen", agents[0].ns.Addr.String()+":7071")
		out, err := refused.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(lastLine(string(out)), "--insecure") {
			t.Errorf("agent on %s:7071 without --insecure: %v, %q; want exit 2 naming --insecure", agents[0].ns.Addr, err, out)
		}

		all := strings.Join(mapAgents(agents, mhAgent.addr), " ")
		for _, tc := range []struct {
			name    string
			args    []string
			want    []string
			timeout time.Duration // the --discovery-timeout given, 0 for none
		}{
			{name: "name without addresses", args: []string{"run", "--agents", "dns:///" + mhNone + ":7070"},
				want: []string{"--agents dns:///" + mhNone + ":7070: lookup " + mhNone, "no such host"}},
			{name: "SRV name that does not exist", args: []string{"agents", "--agents", "srv:" + mhNoSRV},
				want: []string{"--agents srv:" + mhNoSRV + ": lookup " + mhNoSRV, "no such host"}},
			{name: "name without addresses, waiting", args: []string{"run", "--agents", "dns:///" + mhNone + ":7070", "--expect-agents", "3", "--discovery-timeout", "2s"},
				want: []string{"found 0 of 3 agents after 2s: []", "last lookup: --agents dns:///" + mhNone + ":7070: lookup " + mhNone, "no such host"}, timeout: 2 * time.Second},
			{name: "fewer agents than expected", args: []string{"run", "--agents", "dns:///" + mhDNSName + ":7070", "--expect-agents", "4", "--discovery-timeout", "3s"},
				want: []string{"found 3 of 4 agents after 3s: [" + all + "]"}, timeout: 3 * time.Second},
		} {
			t.Run(tc.name, func(t *testing.T) {
				args := append(tc.args, "--bootstrap-servers", bootstrap, "--num-records", "10", "--out", t.TempDir())
				if tc.args[0] == "agents" {
					args = tc.args
				}
				r, took := ctlRun(t, args...)
				line := lastLine(r.stderr)
				t.Logf("exit %d after %v: %s", r.code, took.Round(time.Millisecond), line)
				if r.code == 0 {
					t.Errorf("exit 0, want non-zero\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
				}
				for _, w := range tc.want {
					if !strings.Contains(line, w) {
						t.Errorf("error %q does not say %q", line, w)
					}
				}
				if tc.timeout > 0 && (took < tc.timeout || took > tc.timeout+10*time.Second) {
					t.Errorf("gave up after %v; want about the --discovery-timeout %v", took, tc.timeout)
				}
				if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
					t.Errorf("panic output:\n%s", r.stderr)
				}
			})
		}
	})
	t.Logf("multi-host test took %v", time.Since(began).Round(time.Millisecond))
}

func mapAgents(as []mhAgent, f func(mhAgent) string) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = f(a)
	}
	return out
}

// startAgentIn starts kperf-agent in a's namespace on its address and
// waits until it serves. The agents listen beyond loopback without TLS or
// a token: --insecure, as on a throwaway network.
//
// It returns the agent's log, which must show no panic when the test ends.
func startAgentIn(ctx context.Context, t *testing.T, a mhAgent) *syncBuffer {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "addr")
	cmd := a.ns.Command(ctx, filepath.Join(binDir, "kperf-agent"), "--listen", a.addr(), "--insecure", "--ready-file", ready)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start agent in %s: %v", a.ns.Name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		noPanic(t, "kperf-agent in "+a.ns.Name, log.String())
		if t.Failed() {
			t.Logf("agent %s log:\n%s", a.ns.Name, log.String())
		}
	})
	waitFor(t, 10*time.Second, "agent in "+a.ns.Name, func() bool {
		select {
		case <-exited:
			t.Fatalf("agent in %s exited: %s", a.ns.Name, log.String())
		default:
		}
		b, err := os.ReadFile(ready)
		return err == nil && strings.TrimSpace(string(b)) == a.addr()
	})
	return log
}

// netnsNetwork makes the network of a test that runs processes in network
// namespaces: a bridge at bridge (an address/prefix) in the root namespace,
// with every name starting with prefix. It skips the test when
// KPERF_E2E_NETNS is unset (it needs root and ip). When the test ends the
// network is removed, and nothing named with prefix may be left. The
// context ends after 3 minutes or with the test.
func netnsNetwork(t *testing.T, prefix, bridge string) (context.Context, *netns.Network) {
	t.Helper()
	if os.Getenv("KPERF_E2E_NETNS") == "" {
		t.Skip("KPERF_E2E_NETNS is not set; scripts/test sets it (needs root and ip)")
	}
	if err := netns.Check(); err != nil {
		t.Fatalf("KPERF_E2E_NETNS is set, but: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	nw, err := netns.New(ctx, prefix, netip.MustParsePrefix(bridge))
	if err != nil {
		t.Fatalf("network: %v", err)
	}
	t.Cleanup(func() {
		if err := nw.Close(); err != nil {
			t.Errorf("close network: %v", err)
		}
		if left, err := netns.Leftovers(context.Background(), prefix); err != nil || len(left) > 0 {
			t.Errorf("left behind: %q, %v", left, err)
		}
	})
	return ctx, nw
}

// runIn runs kperf-controller in namespace ns with Go's own resolver
// (which reads the namespace's /etc/resolv.conf).
func runIn(t *testing.T, ns *netns.Namespace, timeout time.Duration, args ...string) controllerResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := ns.Command(ctx, filepath.Join(binDir, "kperf-controller"), args...)
	cmd.Env = append(os.Environ(), "GODEBUG=netdns=go")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("kperf-controller %v in %s did not finish within %v (a hang)\nstdout:\n%s\nstderr:\n%s", args, ns.Name, timeout, stdout.String(), stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run kperf-controller in %s: %v", ns.Name, err)
	}
	return controllerResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// agentRows parses the table kperf-controller agents prints: each row by
// its ADDRESS, as a map from column name to value.
func agentRows(out string) map[string]map[string]string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 {
		return nil
	}
	head := strings.Fields(lines[0])
	rows := map[string]map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != len(head) {
			continue
		}
		row := map[string]string{}
		for i, h := range head {
			row[h] = f[i]
		}
		rows[row["ADDRESS"]] = row
	}
	return rows
}

func readMHSummary(t *testing.T, dir string) mhSummary {
	t.Helper()
	var s mhSummary
	readSummaryInto(t, dir, &s)
	return s
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}
