//go:build linux

package poller

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// noWaitMax bounds the fds of a zero-timeout poll or select made as a raw system call. Such
// a call never blocks, so, as epoll's Wait(0) and the runtime's own non-blocking netpoll,
// it may skip the scheduler hand-off of Syscall (entersyscall and exitsyscall, a fifth of
// the cost of a one-fd poll). But poll and select cost about 90 ns per socket in the
// kernel: over many fds the call is long enough that the runtime should be free to hand
// the P to another thread (and to stop the world) meanwhile, so those go through Syscall.
const noWaitMax = 64

// pollNoWait is ppoll(2) with a zero timeout and no signal mask.
func pollNoWait(fds []unix.PollFd) (int, error) {
	if len(fds) == 0 || len(fds) > noWaitMax {
		return unix.Poll(fds, 0)
	}
	var ts unix.Timespec
	r, _, errno := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])),
		uintptr(len(fds)), uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// selectNoWait is pselect6(2) with a zero timeout and no signal mask: every Linux
// architecture has pselect6, not all have select (arm64, riscv64).
func selectNoWait(nfd int, r, w, e *unix.FdSet) (int, error) {
	if nfd > noWaitMax {
		var tv unix.Timeval
		return unix.Select(nfd, r, w, e, &tv)
	}
	var ts unix.Timespec
	n, _, errno := unix.RawSyscall6(unix.SYS_PSELECT6, uintptr(nfd), uintptr(unsafe.Pointer(r)),
		uintptr(unsafe.Pointer(w)), uintptr(unsafe.Pointer(e)), uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
