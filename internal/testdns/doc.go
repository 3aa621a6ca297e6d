// Package testdns is a small authoritative DNS server for tests. It
// answers A, AAAA and SRV questions for the names of a Zone over UDP and
// TCP, so that tests can point a resolver (for example a network
// namespace's resolv.conf, or a net.Resolver's Dial) at names they control.
package testdns
