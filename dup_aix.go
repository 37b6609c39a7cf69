//go:build aix

package poller

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// dupCloseOnExec duplicates fd and makes the copy close-on-exec under syscall.ForkLock,
// so that no fork in between inherits it: x/sys has no F_DUPFD_CLOEXEC for AIX.
func dupCloseOnExec(fd int) (int, error) {
	syscall.ForkLock.RLock()
	nfd, err := unix.Dup(fd)
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, os.NewSyscallError("dup", err)
	}
	return nfd, nil
}
