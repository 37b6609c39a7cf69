package main

import (
	"errors"
	"strconv"

	"github.com/rawpoll/poller/sock"
	"golang.org/x/sys/unix"
)

// listenReusePort returns a non-blocking TCP listener on 127.0.0.1:port with SO_REUSEPORT,
// so that each event loop can have its own and the kernel spreads connections over them.
func listenReusePort(port int) (int, error) {
	return sock.ListenConfig{ReusePort: true, Backlog: 4096}.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
}

// acceptOne accepts one connection, non-blocking and with TCP_NODELAY (as Go's net and gnet
// set it). It returns -1 and nil when no connection waits.
func acceptOne(lfd int) (int, error) {
	fd, _, err := sock.Accept(lfd) // EINTR and ECONNABORTED retried
	switch {
	case err == nil:
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		return fd, nil
	case errors.Is(err, unix.EAGAIN):
		return -1, nil
	}
	// EMFILE and the like: report, but keep serving the connections we have.
	return -1, err
}

// rawIO makes readFd and writeFd raw syscalls (-rawio, the default). Set once in main.
var rawIO = true

// readFd and writeFd are read(2) and write(2) on a non-blocking socket, EINTR retried;
// errors.Is(err, unix.EAGAIN) when the kernel has nothing to give or no room.
//
// unix.Read and unix.Write go through syscall.Syscall, which tells the Go scheduler the
// goroutine may block (entersyscall). On a non-blocking fd it never blocks, and the hint
// costs more than it saves: sysmon sees the P "in a syscall", retakes it if the same call
// spans two of its ticks (easy when the thread is preempted mid-call on a pinned core),
// hands it to a new spinning thread, and keeps ticking every 20 µs; on a one-core server
// that feedback loop measured 10% of the core and most of the context switches. sock.Read
// and sock.Write are raw syscalls on Linux, which skip all that, as the poller package
// does for its zero-timeout Wait. The blocking Wait(-1) keeps the ordinary path, which it
// needs. -rawio=false measures the ordinary path for reads and writes too.
func readFd(fd int, p []byte) (int, error) {
	if !rawIO {
		return retryEINTR(unix.Read, fd, p)
	}
	return sock.Read(fd, p)
}

func writeFd(fd int, p []byte) (int, error) {
	if !rawIO {
		return retryEINTR(unix.Write, fd, p)
	}
	return sock.Write(fd, p)
}

// retryEINTR calls rw, the ordinary x/sys read or write, until no signal interrupts it.
func retryEINTR(rw func(int, []byte) (int, error), fd int, p []byte) (int, error) {
	for {
		n, err := rw(fd, p)
		if err != unix.EINTR {
			return n, err
		}
	}
}
