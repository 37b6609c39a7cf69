//go:build dragonfly || freebsd || illumos || linux || netbsd || openbsd || solaris

package poller

import (
	"os"

	"golang.org/x/sys/unix"
)

// newWakePipe returns a non-blocking, close-on-exec pipe: the wake descriptor of poll,
// select, and kqueue where EVFILT_USER is missing.
func newWakePipe() (r, w int, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return -1, -1, os.NewSyscallError("pipe2", err)
	}
	return p[0], p[1], nil
}
