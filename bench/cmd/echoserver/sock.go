package main

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// listenReusePort returns a non-blocking TCP listener on 127.0.0.1:port with SO_REUSEPORT,
// so that each event loop can have its own and the kernel spreads connections over them.
func listenReusePort(port int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt", err)
	}
	sa := &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

// acceptOne accepts one connection, non-blocking and with TCP_NODELAY (as Go's net and gnet
// set it). It returns -1 and nil when no connection waits.
func acceptOne(lfd int) (int, error) {
	for {
		fd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch err {
		case nil:
			unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
			return fd, nil
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EAGAIN:
			return -1, nil
		default:
			// EMFILE and the like: report, but keep serving the connections we have.
			return -1, os.NewSyscallError("accept4", err)
		}
	}
}

// rawIO makes readFd and writeFd raw syscalls (-rawio, the default). Set once in main.
var rawIO = true

// readFd and writeFd are read(2) and write(2) on a non-blocking socket, EINTR retried.
//
// unix.Read and unix.Write go through syscall.Syscall, which tells the Go scheduler the
// goroutine may block (entersyscall). On a non-blocking fd it never blocks, and the hint
// costs more than it saves: sysmon sees the P "in a syscall", retakes it if the same call
// spans two of its ticks (easy when the thread is preempted mid-call on a pinned core),
// hands it to a new spinning thread, and keeps ticking every 20 µs; on a one-core server
// that feedback loop measured 10% of the core and most of the context switches. A raw
// syscall skips all that, as the poller package does for its zero-timeout Wait. The
// blocking Wait(-1) keeps the ordinary path, which it needs.
func readFd(fd int, p []byte) (int, error) {
	if !rawIO {
		return retryEINTR(unix.Read, fd, p)
	}
	return rawRW(unix.SYS_READ, fd, p)
}

func writeFd(fd int, p []byte) (int, error) {
	if !rawIO {
		return retryEINTR(unix.Write, fd, p)
	}
	return rawRW(unix.SYS_WRITE, fd, p)
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

// rawRW is read(2) or write(2) (sysno) through RawSyscall, retried on EINTR.
func rawRW(sysno uintptr, fd int, p []byte) (int, error) {
	for {
		r, _, errno := unix.RawSyscall(sysno, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		switch errno {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		}
		return 0, errno
	}
}
