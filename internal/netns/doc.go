// Package netns builds throwaway multi-host networks on one Linux machine
// for tests: a bridge with an address in the root network namespace, and
// network namespaces attached to it by veth pairs, each with its own
// address and (for the programs it runs) its own host name. It drives
// iproute2's ip command and needs root.
//
// Everything a Network creates is named with its prefix, so that New can
// remove what a crashed earlier run left behind and Leftovers can show
// that nothing leaked. Only one Network per prefix exists at a time on a
// machine: New waits for the previous holder to close.
//
// The namespaces reach each other through the bridge, so a host that
// filters bridged traffic (br_netfilter loaded with a FORWARD policy of
// DROP, as Docker sets up) keeps them apart; they still reach the bridge's
// own address.
package netns
