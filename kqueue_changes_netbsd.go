//go:build netbsd

package poller

import "golang.org/x/sys/unix"

// x/sys has neither EV_DISPATCH nor EV_RECEIPT for NetBSD (NetBSD 10 added both; 9 has
// neither). kqOneShot is EV_ONESHOT instead: the knote is deleted once delivered, and
// modify adds it again with EV_ADD; the table keeps the fd registered meanwhile.
const kqOneShot = unix.EV_ONESHOT

// apply makes changes and sets errs[i] to the errno of changes[i], or nil. With no
// eventlist, kevent stops at the first failing change and returns its errno without
// saying which it was; only then are the changes made again one by one, to learn each
// outcome (an EV_ADD made twice is one; callers accept ENOENT for a repeated EV_DELETE).
func (k *kqueueBackend) apply(changes []unix.Kevent_t, errs []error) {
	err := kqControl(k.kq, changes)
	if err == nil || len(changes) == 1 {
		for i := range errs {
			errs[i] = err
		}
		return
	}
	for i := range changes {
		errs[i] = kqControl(k.kq, changes[i:i+1])
	}
}
