//go:build darwin || dragonfly || freebsd || illumos || netbsd || openbsd || solaris

package poller

import (
	"time"

	"golang.org/x/sys/unix"
)

// pollRdHup is 0: of these, only illumos has POLLRDHUP, and x/sys does not export it.
const pollRdHup = 0

// pollBits is the type of PollFd's Events and Revents.
type pollBits = int16

// sysPoll is one poll(2), its timeout rounded up to a millisecond.
func sysPoll(fds []unix.PollFd, timeout time.Duration) (int, error) {
	return unix.Poll(fds, msec(timeout))
}
