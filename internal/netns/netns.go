//go:build linux

package netns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// EtcDir is where ip netns exec finds per-namespace files: it bind-mounts
// EtcDir/<namespace>/<file> over /etc/<file> for the program it runs.
const EtcDir = "/etc/netns"

// maxIfName is the longest Linux interface name (IFNAMSIZ-1).
const maxIfName = 15

var (
	validPrefix = regexp.MustCompile(`^[a-z][a-z0-9-]*[a-z0-9]$`)
	validName   = regexp.MustCompile(`^[a-z0-9]+$`)
)

// Check reports why this process cannot build a Network: it is not root,
// or ip or unshare is not installed.
func Check() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("netns: network namespaces, bridges and veth pairs need root; running as uid %d", os.Geteuid())
	}
	for _, cmd := range []string{"ip", "unshare", "sh"} {
		if _, err := exec.LookPath(cmd); err != nil {
			return fmt.Errorf("netns: %s is not installed: %w", cmd, err)
		}
	}
	return nil
}

// Network is a bridge in the root network namespace, with an address, and
// the namespaces attached to it. Its methods are safe for concurrent use.
type Network struct {
	prefix string
	bridge string
	addr   netip.Prefix // the bridge's address and the subnet's length
	lock   net.Listener

	mu     sync.Mutex
	spaces []*Namespace
	closed bool
}

// Namespace is a network namespace attached to a Network's bridge by a
// veth pair: a host with one address on the Network's subnet.
type Namespace struct {
	// Name is the namespace's name, <prefix>-<name>; the host end of its
	// veth pair has the same name, its own end is eth0.
	Name string
	// Addr is its address on the bridge's subnet.
	Addr netip.Addr
}

// New removes whatever an earlier run with the same prefix left behind
// (processes in its namespaces, namespaces, links, EtcDir entries), checks
// that no interface or route of this host overlaps bridgeAddr's subnet,
// and creates the bridge <prefix>-br with bridgeAddr (e.g. 10.213.0.1/24).
// If another process holds a Network with the same prefix, New waits for
// it to close until ctx is done. prefix is lower-case letters, digits and
// dashes, at most 10 bytes.
func New(ctx context.Context, prefix string, bridgeAddr netip.Prefix) (*Network, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	if !validPrefix.MatchString(prefix) || len(prefix) > 10 {
		return nil, fmt.Errorf("netns: prefix %q: want at most 10 lower-case letters, digits and dashes", prefix)
	}
	if !bridgeAddr.Addr().Is4() || bridgeAddr.Bits() < 8 || bridgeAddr.Bits() > 30 || !usable(bridgeAddr.Masked(), bridgeAddr.Addr()) {
		return nil, fmt.Errorf("netns: bridge address %s: want a host address in an IPv4 subnet from /8 to /30", bridgeAddr)
	}
	lock, err := acquire(ctx, prefix)
	if err != nil {
		return nil, err
	}
	n := &Network{prefix: prefix, bridge: prefix + "-br", addr: bridgeAddr, lock: lock}
	if err := removeAll(ctx, prefix); err != nil {
		lock.Close()
		return nil, fmt.Errorf("netns: remove what an earlier run left: %w", err)
	}
	if err := checkUnused(ctx, bridgeAddr.Masked()); err != nil {
		lock.Close()
		return nil, err
	}
	for _, args := range [][]string{
		{"link", "add", n.bridge, "type", "bridge"},
		{"addr", "add", bridgeAddr.String(), "dev", n.bridge},
		{"link", "set", n.bridge, "up"},
	} {
		if err := ip(ctx, args...); err != nil {
			return nil, errors.Join(err, n.Close())
		}
	}
	return n, nil
}

