//go:build aix || darwin || (solaris && !illumos) || (linux && sockfallback)

package sock

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// socket returns a new non-blocking, close-on-exec socket. These systems have no
// SOCK_CLOEXEC in x/sys (Solaris before 11.4 none in the kernel either), so the flag is
// set by fcntl while syscall.ForkLock is held for reading: os/exec forks with it held
// for writing, and a child forked between socket and fcntl would inherit the fd.
//
// The sockfallback build tag selects this file on Linux too, so that the tests run it
// where they can run (go test -tags sockfallback ./sock); untagged Linux builds use
// the atomic calls.
func socket(family, typ int) (int, error) {
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(family, typ, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("fcntl", err)
	}
	return fd, nil
}
