//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package poller

import (
	"os"
	"sync"
	"time"

	"github.com/rawpoll/poller/internal/kqabi"
	"golang.org/x/sys/unix"
)

// The kqueue backend. Its logic is compiled on Linux too, where the tests run it against
// a model of the BSD kernels (internal/kqmodel); it reaches the kernel only through
// kqKernel, which kqueue_bsd.go implements over x/sys. kqmerge.go holds the bookkeeping
// that needs no kernel at all.

var _ backend = (*kqueueBackend)(nil)

// The flags of struct kevent, the same on every BSD (kqueue_bsd.go checks that against
// x/sys at compile time).
const (
	evAdd       = 0x1
	evDelete    = 0x2
	evEnable    = 0x4
	evDisable   = 0x8
	evOneShot   = 0x10
	evClear     = 0x20
	evReceipt   = 0x40
	evDispatch  = 0x80
	evError     = 0x4000
	evEOF       = 0x8000
	noteTrigger = 0x01000000
)

// kqKernel is the seam between the backend and the kernel: kqueue(2), kevent(2) and
// close(2) on the queue, with errors returned as unix.Errno values.
type kqKernel interface {
	Kqueue() (int, error)
	Kevent(kq int, changes, events []rawKevent, timeout *unix.Timespec) (int, error)
	Close(kq int) error
}

// kqSys is what the kernel's kqueue offers: filter numbers and optional features.
type kqSys = kqabi.Sys

// kqMaxWait caps one kevent timeout well below the 10^8 seconds that Darwin and older
// OpenBSD accept (itimerfix: EINVAL above), as Go's runtime does. Poller.Wait waits again
// for the time that remains.
const kqMaxWait = 1e6 * time.Second

// kqWakeIdent identifies the wake among EVFILT_USER events, whose identifiers are not
// descriptors: it cannot collide with a watched fd.
const kqWakeIdent = 0

type kqueueBackend struct {
	mu      *sync.Mutex
	kernel  kqKernel
	sys     kqSys
	kq      int
	oneShot int // the kevent flag of OneShot: EV_DISPATCH, or EV_ONESHOT where it is missing
	// filters pairs each interest bit with its filter, in the order changes are made:
	// EVFILT_READ, EVFILT_WRITE, and EVFILT_EXCEPT where the kernel has it.
	filters   []kqFilterOf
	filterArr [3]kqFilterOf

	// The wake: EVFILT_USER where the kernel has it (EV_CLEAR resets it as it is
	// delivered, and it costs no descriptor), else a non-blocking pipe whose read end is
	// registered for EVFILT_READ; wakeR and wakeW are -1 with EVFILT_USER.
	wakeR, wakeW int
	wakeNote     [1]rawKevent
	wakeBuf      [1]byte
	drainBuf     [64]byte

	regs kqTable // regs.regs is guarded by mu; the batch and pending queue are wait's own
	tags kqTags  // what each change's Udata says: the generation of its registration

	// Under mu: the changelist of one add, modify or delete and each change's outcome.
	changes  [6]rawKevent
	receipts [6]rawKevent
	errs     [6]error
	noWait   unix.Timespec // zero: a kevent that only makes changes never sleeps

	// Only wait touches these.
	buf []rawKevent
	ts  unix.Timespec
}

func openKqueue(kernel kqKernel, sys kqSys, mu *sync.Mutex) (*kqueueBackend, error) {
	kq, err := kernel.Kqueue()
	if err != nil {
		return nil, os.NewSyscallError("kqueue", err)
	}
	k := &kqueueBackend{
		mu: mu, kernel: kernel, sys: sys, kq: kq, oneShot: evOneShot,
		wakeR: -1, wakeW: -1, buf: make([]rawKevent, kqBufLen(64)),
	}
	k.filterArr = [...]kqFilterOf{{Readable, int(sys.FiltRead)}, {Writable, int(sys.FiltWrite)}, {Priority, int(sys.FiltExcept)}}
	k.filters = k.filterArr[:2]
	if k.support().interests&Priority != 0 {
		k.filters = k.filterArr[:3]
	}
	if sys.Dispatch {
		// EV_DISPATCH disables the knote after one delivery and keeps it, so Modify
		// re-arms it with EV_ENABLE. Without it (NetBSD in x/sys), EV_ONESHOT deletes
		// the knote and Modify adds it again; the table keeps the fd registered
		// meanwhile. Keep EV_ONESHOT on NetBSD even once x/sys has EV_DISPATCH: NetBSD's
		// kqueue_scan tests EV_CLEAR before EV_DISPATCH in one else-if chain, so an
		// EdgeTriggered|OneShot knote would never be disabled (TestKqueueGuardRails).
		k.oneShot = evDispatch
	}
	if err := k.openWake(); err != nil {
		kernel.Close(kq)
		return nil, err
	}
	return k, nil
}

