package poller_test

import (
	"runtime"

	"golang.org/x/sys/unix"
)

const isLinux = true

// waiterThread locks the calling goroutine to its thread and returns a function that
// sends sig to that thread alone, so the signal lands on the thread inside Wait.
func waiterThread() (signal func(unix.Signal) error, unlock func()) {
	runtime.LockOSThread()
	pid, tid := unix.Getpid(), unix.Gettid()
	return func(sig unix.Signal) error { return unix.Tgkill(pid, tid, sig) }, runtime.UnlockOSThread
}
