//go:build freebsd

package sock

import "golang.org/x/sys/unix"

// soReusePort is SO_REUSEPORT_LB (FreeBSD 12): plain SO_REUSEPORT lets the sockets
// share the address, but only this variant spreads new connections across them
// (setsockopt(2), SO_REUSEPORT_LB).
const soReusePort = unix.SO_REUSEPORT_LB
