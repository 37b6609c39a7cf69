//go:build aix || (linux && sockfallback)

package sock

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// dupCloseOnExec duplicates fd and sets close-on-exec on the copy under
// syscall.ForkLock, so that os/exec cannot fork in between: x/sys has no
// F_DUPFD_CLOEXEC for AIX.
//
// The sockfallback build tag selects this file on Linux too, so that the tests run it
// where they can run (go test -tags sockfallback ./sock); untagged Linux builds use
// the atomic calls.
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
