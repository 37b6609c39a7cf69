//go:build darwin || dragonfly || freebsd

package poller

import (
	"os"

	"golang.org/x/sys/unix"
)

// kqWakeIdent identifies the wake among EVFILT_USER events, whose identifiers are not
// descriptors: it cannot collide with a watched fd.
const kqWakeIdent = 0

// kqWaker wakes a blocked kevent through EVFILT_USER (macOS 10.6, FreeBSD 8.1, DragonFly),
// which costs no descriptor. EV_CLEAR resets the event as it is delivered, so there is
// nothing to drain.
type kqWaker struct {
	note [1]unix.Kevent_t // NOTE_TRIGGER
}

func (w *kqWaker) open(kq int) error {
	var ev [1]unix.Kevent_t
	unix.SetKevent(&ev[0], kqWakeIdent, unix.EVFILT_USER, unix.EV_ADD|unix.EV_CLEAR)
	if err := kqControl(kq, ev[:]); err != nil {
		return os.NewSyscallError("kevent", err)
	}
	unix.SetKevent(&w.note[0], kqWakeIdent, unix.EVFILT_USER, 0)
	w.note[0].Fflags = unix.NOTE_TRIGGER
	return nil
}

// owns reports whether fd is one of the waker's descriptors: it has none.
func (w *kqWaker) owns(fd int) bool { return false }

// drained reports whether ev is the wake, which EV_CLEAR has already reset.
func (w *kqWaker) drained(ev *unix.Kevent_t) bool {
	return int(ev.Filter) == unix.EVFILT_USER
}

func (w *kqWaker) trigger(kq int) error {
	if err := kqControl(kq, w.note[:]); err != nil {
		return os.NewSyscallError("kevent", err)
	}
	return nil
}

func (w *kqWaker) close() error { return nil }
