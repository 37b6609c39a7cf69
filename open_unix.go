//go:build aix || darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd || solaris

package poller

import (
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

func osBackends() []Backend {
	bs := modelBackends()
	if nativeBackend != 0 { // AIX has no native backend
		bs = append(bs, nativeBackend)
	}
	return append(bs, BackendPoll, BackendSelect)
}

// openBackend opens backend b and returns it with the interest and mode bits it honours.
// mu and wakePending are the Poller's.
func openBackend(b Backend, mu *sync.Mutex, wakePending *atomic.Bool) (backend, support, error) {
	if b != nativeBackend {
		if mb, sup, ok, err := openModel(b, mu); ok {
			return mb, sup, err
		}
	}
	switch b {
	case nativeBackend:
		nb, err := openNative(mu, wakePending)
		return nb, support{interests: nativeInterests, modes: nativeModes}, err
	case BackendPoll:
		// POLLPRI is in poll(2) on every Unix (POSIX), and select(2)'s except set is its
		// counterpart (Linux fs/select.c: POLLEX_SET is EPOLLPRI).
		pb, err := openPoll(mu)
		return pb, support{interests: Readable | Writable | Priority, modes: OneShot}, err
	case BackendSelect:
		sb, err := openSelect(mu)
		return sb, support{interests: Readable | Writable | Priority, modes: OneShot}, err
	}
	return nil, support{}, ErrUnsupported
}

// errNoEvents is returned by Wait for an empty events slice; it is built once because
// a caller may hit it in a loop.
var errNoEvents error = os.NewSyscallError("wait", unix.EINVAL)

func errBadFd(op string) error { return os.NewSyscallError(op, unix.EBADF) }

func isEINTR(err error) bool { return err == unix.EINTR }

// checkFd returns an error wrapping unix.EBADF if fd is not an open descriptor. poll and
// select learn of a bad fd only at the next wait; Add and Modify check at once instead,
// as epoll_ctl and kevent do.
func checkFd(op string, fd int) error {
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return os.NewSyscallError(op, err)
	}
	return nil
}

// drainPipe empties the read end of a non-blocking wake pipe.
func drainPipe(fd int, buf []byte) {
	for {
		n, err := unix.Read(fd, buf)
		if n < len(buf) || err != nil {
			return
		}
	}
}

// writeWake makes a wake pipe readable. EAGAIN means the pipe is full, so it already is.
func writeWake(fd int, one []byte) error {
	_, err := unix.Write(fd, one)
	if err != nil && err != unix.EAGAIN {
		return os.NewSyscallError("write", err)
	}
	return nil
}

// dupPollable returns a close-on-exec duplicate of fd in non-blocking mode, which is how
// os.NewFile tells a descriptor for the runtime poller. O_NONBLOCK lives in the open file
// description, so fd has it too: epoll_wait(2) and kevent(2) ignore it, their timeout
// alone says whether they block.
func dupPollable(fd int) (int, error) {
	nfd, err := dupCloseOnExec(fd)
	if err != nil {
		return -1, err
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, os.NewSyscallError("fcntl", err)
	}
	return nfd, nil
}

// closeFds closes every fd and returns the first failure.
func closeFds(fds ...int) error {
	var first error
	for _, fd := range fds {
		if err := unix.Close(fd); err != nil && first == nil {
			first = os.NewSyscallError("close", err)
		}
	}
	return first
}
