//go:build aix || darwin

package poller

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// newWakePipe returns a non-blocking, close-on-exec pipe. macOS and AIX have no pipe2, so
// the descriptors are made close-on-exec under ForkLock, as package os does there
// (os/pipe_unix.go), lest a fork in between leak them into a child.
func newWakePipe() (r, w int, err error) {
	var p [2]int
	syscall.ForkLock.RLock()
	err = unix.Pipe(p[:])
	if err == nil {
		unix.CloseOnExec(p[0])
		unix.CloseOnExec(p[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, -1, os.NewSyscallError("pipe", err)
	}
	for _, fd := range p {
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			return -1, -1, os.NewSyscallError("fcntl", err)
		}
	}
	return p[0], p[1], nil
}
