//go:build aix || darwin || dragonfly || freebsd || illumos || netbsd || openbsd || solaris

package poller_test

import (
	"runtime"

	"golang.org/x/sys/unix"
)

const isLinux = false

// waiterThread locks the calling goroutine to its thread. Outside Linux, x/sys has no
// portable thread-directed kill, so the signal goes to the process; with the other
// threads mostly idle it often lands on the waiter.
func waiterThread() (signal func(unix.Signal) error, unlock func()) {
	runtime.LockOSThread()
	pid := unix.Getpid()
	return func(sig unix.Signal) error { return unix.Kill(pid, sig) }, runtime.UnlockOSThread
}
