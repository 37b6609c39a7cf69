//go:build linux && (386 || amd64 || arm)

package sockutil

// soReusePort is SO_REUSEPORT (Linux 3.9), missing from package syscall on these
// architectures. Linux spreads new connections across the sockets that share the port.
const soReusePort = 0xf
