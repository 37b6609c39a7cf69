//go:build netbsd || openbsd

package poller

import (
	"os"

	"golang.org/x/sys/unix"
)

// kqWaker wakes a blocked kevent through a non-blocking pipe whose read end is registered
// for EVFILT_READ: x/sys has no EVFILT_USER for NetBSD and OpenBSD.
type kqWaker struct {
	r, w     int
	wakeBuf  [1]byte
	drainBuf [64]byte
}

func (w *kqWaker) open(kq int) error {
	r, wr, err := newWakePipe()
	if err != nil {
		return err
	}
	ev := [1]unix.Kevent_t{kqChange(r, unix.EVFILT_READ, unix.EV_ADD)}
	if err := kqControl(kq, ev[:]); err != nil {
		unix.Close(r)
		unix.Close(wr)
		return os.NewSyscallError("kevent", err)
	}
	w.r, w.w = r, wr
	return nil
}

// owns reports whether fd is one of the waker's descriptors.
func (w *kqWaker) owns(fd int) bool { return fd == w.r || fd == w.w }

// drained reports whether ev is the wake, and if so empties the pipe.
func (w *kqWaker) drained(ev *unix.Kevent_t) bool {
	if int(ev.Filter) != unix.EVFILT_READ || int(ev.Ident) != w.r {
		return false
	}
	drainPipe(w.r, w.drainBuf[:])
	return true
}

func (w *kqWaker) trigger(kq int) error {
	return writeWake(w.w, w.wakeBuf[:])
}

func (w *kqWaker) close() error {
	return closeFds(w.r, w.w)
}
