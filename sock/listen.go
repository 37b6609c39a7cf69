//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package sock

import (
	"errors"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// ListenConfig holds the options of a listening socket. The zero ListenConfig is what
// Listen uses. It is a struct, as net.ListenConfig is, so that an option can be added
// later without a new function for each combination.
type ListenConfig struct {
	// ReusePort sets SO_REUSEPORT, so that several sockets, typically one per event
	// loop, can listen on the same address. Linux and DragonFly spread new
	// connections across them; on FreeBSD the option set is SO_REUSEPORT_LB (FreeBSD
	// 12), which does; macOS, NetBSD and OpenBSD let the sockets share the address
	// but hand each connection to one of them, often the same. Every socket on the
	// address must set it. It applies to TCP only: with "unix", and on illumos and
	// Solaris, Listen gives an error wrapping ErrUnsupported.
	ReusePort bool

	// Backlog is listen(2)'s backlog: how many connections the kernel queues until
	// they are accepted. Zero or less means the most the kernel allows: listen
	// silently lowers a larger value to its limit (net.core.somaxconn on Linux,
	// kern.ipc.soacceptqueue on FreeBSD, kern.ipc.somaxconn on macOS and the other
	// BSDs).
	Backlog int
}

// maxBacklog is the backlog Listen asks for by default: the kernel lowers it to its
// own limit. Linux kernels before 4.1 keep the backlog in 16 bits, hence not more.
const maxBacklog = 1<<16 - 1

// Listen returns a socket listening on address: non-blocking, close-on-exec, owned by
// the caller, who closes it with unix.Close. It is ListenConfig{}.Listen.
//
// network is "tcp", "tcp4", "tcp6" or "unix". A TCP address is "host:port", with a
// host name, an IPv4 or a bracketed IPv6 address ("[::1]:8080"), resolved as
// net.ResolveTCPAddr does; port 0 lets the kernel choose one (LocalAddr tells which).
// As with net.Listen, an empty or unspecified host with "tcp" listens on every
// address of both IPv4 and IPv6 where the OS has a dual stack, and on IPv4 where it
// has not (OpenBSD, or no IPv6); "tcp6" listens on IPv6 only. TCP listeners have
// SO_REUSEADDR, so a restarted server can bind while old connections linger in
// TIME_WAIT.
//
// A unix address is a file system path (on Linux, a name that starts with '@' is in
// the abstract namespace). Listen fails with EADDRINUSE if the file exists; the caller
// removes it (os.Remove) after closing the socket: unlike a net.UnixListener, a raw fd
// does not clean up after itself.
//
// The error is a *net.OpError, as net.Listen's; inside it ErrUnknownNetwork,
// ErrAddress, ErrUnsupported or the *os.SyscallError of the step that failed, so
// errors.Is(err, unix.EADDRINUSE) works. Nothing is left open when Listen fails.
func Listen(network, address string) (fd int, err error) {
	return ListenConfig{}.Listen(network, address)
}

// Listen is the package's Listen with c's options.
func (c ListenConfig) Listen(network, address string) (fd int, err error) {
	ep, err := resolve(network, address, true)
	if err != nil {
		return -1, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	if c.ReusePort && (!ep.tcp || soReusePort == 0) {
		return -1, &net.OpError{Op: "listen", Net: network, Addr: ep.addr, Err: errReusePort}
	}
	fd, ep, err = open(ep)
	if err == nil {
		if err = c.bindListen(fd, ep); err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		return -1, &net.OpError{Op: "listen", Net: network, Addr: ep.addr, Err: err}
	}
	return fd, nil
}

var errReusePort = errorString("ReusePort needs TCP, and an OS with SO_REUSEPORT")

// errorString wraps ErrUnsupported with a reason, made once.
type errorString string

func (e errorString) Error() string { return ErrUnsupported.Error() + ": " + string(e) }
func (e errorString) Unwrap() error { return ErrUnsupported }

// open returns a new socket for ep, with its IPV6_V6ONLY set. A dual-stack listener
// falls back to IPv4 where IPv6 is missing (socket says EAFNOSUPPORT) or cannot take
// IPv4 too (OpenBSD refuses to clear IPV6_V6ONLY); open then returns ep's IPv4 twin.
func open(ep endpoint) (int, endpoint, error) {
	fd, err := socket(ep.family, unix.SOCK_STREAM)
	if ep.dualStack {
		if err == nil {
			if unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0) == nil {
				return fd, ep, nil
			}
			unix.Close(fd)
		} else if !errors.Is(err, unix.EAFNOSUPPORT) {
			return -1, ep, err
		}
		ep = ep.inet4()
		fd, err = socket(ep.family, unix.SOCK_STREAM)
	}
	if err != nil {
		return -1, ep, err
	}
	if ep.v6only {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			unix.Close(fd)
			return -1, ep, os.NewSyscallError("setsockopt", err)
		}
	}
	return fd, ep, nil
}

// bindListen sets c's options on fd, binds it to ep and makes it listen.
func (c ListenConfig) bindListen(fd int, ep endpoint) error {
	if ep.tcp {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	if c.ReusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, soReusePort, 1); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	if err := unix.Bind(fd, ep.sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	backlog := c.Backlog
	if backlog <= 0 {
		backlog = maxBacklog
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return os.NewSyscallError("listen", err)
	}
	return nil
}

// Accept accepts a connection on the listening socket fd and returns it, non-blocking
// and close-on-exec (with accept4(2) where the kernel and x/sys have it, else accept
// and fcntl), with the peer's address (Addr converts it). The caller owns the new fd.
//
// When no connection waits on a non-blocking listener, the error is an
// *os.SyscallError that errors.Is(err, unix.EAGAIN), the same value each time, so a
// loop that accepts until EAGAIN allocates nothing for it beyond x/sys's own address
// buffer. EINTR, and ECONNABORTED
// (a client that gave up while it waited in the queue), are retried. Any other error
// (EMFILE, ENFILE, ENOBUFS) is an *os.SyscallError: the connection stays queued, and
// a level-triggered poller reports the listener again, so a server out of fds should
// pause before it accepts again rather than spin.
func Accept(fd int) (nfd int, sa unix.Sockaddr, err error) {
	for {
		nfd, sa, err := accept(fd)
		if err == nil {
			return nfd, sa, nil
		}
		errno, ok := err.(unix.Errno)
		switch {
		case !ok:
			return -1, nil, err
		case errno == unix.EAGAIN:
			return -1, nil, errAcceptAgain
		case errno == unix.EINTR, errno == unix.ECONNABORTED:
			continue
		}
		return -1, nil, os.NewSyscallError("accept", errno)
	}
}
