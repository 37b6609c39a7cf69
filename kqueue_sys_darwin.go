//go:build darwin

package poller

import "golang.org/x/sys/unix"

// kqPriority is Priority where this kernel has EVFILT_EXCEPT with NOTE_OOB firing for
// out-of-band data alone. XNU's runs the socket read filter (filt_soread_common), so it
// also fires for plain data, and a Priority-only registration would spin: no Priority.
const kqPriority = 0

// hostKqSys describes this kernel's kqueue.
func hostKqSys() kqSys {
	return kqSys{
		FiltRead: unix.EVFILT_READ, FiltWrite: unix.EVFILT_WRITE,
		HasUser: true, FiltUser: unix.EVFILT_USER,
		HasExcept: true, FiltExcept: unix.EVFILT_EXCEPT, NoteOOB: unix.NOTE_OOB,
		ExceptReadsToo: true,
		Receipt:        true, Dispatch: true,
	}
}

// EV_RECEIPT and EV_DISPATCH are this BSD's too.
var _ = [1]struct{}{}[evReceipt^unix.EV_RECEIPT|evDispatch^unix.EV_DISPATCH]
