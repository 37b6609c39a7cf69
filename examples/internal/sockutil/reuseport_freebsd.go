//go:build freebsd

package sockutil

// soReusePort is SO_REUSEPORT_LB (FreeBSD 12): plain SO_REUSEPORT lets the sockets share
// the port, but only this variant spreads new connections across them.
const soReusePort = 0x10000
