//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package poller

import (
	"time"

	"golang.org/x/sys/unix"
)

// pollRdHup is 0: only Linux has POLLRDHUP.
const pollRdHup = 0

// sysPoll is one poll(2), its timeout rounded up to a millisecond.
func sysPoll(fds []unix.PollFd, timeout time.Duration) (int, error) {
	return unix.Poll(fds, msec(timeout))
}