func (k *kqueueBackend) openWake() error {
	if k.sys.HasUser {
		var ev [1]rawKevent
		setKevent(&ev[0], kqWakeIdent, int(k.sys.FiltUser), evAdd|evClear)
		if err := k.control(ev[:]); err != nil {
			return os.NewSyscallError("kevent", err)
		}
		setKevent(&k.wakeNote[0], kqWakeIdent, int(k.sys.FiltUser), 0)
		k.wakeNote[0].Fflags = noteTrigger
		return nil
	}
	r, w, err := newWakePipe()
	if err != nil {
		return err
	}
	var ev [1]rawKevent
	setKevent(&ev[0], r, int(k.sys.FiltRead), evAdd)
	if err := k.control(ev[:]); err != nil {
		closeFds(r, w)
		return os.NewSyscallError("kevent", err)
	}
	k.wakeR, k.wakeW = r, w
	return nil
}

func (k *kqueueBackend) add(fd int, flags Flags) error {
	if k.regs.lookup(fd) != nil {
		return ErrExists
	}
	if fd == k.kq || fd == k.wakeR || fd == k.wakeW {
		return os.NewSyscallError("kevent", unix.EINVAL)
	}
	if k.regs.dirty(fd) {
		// A Delete the kernel refused may have left knotes, and EV_ADD would keep their
		// EV_CLEAR and EV_DISPATCH: start clean. Errors say there was nothing to delete.
		ch := k.changes[:0]
		for _, f := range k.filters {
			ch = append(ch, k.change(fd, f.filter, evDelete, 0))
		}
		k.apply(ch, k.errs[:len(ch)])
		k.regs.clean(fd)
	}
	gen := k.regs.newGen()
	ch := k.changes[:0]
	for _, f := range k.filters {
		if flags&f.bit != 0 {
			ch = append(ch, k.change(fd, f.filter, evAdd|k.mode(flags), gen))
		}
	}
	errs := k.errs[:len(ch)]
	k.apply(ch, errs)
	stuck := k.stuck(ch, errs)
	var first error
	undo := k.receipts[:0]
	for i := range ch {
		if errs[i] == nil {
			undo = append(undo, k.change(fd, int(ch[i].Filter), evDelete, 0))
		} else if first == nil {
			first = errs[i]
		}
	}
	if first != nil {
		// Roll back the filter that was added, so that a failed Add leaves nothing behind.
		if len(undo) > 0 {
			copy(k.changes[:], undo)
			k.apply(k.changes[:len(undo)], k.errs[:len(undo)])
		}
		return os.NewSyscallError("kevent", first)
	}
	k.regs.set(fd, flags, gen, stuck, true)
	return nil
}

// fdOpen reports whether fd is an open descriptor.
func fdOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// stuck reports whether one of the changes ch was an EV_ADD of the write filter that the
// kernel refused with EPIPE, and counts it as made: FreeBSD and DragonFly refuse write
// interest in a pipe whose reader is gone (sys_pipe.c pipe_kqfilter), where epoll and
// poll accept it and report the pipe writable with an error, as the other BSDs report
// it with EV_EOF; mio ignores the EPIPE for the same reason (tokio-rs/mio#582). Wait
// reports such an fd as that knote would be.
func (k *kqueueBackend) stuck(ch []rawKevent, errs []error) bool {
	stuck := false
	for i := range ch {
		if ch[i].Flags&evAdd == 0 || int(ch[i].Filter) != int(k.sys.FiltWrite) {
			continue
		}
		// NetBSD refuses it with EBADF (sys_pipe.c pipe_kqfilter: "other end of pipe has
		// been closed"), which an fd that is open cannot otherwise earn.
		if errs[i] == unix.EPIPE || errs[i] == unix.EBADF && fdOpen(int(ch[i].Ident)) {
			errs[i] = nil
			stuck = true
		}
	}
	return stuck
}

