//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package sock

import (
	"os"
	"reflect"
	"syscall"

	"golang.org/x/sys/unix"
)

// FromConn returns a duplicate of the file descriptor inside c, a value of package net
// (*net.TCPListener, *net.TCPConn, *net.UnixListener, *net.UnixConn, ...) or an
// *os.File: close-on-exec, non-blocking, and owned by the caller, who closes it with
// unix.Close. c stays open and usable, and keeps its own fd; close it when it is no
// longer wanted, which does not close the duplicate (the socket lives until both are
// closed). A nil c, or a nil pointer in it, gives os.ErrInvalid; a closed one the
// error its SyscallConn or Control gives.
//
// It is the way to take a raw fd out of a net value. The obvious ways are traps:
// File (and os.File.Fd) put the socket into blocking mode (golang/go#29277,
// mailru/easygo#11), after which a read on it blocks a whole thread instead of
// returning EAGAIN; and the fd that SyscallConn shows is c's own, which the Go runtime
// poller closes with c. FromConn duplicates the fd inside SyscallConn's Control with
// fcntl F_DUPFD_CLOEXEC and sets O_NONBLOCK on the duplicate.
//
// A duplicate shares the open file description, and so the file status flags, with
// the original: O_NONBLOCK set on one is set on both. For a net value nothing changes,
// since Go keeps its sockets non-blocking anyway. For an *os.File that was blocking
// (os.Stdin, a file from os.NewFile, one that File returned), it does change: its
// Read and Write now fail with EAGAIN where they would have waited. Hand such a file
// to FromConn only if it will not be read or written through Go again.
//
// Using the fd and c side by side is allowed by the kernel but rarely what is wanted:
// they read from the same queue and write into the same stream. The usual pattern is
// to take the fd, then close c:
//
//	ln, _ := net.Listen("tcp", "127.0.0.1:0")
//	fd, err := sock.FromConn(ln.(*net.TCPListener))
//	ln.Close() // the duplicate keeps listening
//
// A *net.UnixListener removes its socket file when it is closed: call its
// SetUnlinkOnClose(false) first if the fd is to go on listening under that name.
func FromConn(c syscall.Conn) (fd int, err error) {
	// A typed nil (*net.TCPConn)(nil) would make SyscallConn panic.
	if c == nil || isNilPointer(c) {
		return -1, os.ErrInvalid
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd, dupErr := -1, error(nil)
	err = rc.Control(func(cfd uintptr) {
		nfd, dupErr = dupCloseOnExec(int(cfd))
	})
	if err != nil {
		if nfd >= 0 {
			unix.Close(nfd)
		}
		return -1, err
	}
	if dupErr != nil {
		return -1, dupErr
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, os.NewSyscallError("fcntl", err)
	}
	return nfd, nil
}

// isNilPointer reports whether c holds a nil pointer.
func isNilPointer(c syscall.Conn) bool {
	v := reflect.ValueOf(c)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
