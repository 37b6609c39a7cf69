//go:build aix

package poller

import (
	"time"

	"golang.org/x/sys/unix"
)

// pollRdHup is 0: AIX has no POLLRDHUP.
const pollRdHup = 0

// pollBits is the type of PollFd's Events and Revents: unsigned on AIX, where POLLNVAL is
// 0x8000 (sys/poll.h).
type pollBits = uint16

// sysPoll is one poll(2), its timeout rounded up to a millisecond. AIX reads only the low
// 16 bits of the count as pollfds (the high half counts message queues, poll(2) in the AIX
// Technical Reference); the table never gets there, since it holds distinct open fds and
// a process has fewer than 65536 (OPEN_MAX is 65534).
func sysPoll(fds []unix.PollFd, timeout time.Duration) (int, error) {
	return unix.Poll(fds, msec(timeout))
}
