// Package sockutil holds the plumbing shared by the poller examples: the -backend flag,
// raw non-blocking TCP sockets, EINTR-retrying reads and writes, and Ctrl-C. It is not
// part of the poller API; it keeps each example's main.go down to its lesson.
package sockutil

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/rawpoll/poller"
)

// ParseBackend turns a -backend flag into a poller.Backend; "" gives 0, which
// OpenPoller takes as the best backend this OS has.
func ParseBackend(name string) (poller.Backend, error) {
	if name == "" {
		return 0, nil
	}
	for _, b := range poller.Backends() {
		if b.String() == name {
			return b, nil
		}
	}
	return 0, fmt.Errorf("backend %q is not available here; this OS has %v", name, poller.Backends())
}

// OpenPoller opens a Poller on backend b, or on the best this OS has if b is 0.
func OpenPoller(b poller.Backend) (*poller.Poller, error) {
	if b == 0 {
		return poller.Open()
	}
	return poller.OpenBackend(b)
}

// CatchInterrupt starts catching Ctrl-C (os.Interrupt) at once, so that one that comes
// during setup is kept, and returns onInterrupt: onInterrupt(stop) calls stop on its own
// goroutine when the first Ctrl-C comes (at once if it already has). A second Ctrl-C
// kills the program as usual.
func CatchInterrupt() (onInterrupt func(stop func())) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	return func(stop func()) {
		go func() {
			<-sig
			signal.Stop(sig)
			stop()
		}()
	}
}

// Listen returns a non-blocking, close-on-exec TCP socket listening on addr, and the
// address it is bound to (with the port the kernel chose for port 0).
func Listen(addr string) (fd int, bound string, err error) {
	return listen(addr, false)
}

// ListenReusePort is Listen with SO_REUSEPORT (the load-balancing SO_REUSEPORT_LB on
// FreeBSD), so that several sockets can listen on the same address.
func ListenReusePort(addr string) (fd int, bound string, err error) {
	return listen(addr, true)
}

func listen(addr string, reusePort bool) (fd int, bound string, err error) {
	sa, family, err := ParseSockaddr(addr)
	if err != nil {
		return -1, "", err
	}
	fd, err = syscall.Socket(family, syscall.SOCK_STREAM, 0)
	if err != nil {
		return -1, "", os.NewSyscallError("socket", err)
	}
	syscall.CloseOnExec(fd)
	err = syscall.SetNonblock(fd, true)
	if err == nil {
		// Lets a restarted server bind while old connections linger in TIME_WAIT.
		err = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	}
	if err == nil && reusePort {
		err = os.NewSyscallError("setsockopt", syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, soReusePort, 1))
	}
	if err == nil {
		err = os.NewSyscallError("bind", syscall.Bind(fd, sa))
	}
	if err == nil {
		err = os.NewSyscallError("listen", syscall.Listen(fd, syscall.SOMAXCONN))
	}
	if err == nil {
		sa, err = syscall.Getsockname(fd)
	}
	if err != nil {
		syscall.Close(fd)
		return -1, "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	return fd, SockaddrString(sa), nil
}

// Accept accepts a connection on the non-blocking listener lfd and makes it
// non-blocking and close-on-exec. It retries EINTR and ECONNABORTED (the client gave up
// while it waited in the queue), closes and skips a connection it cannot make
// non-blocking, and returns syscall.EAGAIN once no connection waits.
func Accept(lfd int) (fd int, peer syscall.Sockaddr, err error) {
	for {
		fd, peer, err = syscall.Accept(lfd)
		switch {
		case err == syscall.EINTR, err == syscall.ECONNABORTED:
			continue
		case err != nil:
			return -1, nil, err
		}
		syscall.CloseOnExec(fd)
		if err := syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(fd)
			continue
		}
		return fd, peer, nil
	}
}

// ParseSockaddr resolves "host:port" to a socket address and its family.
func ParseSockaddr(addr string) (syscall.Sockaddr, int, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, 0, err
	}
	if ip4 := ta.IP.To4(); ip4 != nil || ta.IP == nil {
		sa := &syscall.SockaddrInet4{Port: ta.Port}
		copy(sa.Addr[:], ip4)
		return sa, syscall.AF_INET, nil
	}
	sa := &syscall.SockaddrInet6{Port: ta.Port}
	copy(sa.Addr[:], ta.IP)
	return sa, syscall.AF_INET6, nil
}

// SockaddrString formats an IPv4 or IPv6 socket address as "host:port", and any other
// as "?".
func SockaddrString(sa syscall.Sockaddr) string {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return net.JoinHostPort(net.IP(sa.Addr[:]).String(), strconv.Itoa(sa.Port))
	case *syscall.SockaddrInet6:
		return net.JoinHostPort(net.IP(sa.Addr[:]).String(), strconv.Itoa(sa.Port))
	}
	return "?"
}

// SocketError returns the error pending on fd (SO_ERROR), which reading it clears, or
// nil if there is none.
func SocketError(fd int) error {
	errno, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	if errno != 0 {
		return syscall.Errno(errno)
	}
	return nil
}

// Read is syscall.Read with EINTR retried and a count that is never negative.
func Read(fd int, b []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, b)
		if err != syscall.EINTR {
			return max(n, 0), err
		}
	}
}

// Write is syscall.Write with EINTR retried and a count that is never negative.
func Write(fd int, b []byte) (int, error) {
	for {
		n, err := syscall.Write(fd, b)
		if err != syscall.EINTR {
			return max(n, 0), err
		}
	}
}
