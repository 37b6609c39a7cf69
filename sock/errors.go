//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package sock

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Sentinel errors. Test for them with errors.Is. Errors that come from the kernel are
// *os.SyscallError values instead (inside a *net.OpError for Listen and Dial), so
// errors.Is(err, unix.ECONNREFUSED) and the like work on them.
var (
	// ErrUnknownNetwork is returned by Listen and Dial for a network other than "tcp",
	// "tcp4", "tcp6" and "unix".
	ErrUnknownNetwork = errors.New("sock: unknown network (want tcp, tcp4, tcp6 or unix)")

	// ErrAddress is returned by Listen and Dial for an address that does not resolve
	// for the network: no port, a bad port, an IPv6 address for "tcp4", an unknown
	// host, an empty unix path. The error from package net that says why is wrapped
	// too, so errors.As with a *net.AddrError or *net.DNSError finds it.
	ErrAddress = errors.New("sock: bad address")

	// ErrUnsupported is returned for an option this OS or network cannot honour:
	// ListenConfig.ReusePort on illumos and Solaris (x/sys has no SO_REUSEPORT there)
	// or with "unix"; and by LocalAddr for a socket that is neither IP nor unix.
	ErrUnsupported = errors.New("sock: not supported")
)

// The "nothing to do now" errors of the hot paths, made once, so that an accept, read
// or write loop that ends on EAGAIN allocates nothing for the error. They are never
// modified.
var (
	errAcceptAgain = &os.SyscallError{Syscall: "accept", Err: unix.EAGAIN}
	errReadAgain   = &os.SyscallError{Syscall: "read", Err: unix.EAGAIN}
	errWriteAgain  = &os.SyscallError{Syscall: "write", Err: unix.EAGAIN}
)
