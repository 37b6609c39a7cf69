// Package sock is the socket plumbing that a program built on a raw-fd poller needs
// and would otherwise write by hand: listening, accepting, connecting without
// blocking, the result of a connect, and taking an fd out of a net value, each done
// portably over every Unix that github.com/rawpoll/poller supports.
//
// Every fd it returns is non-blocking and close-on-exec, and belongs to the caller,
// who registers it with a poller and closes it with unix.Close (after the poller's
// Delete). Close-on-exec is set atomically where the kernel and x/sys allow it
// (SOCK_CLOEXEC in socket(2), accept4(2), F_DUPFD_CLOEXEC), and elsewhere under
// syscall.ForkLock, so that os/exec never leaks one of these fds into a child.
//
//	lfd, err := sock.Listen("tcp", "127.0.0.1:8080") // "tcp", "tcp4", "tcp6" or "unix"
//	p.Add(lfd, poller.Readable)
//	...
//	for { // on Readable: accept until EAGAIN
//		fd, peer, err := sock.Accept(lfd)
//		if errors.Is(err, unix.EAGAIN) {
//			break
//		}
//		...
//	}
//
// The functions, by the step they serve:
//
//   - Listen, and ListenConfig for SO_REUSEPORT (one listener per event loop) and the
//     backlog; Accept; LocalAddr for the port the kernel chose for port 0.
//   - Dial starts a connection without waiting for it; the poller reports the fd
//     Writable when it has ended, and Error says whether it succeeded.
//   - FromConn takes a duplicate of the fd inside a net.Listener, a net.Conn or an
//     os.File, without the blocking-mode trap of their File methods.
//   - Read and Write are read(2) and write(2) for an event loop: EINTR retried, EAGAIN
//     without allocation, and a raw system call where that is cheaper.
//   - Addr turns the unix.Sockaddr that Accept returns into a net.Addr.
//
// Addresses are written as for package net ("127.0.0.1:0", "[::1]:8080",
// "localhost:8080", a unix socket path) and resolved with it. Kernel errors are
// *os.SyscallError values (inside a *net.OpError for Listen and Dial), so
// errors.Is(err, unix.ECONNREFUSED) and the like work; bad input gives the sentinel
// errors ErrUnknownNetwork, ErrAddress and ErrUnsupported, and never leaves an fd
// open.
//
// The package builds on Linux, macOS, FreeBSD, NetBSD, OpenBSD, DragonFly, illumos,
// Solaris and AIX, and depends on golang.org/x/sys alone. It uses no cgo. On other
// systems it is empty.
package sock