// acquire takes the machine-wide lock of prefix: an abstract unix socket,
// which the kernel releases when its holder exits, however it exits.
func acquire(ctx context.Context, prefix string) (net.Listener, error) {
	name := "@kperf-netns-" + prefix
	for {
		l, err := net.Listen("unix", name)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("netns: lock %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("netns: prefix %s is in use by another process (lock %s): %w", prefix, name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// usable reports whether a is a host address of subnet (not its network
// or broadcast address).
func usable(subnet netip.Prefix, a netip.Addr) bool {
	if !subnet.Contains(a) || a == subnet.Addr() {
		return false
	}
	last := subnet.Addr().As4()
	host := uint32(1)<<(32-subnet.Bits()) - 1
	v := uint32(last[0])<<24 | uint32(last[1])<<16 | uint32(last[2])<<8 | uint32(last[3]) | host
	return a != netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Addr is the bridge's address: the root namespace's address on the
// subnet, where servers the namespaces should reach listen.
func (n *Network) Addr() netip.Addr { return n.addr.Addr() }

// Add creates the namespace <prefix>-<name> with address addr on the
// bridge's subnet. name is lower-case letters and digits, short enough
// for an interface name (15 bytes with the prefix and a dash).
func (n *Network) Add(ctx context.Context, name string, addr netip.Addr) (*Namespace, error) {
	full := n.prefix + "-" + name
	if !validName.MatchString(name) || len(full) > maxIfName {
		return nil, fmt.Errorf("netns: namespace name %q: want lower-case letters and digits, at most %d with the prefix %s-", name, maxIfName, n.prefix)
	}
	if !usable(n.addr.Masked(), addr) || addr == n.addr.Addr() {
		return nil, fmt.Errorf("netns: namespace %s: address %s is not a free host address of %s", name, addr, n.addr.Masked())
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, fmt.Errorf("netns: add %s: network closed", name)
	}
	for _, s := range n.spaces {
		if s.Name == full || s.Addr == addr {
			n.mu.Unlock()
			return nil, fmt.Errorf("netns: add %s %s: name or address taken by %s %s", name, addr, s.Name, s.Addr)
		}
	}
	ns := &Namespace{Name: full, Addr: addr}
	n.spaces = append(n.spaces, ns) // before creating anything, so Close removes a half-made one
	n.mu.Unlock()
	for _, args := range [][]string{
		{"netns", "add", full},
		{"link", "add", full, "type", "veth", "peer", "name", "eth0", "netns", full},
		{"link", "set", full, "master", n.bridge},
		{"link", "set", full, "up"},
		{"-n", full, "addr", "add", netip.PrefixFrom(addr, n.addr.Bits()).String(), "dev", "eth0"},
		{"-n", full, "link", "set", "eth0", "up"},
		{"-n", full, "link", "set", "lo", "up"},
	} {
		if err := ip(ctx, args...); err != nil {
			return nil, err
		}
	}
	return ns, nil
}

// Command returns a command that runs prog with args inside the namespace
// (ip netns exec), in a UTS namespace of its own whose host name is the
// namespace's name. The command's process is prog itself (each step
// execs the next), so signalling it signals prog.
func (ns *Namespace) Command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name,
		"unshare", "--uts", "--", "sh", "-c", `echo "$0" >/proc/sys/kernel/hostname && exec "$@"`, ns.Name, prog}, args...)...)
}

// SetEtc writes EtcDir/<namespace>/<file>, which programs started by
// Command see as /etc/<file>; for example resolv.conf with a nameserver
// line points their resolver at a test DNS server.
func (ns *Namespace) SetEtc(file, content string) error {
	if file == "" || strings.ContainsAny(file, "/") || file == "." || file == ".." {
		return fmt.Errorf("netns: %s: file name %q: want a name in /etc", ns.Name, file)
	}
	dir := filepath.Join(EtcDir, ns.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	return nil
}

// Close kills the processes still running in the namespaces, deletes the
// namespaces, their veth pairs, their EtcDir entries and the bridge, and
// releases the prefix. It is idempotent.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := removeAll(ctx, n.prefix)
	return errors.Join(err, n.lock.Close())
}

// Leftovers lists what exists with prefix: namespaces, links, EtcDir
// entries and processes in those namespaces. After Close it is empty.
func Leftovers(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	spaces, err := namespaces(ctx, prefix)
	if err != nil {
		return nil, err
	}
	for _, s := range spaces {
		out = append(out, "namespace "+s)
		pids, err := pidsIn(ctx, s)
		if err != nil {
			return nil, err
		}
		for _, p := range pids {
			out = append(out, fmt.Sprintf("process %d in %s", p, s))
		}
	}
	links, err := links(ctx, prefix)
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		out = append(out, "link "+l)
	}
	etc, err := etcDirs(prefix)
	if err != nil {
		return nil, err
	}
	for _, d := range etc {
		out = append(out, "directory "+d)
	}
	return out, nil
}

