//go:build linux

package poller

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelTimespec is the kernel's struct __kernel_timespec, which epoll_pwait2 takes: 64-bit
// fields on every architecture, unlike unix.Timespec on 32-bit ones.
type kernelTimespec struct {
	sec, nsec int64
}

// epollWait is epoll_wait with the timeout as a Duration, at the best resolution the kernel
// offers.
func epollWait(epfd int, events []unix.EpollEvent, timeout time.Duration, pwait2 bool) (int, error) {
	var r uintptr
	var errno unix.Errno
	switch {
	case timeout == 0:
		// A zero timeout never blocks, so skip the scheduler hand-off of Syscall, as the
		// runtime's own non-blocking netpoll does. epoll_pwait with no mask is epoll_wait,
		// which arm64 and riscv64 lack.
		r, _, errno = unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
			uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	case timeout > 0 && pwait2:
		ts := kernelTimespec{sec: int64(timeout / time.Second), nsec: int64(timeout % time.Second)}
		r, _, errno = unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(epfd),
			uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)),
			uintptr(unsafe.Pointer(&ts)), 0, 0)
	default:
		return unix.EpollWait(epfd, events, msec(timeout))
	}
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// probePwait2 reports whether epoll_pwait2 works here: Linux 5.11 added it, and seccomp
// filters and emulators (qemu-user) may still refuse it with ENOSYS or EPERM.
func probePwait2(epfd int) bool {
	var ev [1]unix.EpollEvent
	var ts kernelTimespec
	_, _, errno := unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(epfd),
		uintptr(unsafe.Pointer(&ev[0])), 1, uintptr(unsafe.Pointer(&ts)), 0, 0)
	return errno == 0 || errno == unix.EINTR
}

// epollCtl is epoll_ctl(2), returning 0 for success. Like unix.EpollCtl it cannot block
// and skips the scheduler hand-off; unlike it, it is small enough to inline, which
// Modify's cost shows.
func epollCtl(epfd, op, fd int, ev *unix.EpollEvent) unix.Errno {
	_, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd),
		uintptr(unsafe.Pointer(ev)), 0, 0)
	return errno
}
