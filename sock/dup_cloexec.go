//go:build darwin || dragonfly || freebsd || (linux && !sockfallback) || netbsd || openbsd || solaris

package sock

import (
	"os"

	"golang.org/x/sys/unix"
)

// dupCloseOnExec duplicates fd with F_DUPFD_CLOEXEC, so that no fork sees the copy
// without close-on-exec.
func dupCloseOnExec(fd int) (int, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("fcntl", err)
	}
	return nfd, nil
}
