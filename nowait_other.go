//go:build aix || darwin || dragonfly || freebsd || illumos || netbsd || openbsd || solaris

package poller

import "golang.org/x/sys/unix"

// selectNoWait is select(2) with a zero timeout. (Linux makes it a raw system call.)
func selectNoWait(nfd int, r, w, e *unix.FdSet) (int, error) {
	var tv unix.Timeval
	return unix.Select(nfd, r, w, e, &tv)
}