func (k *kqueueBackend) modify(fd int, flags Flags) error {
	reg := k.regs.lookup(fd)
	if reg == nil {
		return ErrNotRegistered
	}
	old := *reg
	gen := k.regs.newGen()
	mode := k.mode(flags)
	sameMode := old.flags&modeMask == flags&modeMask
	ch := k.changes[:0]
	for _, f := range k.filters {
		had, want := old.flags&f.bit != 0, flags&f.bit != 0
		switch {
		case want && had && sameMode:
			// EV_ENABLE re-arms a filter that EV_DISPATCH disabled; EV_ADD re-creates one
			// that EV_ONESHOT deleted (NetBSD), makes the kernel evaluate it afresh, and
			// tags it with the new generation.
			ch = append(ch, k.change(fd, f.filter, evAdd|evEnable|mode, gen))
		case want:
			if had {
				// EV_ADD on an existing knote keeps the EV_CLEAR and EV_DISPATCH it was
				// created with: only a new knote takes the new mode.
				ch = append(ch, k.change(fd, f.filter, evDelete, 0))
			}
			ch = append(ch, k.change(fd, f.filter, evAdd|mode, gen))
		case had:
			ch = append(ch, k.change(fd, f.filter, evDelete, 0))
		}
	}
	errs := k.errs[:len(ch)]
	k.apply(ch, errs)
	stuck := k.stuck(ch, errs)
	var first error
	for i, err := range errs {
		// ENOENT on a delete: the knote is already gone (a delivered EV_ONESHOT).
		if err == nil || err == unix.ENOENT && ch[i].Flags&evDelete != 0 {
			errs[i] = nil
			continue
		}
		if first == nil {
			first = err
		}
	}
	if first != nil {
		k.restore(fd, &old, ch, errs)
		return os.NewSyscallError("kevent", first)
	}
	k.regs.set(fd, flags, gen, stuck, false)
	return nil
}

// restore puts back the knotes of old, a registration of fd, after a modify whose
// changes ch were only partly applied (errs[i] == nil: applied), so that a failed Modify
// leaves the registration as it was, as epoll_ctl(EPOLL_CTL_MOD) does. Each filter that a
// change touched is deleted and, if old had it, added again with old's mode and tag, and
// disabled again if old was a reported one-shot fd. Restoring is best effort: the kernel
// refusing now what it accepted before is not reported twice.
func (k *kqueueBackend) restore(fd int, old *kqReg, ch []rawKevent, errs []error) {
	var touched [3]bool
	filters := k.filters
	for i := range ch {
		if errs[i] != nil {
			continue
		}
		for j, f := range filters {
			if int(ch[i].Filter) == f.filter {
				touched[j] = true
			}
		}
	}
	undo := k.receipts[:0]
	for j, f := range filters {
		if !touched[j] {
			continue
		}
		undo = append(undo, k.change(fd, f.filter, evDelete, 0))
		if old.flags&f.bit == 0 || !old.armed && !k.sys.Dispatch {
			continue
		}
		flags := evAdd | k.mode(old.flags)
		if !old.armed {
			flags |= evDisable
		}
		undo = append(undo, k.change(fd, f.filter, flags, old.gen))
	}
	n := copy(k.changes[:], undo)
	k.apply(k.changes[:n], k.errs[:n])
}

