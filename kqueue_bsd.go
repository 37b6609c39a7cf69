//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package poller

import (
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// The kqueue backend's seam to the BSD kernels; its logic is in kqueue.go.

const nativeBackend = BackendKqueue

// rawKevent is struct kevent, whose field types differ between the BSDs: kqueue.go reads
// its fields through conversions and fills them through setKevent.
type rawKevent = unix.Kevent_t

// The flags kqueue.go spells once are this BSD's (a compile error otherwise).
var _ = [1]struct{}{}[evAdd^unix.EV_ADD|evDelete^unix.EV_DELETE|evEnable^unix.EV_ENABLE|
	evDisable^unix.EV_DISABLE|evOneShot^unix.EV_ONESHOT|evClear^unix.EV_CLEAR|
	evError^unix.EV_ERROR|evEOF^unix.EV_EOF]

func setKevent(ev *rawKevent, ident, filter, flags int) { unix.SetKevent(ev, ident, filter, flags) }

// nativeInterests says whether this BSD can wait for Priority (EVFILT_EXCEPT with
// NOTE_OOB: macOS, OpenBSD, DragonFly); it is hostKqSys().HasExcept, as a constant.
const nativeInterests = Readable | Writable | kqPriority

const nativeModes = EdgeTriggered | OneShot

func openNative(mu *sync.Mutex, _ *atomic.Bool) (backend, error) {
	return openKqueue(kqSyscalls{}, hostKqSys(), mu)
}

// kqSyscalls is the kernel itself.
type kqSyscalls struct{}

func (kqSyscalls) Kqueue() (int, error) {
	// kqueue1 and kqueuex are not on every BSD: set close-on-exec under ForkLock, as
	// package os does, lest a fork in between leak the descriptor into a child's exec.
	syscall.ForkLock.RLock()
	kq, err := unix.Kqueue()
	if err == nil {
		unix.CloseOnExec(kq)
	}
	syscall.ForkLock.RUnlock()
	return kq, err
}

func (kqSyscalls) Kevent(kq int, changes, events []rawKevent, timeout *unix.Timespec) (int, error) {
	return unix.Kevent(kq, changes, events, timeout)
}

func (kqSyscalls) Close(kq int) error { return unix.Close(kq) }
