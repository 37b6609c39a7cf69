//go:build dragonfly || freebsd || illumos || (linux && !sockfallback) || netbsd || openbsd

package sock

import (
	"os"

	"golang.org/x/sys/unix"
)

// socket returns a new non-blocking, close-on-exec socket. Every release of these
// kernels that Go supports takes both flags in socket(2)'s type, so no fork can see
// the fd without close-on-exec.
func socket(family, typ int) (int, error) {
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	return fd, nil
}