func (k *kqueueBackend) delete(fd int) error {
	reg := k.regs.lookup(fd)
	if reg == nil {
		return ErrNotRegistered
	}
	flags := reg.flags
	k.regs.remove(fd)
	ch := k.changes[:0]
	for _, f := range k.filters {
		if flags&f.bit != 0 {
			ch = append(ch, k.change(fd, f.filter, evDelete, 0))
		}
	}
	errs := k.errs[:len(ch)]
	k.apply(ch, errs)
	for _, err := range errs {
		// EBADF: the caller closed fd first, and close(2) already removed its knotes,
		// whatever duplicates keep the file open. ENOENT: a delivered EV_ONESHOT knote
		// (NetBSD), or the number now names a file this kqueue never watched.
		if err != nil && err != unix.EBADF && err != unix.ENOENT {
			// The fd is forgotten all the same, so that it can be added again; its
			// knotes may live on, so the next Add deletes them first, and their results
			// meanwhile carry a generation no registration has.
			k.regs.markDirty(fd)
			return os.NewSyscallError("kevent", err)
		}
	}
	return nil
}

func (k *kqueueBackend) wait(events []Event, timeout time.Duration) (int, error) {
	if len(k.buf) < kqBufLen(len(events)) {
		k.buf = make([]rawKevent, kqBufLen(len(events)))
	}
	k.regs.begin()
	n := 0
	if k.regs.queued() {
		k.mu.Lock()
		n = k.regs.serve(events, fdOpen)
		k.mu.Unlock()
		if n == len(events) {
			return n, nil
		}
		if n > 0 {
			timeout = 0
		}
	}
	if k.regs.hasStuck() {
		k.mu.Lock()
		n = k.regs.serveStuck(events, n)
		k.mu.Unlock()
		if n > 0 {
			timeout = 0
		}
	}
	got, err := k.kernel.Kevent(k.kq, nil, k.buf[:kqBufLen(len(events)-n)], k.timespec(timeout))
	if err != nil {
		switch {
		case n > 0:
			return n, nil
		case err == unix.EINTR || err == unix.ETIMEDOUT:
			// macOS can return ETIMEDOUT from a kevent that merely timed out
			// (golang/go#59679); like EINTR, Poller.Wait waits again for what remains.
			return 0, unix.EINTR
		}
		return 0, os.NewSyscallError("kevent", err)
	}
	locked := false
	for i := range k.buf[:got] {
		ev := &k.buf[i]
		if k.drained(ev) {
			continue
		}
		if !locked {
			k.mu.Lock()
			locked = true
		}
		kev := k.keventOf(ev)
		// Only a result tagged with the fd's current registration counts: a Delete and
		// Add between the kernel's answer and this loop must not be credited with it.
		if reg := k.regs.lookup(kev.fd); reg != nil && k.tags.tagged(ev, reg.gen) {
			n = k.regs.collect(events, n, kev)
		}
	}
	if locked {
		k.mu.Unlock()
	}
	return n, nil
}

func (k *kqueueBackend) wake() error {
	if k.wakeW >= 0 {
		return writeWake(k.wakeW, k.wakeBuf[:])
	}
	if err := k.control(k.wakeNote[:]); err != nil {
		return os.NewSyscallError("kevent", err)
	}
	return nil
}

func (k *kqueueBackend) close() error {
	var err1 error
	if k.wakeR >= 0 {
		err1 = closeFds(k.wakeR, k.wakeW)
	}
	err2 := k.kernel.Close(k.kq)
	if err1 != nil {
		return err1
	}
	if err2 != nil {
		return os.NewSyscallError("close", err2)
	}
	return nil
}

// pollFd is the kqueue descriptor, for Config.Park: a kqueue is readable while events
// are pending on it (kqueue(2): EVFILT_READ on a kqueue descriptor, data is the count).
// The model's descriptor on Linux is readable the same way.
func (k *kqueueBackend) pollFd() int { return k.kq }

// drained reports whether ev is the wake, and if it came through the pipe, empties it.
func (k *kqueueBackend) drained(ev *rawKevent) bool {
	if k.wakeR < 0 {
		return k.sys.HasUser && int(ev.Filter) == int(k.sys.FiltUser)
	}
	if int(ev.Filter) != int(k.sys.FiltRead) || int(ev.Ident) != k.wakeR {
		return false
	}
	drainPipe(k.wakeR, k.drainBuf[:])
	return true
}

// kqFilterOf pairs an interest bit with its filter.
type kqFilterOf struct {
	bit    Flags
	filter int
}

