//go:build darwin || dragonfly || freebsd || openbsd

package poller

import "golang.org/x/sys/unix"

// kqOneShot is EV_DISPATCH: the knote disables itself after one delivery and stays, so
// modify re-arms it with EV_ENABLE.
const kqOneShot = unix.EV_DISPATCH

// apply makes changes in one kevent call and sets errs[i] to the errno of changes[i], or
// nil. EV_RECEIPT makes the kernel answer every change with an EV_ERROR entry (data 0 for
// success) and return without scanning for events, so none is consumed here; without it,
// the first failure would stop the changelist.
func (k *kqueueBackend) apply(changes []unix.Kevent_t, errs []error) {
	for i := range changes {
		changes[i].Flags |= unix.EV_RECEIPT
	}
	rcpt := k.receipts[:len(changes)]
	var n int
	var err error
	for {
		// Retrying is harmless: an EV_ADD applied twice is one, and callers accept
		// ENOENT for an EV_DELETE.
		n, err = unix.Kevent(k.kq, changes, rcpt, &k.noWait)
		if err != unix.EINTR {
			break
		}
	}
	for i := range errs {
		switch {
		case err != nil:
			errs[i] = err
		case i >= n || rcpt[i].Flags&unix.EV_ERROR == 0 ||
			rcpt[i].Ident != changes[i].Ident || rcpt[i].Filter != changes[i].Filter:
			// Not answered in order: count it as failed, so that a caller rolls it back
			// rather than trust a filter that may not exist.
			errs[i] = unix.EINVAL
		case rcpt[i].Data != 0:
			errs[i] = unix.Errno(rcpt[i].Data)
		default:
			errs[i] = nil
		}
	}
}
