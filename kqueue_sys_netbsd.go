//go:build netbsd

package poller

import "golang.org/x/sys/unix"

// kqPriority is Priority where this kernel has EVFILT_EXCEPT with NOTE_OOB.
const kqPriority = 0

// hostKqSys describes this kernel's kqueue as x/sys knows it: no EVFILT_USER (the wake is
// a pipe), no EV_RECEIPT (NetBSD 9 ignores it; changes are made again one by one when a
// changelist fails) and no EV_DISPATCH (OneShot is EV_ONESHOT and re-adding). NetBSD 10
// has all three, but see openKqueue before using its EV_DISPATCH.
func hostKqSys() kqSys {
	return kqSys{FiltRead: unix.EVFILT_READ, FiltWrite: unix.EVFILT_WRITE}
}
