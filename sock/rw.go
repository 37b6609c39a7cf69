//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package sock

import (
	"os"

	"golang.org/x/sys/unix"
)

// Read is read(2) for a non-blocking fd (every fd this package returns is one), made
// for an event loop: EINTR is retried, the count is never negative (0 with an error),
// and the error is an *os.SyscallError; when nothing is there to read it is one that
// errors.Is(err, unix.EAGAIN), the same value each time, so a loop that reads until
// EAGAIN allocates nothing. A count of 0 with a nil error is the end of the stream:
// the peer closed its writing side (for a non-empty p).
//
// Where Go calls the kernel directly (Linux, FreeBSD, NetBSD, DragonFly), and the
// race detector is off, Read is a raw system call: unix.Read tells the Go scheduler
// that the goroutine may block, and on an fd that cannot block that hand-off is pure
// cost (the README's measurements: 13-23% more CPU per request on an event loop
// pinned to a core). On the other systems Go calls the kernel through libc, and Read
// is unix.Read with the same rules for the count and the errors.
//
// The raw call is why the fd must be non-blocking: a raw read that blocks holds its
// OS thread and the scheduler's P, which can stall every goroutine that needs that P
// and the garbage collector with them. For a blocking fd, or a regular file (which
// ignores O_NONBLOCK: a read from a slow disk waits), use unix.Read.
func Read(fd int, p []byte) (n int, err error) {
	for {
		n, errno := read(fd, p)
		switch errno {
		case 0:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, errReadAgain
		}
		return 0, os.NewSyscallError("read", errno)
	}
}

// Write is write(2) for a non-blocking fd, with Read's rules: EINTR retried, a count
// that is never negative, *os.SyscallError errors, the same EAGAIN value each time
// (the kernel took nothing: wait for Writable), a raw system call where Go calls the
// kernel directly and the race detector is off, and only for an fd that cannot block.
// A count below len(p) with a nil error means the kernel took only part: keep the
// rest for when the poller reports the fd Writable.
func Write(fd int, p []byte) (n int, err error) {
	for {
		n, errno := write(fd, p)
		switch errno {
		case 0:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, errWriteAgain
		}
		return 0, os.NewSyscallError("write", errno)
	}
}
