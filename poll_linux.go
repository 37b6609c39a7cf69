//go:build linux

package poller

import (
	"time"

	"golang.org/x/sys/unix"
)

// pollRdHup is Linux's POLLRDHUP (2.6.17): the peer shut down its writing side.
const pollRdHup = unix.POLLRDHUP

// pollBits is the type of PollFd's Events and Revents.
type pollBits = int16

// sysPoll is one poll(2) at nanosecond resolution, through ppoll.
func sysPoll(fds []unix.PollFd, timeout time.Duration) (int, error) {
	if timeout == 0 {
		return pollNoWait(fds)
	}
	if timeout < 0 {
		return unix.Ppoll(fds, nil, nil)
	}
	ts := unix.NsecToTimespec(int64(timeout))
	return unix.Ppoll(fds, &ts, nil)
}
