//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package sock

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// Dial starts a connection to address and returns its socket at once, non-blocking
// and close-on-exec, usually while the connection is still in progress. The caller
// owns the fd. network and address are as for Listen, except that an empty or
// unspecified host means this machine (127.0.0.1, or ::1 for "tcp6"), as net.Dial
// has it. A host name is looked up before Dial returns, and a lookup can wait for DNS:
// a loop that must never block dials IP addresses, and resolves names elsewhere.
//
// To learn how the connection ended, register the fd Writable with a poller: a
// connect that finishes, well or badly, makes the socket writable. Then call Error:
// nil means connected; otherwise it is why the connection failed (ECONNREFUSED,
// ETIMEDOUT, ...). A connect that the kernel finishes at once (common for unix
// sockets, possible on loopback) is reported the same way, so the caller need not
// tell the cases apart. Dial itself fails only for what is known at once: a bad
// network or address, no socket, or a connect refused on the spot, as a unix socket
// with no listener is (ENOENT, ECONNREFUSED), or one whose backlog is full is
// (EAGAIN on Linux: try again later).
//
// The error is a *net.OpError, as net.Dial's, wrapping ErrUnknownNetwork, ErrAddress
// or the *os.SyscallError of the step that failed. Nothing is left open when Dial
// fails.
func Dial(network, address string) (fd int, err error) {
	ep, err := resolve(network, address, false)
	if err != nil {
		return -1, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	fd, err = socket(ep.family, unix.SOCK_STREAM)
	if err != nil {
		return -1, &net.OpError{Op: "dial", Net: network, Addr: ep.addr, Err: err}
	}
	switch err := unix.Connect(fd, ep.sa); err {
	case nil, unix.EINPROGRESS:
	case unix.EINTR:
		// connect(2) was interrupted, but the connection goes on in the background
		// (POSIX connect: "the connection shall be established asynchronously"): the
		// socket becomes writable when it ends, exactly as for EINPROGRESS.
	default:
		unix.Close(fd)
		return -1, &net.OpError{Op: "dial", Net: network, Addr: ep.addr, Err: os.NewSyscallError("connect", err)}
	}
	return fd, nil
}

// Error returns the error pending on the socket fd (getsockopt SO_ERROR), and clears
// it; nil when there is none. After Dial, once the poller reports the fd Writable,
// nil means the connection is established and an error says why it failed. Later, a
// poller's Errored flag means such an error is pending (ECONNRESET, ETIMEDOUT). The
// pending error comes as an *os.SyscallError named "SO_ERROR", so
// errors.Is(err, unix.ECONNREFUSED) works; a failing getsockopt as one named
// "getsockopt".
func Error(fd int) error {
	errno, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	if errno != 0 {
		return os.NewSyscallError("SO_ERROR", unix.Errno(errno))
	}
	return nil
}