// support says what the backend honours: Priority where the kernel has EVFILT_EXCEPT.
func (k *kqueueBackend) support() support {
	sup := support{interests: Readable | Writable, modes: EdgeTriggered | OneShot}
	if k.sys.HasExcept && !k.sys.ExceptReadsToo {
		sup.interests |= Priority
	}
	return sup
}

// mode returns the kevent flags for the mode bits of flags.
func (k *kqueueBackend) mode(flags Flags) int {
	var m int
	if flags&EdgeTriggered != 0 {
		m |= evClear
	}
	if flags&OneShot != 0 {
		m |= k.oneShot
	}
	return m
}

// change returns a change for fd's filter; an EV_ADD carries the generation of the
// registration it makes in Udata.
func (k *kqueueBackend) change(fd, filter, flags int, gen uint32) rawKevent {
	var ev rawKevent
	setKevent(&ev, fd, filter, flags)
	if flags&evAdd != 0 {
		k.tags.tag(&ev, gen)
		if k.sys.HasExcept && filter == int(k.sys.FiltExcept) {
			// Out-of-band data only: without NOTE_OOB, macOS's EVFILT_EXCEPT fires for
			// nothing a socket raises, and OpenBSD's refuses the knote.
			ev.Fflags = k.sys.NoteOOB
		}
	}
	return ev
}

// control makes changes without collecting events, retrying EINTR: every change is
// applied before kevent could sleep, and applying one twice is harmless.
func (k *kqueueBackend) control(changes []rawKevent) error {
	for {
		_, err := k.kernel.Kevent(k.kq, changes, nil, nil)
		if err != unix.EINTR {
			return err
		}
	}
}

// apply makes changes and sets errs[i] to the errno of changes[i], or nil.
func (k *kqueueBackend) apply(changes []rawKevent, errs []error) {
	if k.sys.Receipt {
		k.applyReceipt(changes, errs)
		return
	}
	// With no eventlist, kevent stops at the first failing change and returns its errno
	// without saying which it was; only then are the changes made again one by one, to
	// learn each outcome (an EV_ADD made twice is one; callers accept ENOENT for a
	// repeated EV_DELETE). Never set EV_RECEIPT here: NetBSD 9 ignores it, and a kevent
	// with an eventlist would then consume real events into the receipt buffer.
	err := k.control(changes)
	if err == nil || len(changes) == 1 {
		for i := range errs {
			errs[i] = err
		}
		return
	}
	for i := range changes {
		errs[i] = k.control(changes[i : i+1])
	}
}

// applyReceipt makes changes in one kevent call. EV_RECEIPT makes the kernel answer every
// change with an EV_ERROR entry (data 0 for success) and return without scanning for
// events, so none is consumed here; without it, the first failure would stop the list.
func (k *kqueueBackend) applyReceipt(changes []rawKevent, errs []error) {
	for i := range changes {
		changes[i].Flags |= evReceipt
	}
	rcpt := k.receipts[:len(changes)]
	var n int
	var err error
	for {
		// Retrying is harmless: an EV_ADD applied twice is one, and callers accept
		// ENOENT for an EV_DELETE.
		n, err = k.kernel.Kevent(k.kq, changes, rcpt, &k.noWait)
		if err != unix.EINTR {
			break
		}
	}
	for i := range errs {
		switch {
		case err != nil:
			errs[i] = err
		case i >= n || rcpt[i].Flags&evError == 0 ||
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

// keventOf copies what readiness depends on out of a returned kevent.
func (k *kqueueBackend) keventOf(ev *rawKevent) kqKevent {
	kev := kqKevent{
		fd:     int(ev.Ident),
		eof:    ev.Flags&evEOF != 0,
		failed: ev.Flags&evError != 0,
		fflags: ev.Fflags,
		data:   int64(ev.Data),
	}
	switch int(ev.Filter) {
	case int(k.sys.FiltRead):
		kev.filter = kqRead
	case int(k.sys.FiltWrite):
		kev.filter = kqWrite
	default:
		if k.sys.HasExcept && int(ev.Filter) == int(k.sys.FiltExcept) {
			kev.filter = kqExcept
		}
	}
	return kev
}
