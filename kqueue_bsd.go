//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package poller

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var _ backend = (*kqueueBackend)(nil)

const nativeBackend = BackendKqueue

// nativeInterests: Priority (EVFILT_EXCEPT with NOTE_OOB, where the BSD has it) is not
// wired up yet, so Add and Modify refuse it with ErrUnsupported.
const nativeInterests = Readable | Writable

func openNative(mu *sync.Mutex, _ *atomic.Bool) (backend, error) { return openKqueue(mu) }

// kqMaxWait caps one kevent timeout well below the 10^8 seconds that Darwin and older
// OpenBSD accept (itimerfix: EINVAL above), as Go's runtime does. Poller.Wait waits again
// for the time that remains.
const kqMaxWait = 1e6 * time.Second

type kqueueBackend struct {
	mu    *sync.Mutex
	kq    int
	waker kqWaker
	regs  kqTable // regs.regs is guarded by mu; the batch and pending queue are wait's own

	// Under mu: the changelist of one add, modify or delete and each change's outcome.
	changes [4]unix.Kevent_t
	//lint:ignore U1000 EV_RECEIPT's answers, used where the BSD has it (not NetBSD)
	receipts [4]unix.Kevent_t
	errs     [4]error
	//lint:ignore U1000 zero: a kevent that only makes changes never sleeps (not NetBSD)
	noWait unix.Timespec

	// Only wait touches these.
	buf []unix.Kevent_t
	ts  unix.Timespec
}

func openKqueue(mu *sync.Mutex) (*kqueueBackend, error) {
	// kqueue1 and kqueuex are not on every BSD: set close-on-exec under ForkLock, as
	// package os does, lest a fork in between leak the descriptor into a child's exec.
	syscall.ForkLock.RLock()
	kq, err := unix.Kqueue()
	if err == nil {
		unix.CloseOnExec(kq)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, os.NewSyscallError("kqueue", err)
	}
	k := &kqueueBackend{mu: mu, kq: kq, buf: make([]unix.Kevent_t, kqBufLen(64))}
	if err := k.waker.open(kq); err != nil {
		unix.Close(kq)
		return nil, err
	}
	return k, nil
}

func (k *kqueueBackend) add(fd int, flags Flags) error {
	if k.regs.lookup(fd) != nil {
		return ErrExists
	}
	if fd == k.kq || k.waker.owns(fd) {
		return os.NewSyscallError("kevent", unix.EINVAL)
	}
	ch := k.changes[:0]
	if flags&Readable != 0 {
		ch = append(ch, kqChange(fd, unix.EVFILT_READ, unix.EV_ADD|kqMode(flags)))
	}
	if flags&Writable != 0 {
		ch = append(ch, kqChange(fd, unix.EVFILT_WRITE, unix.EV_ADD|kqMode(flags)))
	}
	errs := k.errs[:len(ch)]
	k.apply(ch, errs)
	var first error
	undo := ch[:0]
	for i := range ch {
		if errs[i] == nil {
			undo = append(undo, kqChange(fd, int(ch[i].Filter), unix.EV_DELETE))
		} else if first == nil {
			first = errs[i]
		}
	}
	if first != nil {
		// Roll back the filter that was added, so that a failed Add leaves nothing behind.
		if len(undo) > 0 {
			k.apply(undo, k.errs[:len(undo)])
		}
		return os.NewSyscallError("kevent", first)
	}
	k.regs.set(fd, flags)
	return nil
}

func (k *kqueueBackend) modify(fd int, flags Flags) error {
	reg := k.regs.lookup(fd)
	if reg == nil {
		return ErrNotRegistered
	}
	old, mode := reg.flags, kqMode(flags)
	sameMode := old&modeMask == flags&modeMask
	ch := k.changes[:0]
	for _, f := range [...]struct {
		bit    Flags
		filter int
	}{{Readable, unix.EVFILT_READ}, {Writable, unix.EVFILT_WRITE}} {
		had, want := old&f.bit != 0, flags&f.bit != 0
		switch {
		case want && had && sameMode:
			// EV_ENABLE re-arms a filter that EV_DISPATCH disabled; EV_ADD re-creates one
			// that EV_ONESHOT deleted (NetBSD), and makes the kernel evaluate it afresh.
			ch = append(ch, kqChange(fd, f.filter, unix.EV_ADD|unix.EV_ENABLE|mode))
		case want:
			if had {
				// EV_ADD on an existing knote keeps the EV_CLEAR and EV_DISPATCH it was
				// created with: only a new knote takes the new mode.
				ch = append(ch, kqChange(fd, f.filter, unix.EV_DELETE))
			}
			ch = append(ch, kqChange(fd, f.filter, unix.EV_ADD|mode))
		case had:
			ch = append(ch, kqChange(fd, f.filter, unix.EV_DELETE))
		}
	}
	errs := k.errs[:len(ch)]
	k.apply(ch, errs)
	for i, err := range errs {
		// ENOENT on a delete: the knote is already gone (a delivered EV_ONESHOT).
		if err == nil || err == unix.ENOENT && ch[i].Flags&unix.EV_DELETE != 0 {
			continue
		}
		return os.NewSyscallError("kevent", err)
	}
	k.regs.set(fd, flags)
	return nil
}

