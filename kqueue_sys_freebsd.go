//go:build freebsd

package poller

import "golang.org/x/sys/unix"

// kqPriority is Priority where this kernel has EVFILT_EXCEPT with NOTE_OOB.
const kqPriority = 0

// hostKqSys describes this kernel's kqueue.
func hostKqSys() kqSys {
	return kqSys{
		FiltRead: unix.EVFILT_READ, FiltWrite: unix.EVFILT_WRITE,
		HasUser: true, FiltUser: unix.EVFILT_USER,
		Receipt: true, Dispatch: true,
	}
}

// EV_RECEIPT and EV_DISPATCH are this BSD's too.
var _ = [1]struct{}{}[evReceipt^unix.EV_RECEIPT|evDispatch^unix.EV_DISPATCH]