// removeAll kills the processes in prefix's namespaces, then deletes the
// namespaces, links and EtcDir entries with prefix, and EtcDir itself
// when that leaves it empty.
func removeAll(ctx context.Context, prefix string) error {
	spaces, err := namespaces(ctx, prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range spaces {
		if err := killIn(ctx, s); err != nil {
			errs = append(errs, err)
		}
		if err := ip(ctx, "netns", "del", s); err != nil {
			errs = append(errs, err)
		}
	}
	// Host ends of veth pairs go with their namespace; the bridge, and a
	// veth whose namespace lingered, are left.
	ls, err := links(ctx, prefix)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, l := range ls {
		if err := ip(ctx, "link", "del", l); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err)
		}
	}
	dirs, err := etcDirs(prefix)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("netns: %w", err))
		}
	}
	if entries, err := os.ReadDir(EtcDir); err == nil && len(entries) == 0 {
		os.Remove(EtcDir) // an empty EtcDir configures nothing
	}
	return errors.Join(errs...)
}

// killIn kills the processes in namespace ns and waits until they are gone.
func killIn(ctx context.Context, ns string) error {
	for {
		pids, err := pidsIn(ctx, ns)
		if err != nil || len(pids) == 0 {
			return err
		}
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("netns: processes %v in %s did not exit: %w", pids, ns, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// pidsIn lists the processes in namespace ns.
func pidsIn(ctx context.Context, ns string) ([]int, error) {
	out, err := ipOutput(ctx, "netns", "pids", ns)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		p, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("netns: ip netns pids %s: %q is not a pid", ns, f)
		}
		pids = append(pids, p)
	}
	return pids, nil
}

// namespaces lists the named namespaces starting with prefix-.
func namespaces(ctx context.Context, prefix string) ([]string, error) {
	out, err := ipOutput(ctx, "-j", "netns", "list")
	if err != nil {
		return nil, err
	}
	var list []struct {
		Name string `json:"name"`
	}
	if strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return nil, fmt.Errorf("netns: ip -j netns list: %w", err)
		}
	}
	var names []string
	for _, ns := range list {
		if strings.HasPrefix(ns.Name, prefix+"-") {
			names = append(names, ns.Name)
		}
	}
	return names, nil
}

// links lists the root namespace's links starting with prefix-.
func links(ctx context.Context, prefix string) ([]string, error) {
	out, err := ipOutput(ctx, "-j", "link", "show")
	if err != nil {
		return nil, err
	}
	var list []struct {
		Name string `json:"ifname"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, fmt.Errorf("netns: ip -j link show: %w", err)
	}
	var names []string
	for _, l := range list {
		if strings.HasPrefix(l.Name, prefix+"-") {
			names = append(names, l.Name)
		}
	}
	return names, nil
}

// etcDirs lists EtcDir's entries starting with prefix-.
func etcDirs(prefix string) ([]string, error) {
	dirs, err := filepath.Glob(filepath.Join(EtcDir, prefix+"-*"))
	if err != nil {
		return nil, fmt.Errorf("netns: %w", err)
	}
	return dirs, nil
}

// route is the part of ip -j route's output checkUnused reads.
type route struct {
	Type string `json:"type"`
	Dst  string `json:"dst"`
	Dev  string `json:"dev"`
}

// checkUnused fails if an IPv4 route of any table (which includes every
// local address) overlaps subnet.
func checkUnused(ctx context.Context, subnet netip.Prefix) error {
	out, err := ipOutput(ctx, "-j", "-4", "route", "show", "table", "all")
	if err != nil {
		return err
	}
	var routes []route
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		return fmt.Errorf("netns: ip -j route show: %w", err)
	}
	return overlapping(routes, subnet)
}

// overlapping returns an error naming the first route that overlaps
// subnet; default routes do not count.
func overlapping(routes []route, subnet netip.Prefix) error {
	for _, r := range routes {
		if r.Dst == "default" || r.Dst == "" {
			continue
		}
		p, err := netip.ParsePrefix(r.Dst)
		if err != nil {
			a, aerr := netip.ParseAddr(r.Dst)
			if aerr != nil {
				return fmt.Errorf("netns: route destination %q: %w", r.Dst, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Overlaps(subnet) {
			kind := strings.TrimSpace(r.Type + " route")
			return fmt.Errorf("netns: %s is in use on this host: %s %s dev %s; pick another range", subnet, kind, r.Dst, r.Dev)
		}
	}
	return nil
}

func ip(ctx context.Context, args ...string) error {
	_, err := ipOutput(ctx, args...)
	return err
}

// ipOutput runs ip with args and returns its stdout; errors carry stderr.
func ipOutput(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ip", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("netns: ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
