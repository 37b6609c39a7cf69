//go:build aix || darwin || (solaris && !illumos) || (linux && sockfallback)

package sock

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// accept is accept(2), then fcntl for close-on-exec and non-blocking: x/sys has no
// accept4 here (macOS and AIX have none; Solaris only from 11.4). It returns accept's
// errno bare, for Accept to sort, and an *os.SyscallError if fcntl fails.
//
// On a non-blocking listener, accept and close-on-exec happen under
// syscall.ForkLock, so that os/exec cannot fork a child that inherits the new fd. On
// a blocking one accept may wait for a long time, and os/exec must not wait with it:
// there Go's own rule applies (internal/poll's accept takes no lock), and a fork in
// between can leak the fd into a child.
//
// The sockfallback build tag selects this file on Linux too, so that the tests run it
// where they can run (go test -tags sockfallback ./sock); untagged Linux builds use
// the atomic calls.
func accept(fd int) (int, unix.Sockaddr, error) {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return -1, nil, os.NewSyscallError("fcntl", err)
	}
	lock := fl&unix.O_NONBLOCK != 0
	if lock {
		syscall.ForkLock.RLock()
	}
	nfd, sa, err := unix.Accept(fd)
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	if lock {
		syscall.ForkLock.RUnlock()
	}
	if err != nil {
		return -1, nil, err
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, nil, os.NewSyscallError("fcntl", err)
	}
	return nfd, sa, nil
}
