//go:build linux

package poller

import "github.com/rawpoll/poller/internal/kqabi"

// On Linux the kqueue backend's code is built for its tests, which run it against a
// model of the BSD kernels; rawKevent is struct kevent as that model takes it.
type rawKevent = kqabi.Kevent

// setKevent fills the identity of a change, as unix.SetKevent does on the BSDs.
func setKevent(ev *rawKevent, ident, filter, flags int) {
	ev.Ident, ev.Filter, ev.Flags = uint64(ident), int32(filter), uint32(flags)
}
