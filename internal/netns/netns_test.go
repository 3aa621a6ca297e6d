//go:build linux

package netns

import (
	"net/netip"
	"strings"
	"testing"
)

func TestUsable(t *testing.T) {
	t.Parallel()
	subnet := netip.MustParsePrefix("10.213.0.0/24")
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{addr: "10.213.0.1", want: true},
		{addr: "10.213.0.254", want: true},
		{addr: "10.213.0.0"},
		{addr: "10.213.0.255"},
		{addr: "10.213.1.1"},
		{addr: "fd00::1"},
	} {
		if got := usable(subnet, netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("usable(%s, %s) = %v, want %v", subnet, tc.addr, got, tc.want)
		}
	}
	if !usable(netip.MustParsePrefix("10.0.0.0/30"), netip.MustParseAddr("10.0.0.2")) || usable(netip.MustParsePrefix("10.0.0.0/30"), netip.MustParseAddr("10.0.0.3")) {
		t.Error("usable on a /30")
	}
}

func TestOverlapping(t *testing.T) {
	t.Parallel()
	subnet := netip.MustParsePrefix("10.213.0.0/24")
	for _, tc := range []struct {
		name   string
		routes []route
		want   string
	}{
		{name: "unrelated routes", routes: []route{{Dst: "default", Dev: "eth0"}, {Dst: "192.0.2.0/24", Dev: "eth0"}, {Type: "local", Dst: "127.0.0.1", Dev: "lo"}}},
		{name: "wider route", routes: []route{{Dst: "10.0.0.0/8", Dev: "tun0"}}, want: "10.213.0.0/24 is in use on this host: route 10.0.0.0/8 dev tun0"},
		{name: "narrower route", routes: []route{{Dst: "10.213.0.128/25", Dev: "br9"}}, want: "route 10.213.0.128/25 dev br9"},
		{name: "local address", routes: []route{{Type: "local", Dst: "10.213.0.7", Dev: "eth1"}}, want: "local route 10.213.0.7 dev eth1"},
		{name: "bad destination", routes: []route{{Dst: "nonsense"}}, want: `route destination "nonsense"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := overlapping(tc.routes, subnet)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("overlapping(%v) = %v; want %q", tc.routes, err, tc.want)
			}
		})
	}
}