func (k *kqueueBackend) delete(fd int) error {
	reg := k.regs.lookup(fd)
	if reg == nil {
		return ErrNotRegistered
	}
	flags := reg.flags
	k.regs.remove(fd)
	ch := k.changes[:0]
	if flags&Readable != 0 {
		ch = append(ch, kqChange(fd, unix.EVFILT_READ, unix.EV_DELETE))
	}
	if flags&Writable != 0 {
		ch = append(ch, kqChange(fd, unix.EVFILT_WRITE, unix.EV_DELETE))
	}
	errs := k.errs[:len(ch)]
	k.apply(ch, errs)
	for _, err := range errs {
		// EBADF: the caller closed fd first, and close(2) already removed its knotes,
		// whatever duplicates keep the file open. ENOENT: a delivered EV_ONESHOT knote
		// (NetBSD), or the number now names a file this kqueue never watched.
		if err != nil && err != unix.EBADF && err != unix.ENOENT {
			return os.NewSyscallError("kevent", err)
		}
	}
	return nil
}

func (k *kqueueBackend) wait(events []Event, timeout time.Duration) (int, error) {
	if len(k.buf) < kqBufLen(len(events)) {
		k.buf = make([]unix.Kevent_t, kqBufLen(len(events)))
	}
	k.regs.begin()
	n := 0
	if k.regs.queued() {
		k.mu.Lock()
		n = k.regs.serve(events)
		k.mu.Unlock()
		if n == len(events) {
			return n, nil
		}
		if n > 0 {
			timeout = 0
		}
	}
	got, err := unix.Kevent(k.kq, nil, k.buf[:kqBufLen(len(events)-n)], k.timespec(timeout))
	if err != nil {
		switch {
		case n > 0:
			return n, nil
		case err == unix.EINTR:
			return 0, err
		}
		return 0, os.NewSyscallError("kevent", err)
	}
	locked := false
	for i := range k.buf[:got] {
		ev := &k.buf[i]
		if k.waker.drained(ev) {
			continue
		}
		if !locked {
			k.mu.Lock()
			locked = true
		}
		n = k.regs.collect(events, n, kqKeventOf(ev))
	}
	if locked {
		k.mu.Unlock()
	}
	return n, nil
}

func (k *kqueueBackend) wake() error {
	return k.waker.trigger(k.kq)
}

func (k *kqueueBackend) close() error {
	err1 := k.waker.close()
	err2 := unix.Close(k.kq)
	if err1 != nil {
		return err1
	}
	if err2 != nil {
		return os.NewSyscallError("close", err2)
	}
	return nil
}

// timespec returns the kevent timeout for d: nil to block, zero to poll.
func (k *kqueueBackend) timespec(d time.Duration) *unix.Timespec {
	if d < 0 {
		return nil
	}
	if d > kqMaxWait {
		d = kqMaxWait
	}
	k.ts = unix.NsecToTimespec(int64(d))
	return &k.ts
}

// kqControl makes changes without collecting events, retrying EINTR: every change is
// applied before kevent could sleep, and applying one twice is harmless.
func kqControl(kq int, changes []unix.Kevent_t) error {
	for {
		_, err := unix.Kevent(kq, changes, nil, nil)
		if err != unix.EINTR {
			return err
		}
	}
}

// kqChange returns a change for fd's filter, with Udata left nil: it is a pointer the
// garbage collector scans, never a place for an integer.
func kqChange(fd, filter, flags int) unix.Kevent_t {
	var ev unix.Kevent_t
	unix.SetKevent(&ev, fd, filter, flags)
	return ev
}

// kqMode returns the kevent flags for the mode bits of flags.
func kqMode(flags Flags) int {
	var m int
	if flags&EdgeTriggered != 0 {
		m |= unix.EV_CLEAR
	}
	if flags&OneShot != 0 {
		m |= kqOneShot
	}
	return m
}

// kqKeventOf copies what readiness depends on out of a returned kevent.
func kqKeventOf(ev *unix.Kevent_t) kqKevent {
	kev := kqKevent{
		fd:     int(ev.Ident),
		eof:    ev.Flags&unix.EV_EOF != 0,
		failed: ev.Flags&unix.EV_ERROR != 0,
		fflags: ev.Fflags,
		data:   ev.Data,
	}
	switch int(ev.Filter) {
	case unix.EVFILT_READ:
		kev.filter = kqRead
	case unix.EVFILT_WRITE:
		kev.filter = kqWrite
	}
	return kev
}
