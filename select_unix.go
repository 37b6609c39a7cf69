//go:build aix || darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd || solaris

package poller

import (
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

var _ backend = (*selectBackend)(nil)

// selectReg is one registration; flags == 0 marks a free slot.
type selectReg struct {
	flags Flags
	armed bool   // false once a one-shot fd was reported, until modify
	bad   bool   // the caller closed the fd while registered: reported Errored
	seq   uint64 // the change counter when this entry was last added or modified
}

type selectBackend struct {
	mu           *sync.Mutex
	wakeR, wakeW int
	regs         [FdSetSize]selectReg
	rset, wset   unix.FdSet // the armed interest, ready to copy into a wait
	eset         unix.FdSet // the armed Priority interest: select's except set
	maxFd        int        // the highest fd in the sets, the wake pipe included
	nwrite       int        // the fds in wset
	nexcept      int        // the fds in eset
	nbad         int
	seq          uint64
	waiting      bool // a wait is in select(2) on a copy of the sets
	kicked       bool // that wait was sent a wakeup for a change
	next         int  // where the next scan starts, so a short events slice starves no fd

	wakeBuf  [1]byte
	drainBuf [64]byte
}

func openSelect(mu *sync.Mutex) (*selectBackend, error) {
	r, w, err := newWakePipe()
	if err != nil {
		return nil, err
	}
	if r >= FdSetSize || w >= FdSetSize {
		unix.Close(r)
		unix.Close(w)
		return nil, ErrFdTooLarge
	}
	return &selectBackend{mu: mu, wakeR: r, wakeW: w, maxFd: r}, nil
}

func (b *selectBackend) add(fd int, flags Flags) error {
	if fd >= FdSetSize {
		return ErrFdTooLarge
	}
	if b.regs[fd].flags != 0 {
		return ErrExists
	}
	if err := checkFd("select", fd); err != nil {
		return err
	}
	if fd == b.wakeR || fd == b.wakeW {
		return os.NewSyscallError("select", unix.EINVAL)
	}
	b.seq++
	b.regs[fd] = selectReg{flags: flags, armed: true, seq: b.seq}
	b.arm(fd, flags)
	if fd > b.maxFd {
		b.maxFd = fd
	}
	return b.kick()
}

func (b *selectBackend) modify(fd int, flags Flags) error {
	if fd >= FdSetSize || b.regs[fd].flags == 0 {
		return ErrNotRegistered
	}
	if err := checkFd("select", fd); err != nil {
		return err
	}
	reg := &b.regs[fd]
	if reg.bad {
		// The number was closed and has been reopened since: watch the new file.
		reg.bad = false
		b.nbad--
	}
	b.seq++
	*reg = selectReg{flags: flags, armed: true, seq: b.seq}
	b.disarm(fd)
	b.arm(fd, flags)
	return b.kick()
}

func (b *selectBackend) delete(fd int) error {
	if fd >= FdSetSize || b.regs[fd].flags == 0 {
		return ErrNotRegistered
	}
	if b.regs[fd].bad {
		b.nbad--
	}
	b.regs[fd] = selectReg{}
	b.disarm(fd)
	for b.maxFd > b.wakeR && b.regs[b.maxFd].flags == 0 {
		b.maxFd--
	}
	// Kick a blocked select, so it stops watching an fd the caller may now close.
	return b.kick()
}

func (b *selectBackend) wait(events []Event, timeout time.Duration) (int, error) {
	b.mu.Lock()
	r, w, e := b.rset, b.wset, b.eset
	nfd := b.maxFd + 1
	if b.nbad > 0 {
		timeout = 0 // the bad fds are ready now
	}
	if timeout != 0 {
		r.Set(b.wakeR) // as in poll: a select that cannot block needs no wakeup
	}
	// An empty write or except set still costs the kernel a copy in and out of nfd bits.
	var wp, ep *unix.FdSet
	if b.nwrite > 0 {
		wp = &w
	}
	if b.nexcept > 0 {
		ep = &e
	}
	snap := b.seq
	b.waiting, b.kicked = true, false
	b.mu.Unlock()

	_, err := sysSelect(nfd, &r, wp, ep, timeout)

	b.mu.Lock()
	defer b.mu.Unlock()
	b.waiting = false
	if err == unix.EBADF {
		// select fails as a whole for one closed fd: find it, report it Errored from now
		// on, and select again without it so that the others are served in this Wait too.
		b.findBad()
		r, w, e = b.rset, b.wset, b.eset
		r.Set(b.wakeR)
		_, err = sysSelect(nfd, &r, &w, &e, 0)
	}
	switch {
	case err == unix.EINTR && b.nbad == 0:
		return 0, err
	case err == unix.EINTR || err == unix.EBADF:
		// The closed fds are ready whatever select says: report them now. (EBADF
		// again: a change raced the second select; the next Wait finds it.)
		r.Zero()
		w.Zero()
		e.Zero()
	case err != nil:
		return 0, os.NewSyscallError("select", err)
	}
	if r.IsSet(b.wakeR) {
		drainPipe(b.wakeR, b.drainBuf[:])
	}
	k, last := 0, 0
	if b.next >= nfd { // deletes lowered the highest fd since the last scan
		b.next = 0
	}
	for i := 0; i < nfd && k < len(events); i++ {
		fd := b.next + i
		if fd >= nfd {
			fd -= nfd
		}
		reg := &b.regs[fd]
		// Skip free slots and entries changed while select ran: their result may be
		// about the previous registration.
		if !reg.armed || reg.seq > snap {
			continue
		}
		var ready Flags
		if reg.bad {
			ready = Errored
		} else {
			if r.IsSet(fd) {
				ready |= Readable
			}
			if w.IsSet(fd) {
				ready |= Writable
			}
			// The except set is POLLPRI alone (Linux fs/select.c: POLLEX_SET): a hangup
			// or an error sets the read and write sets only, so an fd registered for
			// Priority alone never sees them here.
			if e.IsSet(fd) {
				ready |= Priority
			}
		}
		if ready == 0 {
			continue
		}
		events[k] = Event{Fd: fd, Flags: readiness(ready, reg.flags)}
		k++
		last = fd
		if reg.flags&OneShot != 0 {
			if reg.bad {
				reg.bad = false
				b.nbad--
			}
			reg.armed = false
			b.disarm(fd)
		}
	}
	b.next = rotate(last, nfd, k == len(events))
	return k, nil
}

func (b *selectBackend) wake() error {
	return writeWake(b.wakeW, b.wakeBuf[:])
}

func (b *selectBackend) close() error {
	return closeFds(b.wakeR, b.wakeW)
}

func (b *selectBackend) arm(fd int, flags Flags) {
	if flags&Readable != 0 {
		b.rset.Set(fd)
	}
	if flags&Writable != 0 {
		if !b.wset.IsSet(fd) {
			b.nwrite++
		}
		b.wset.Set(fd)
	}
	if flags&Priority != 0 {
		if !b.eset.IsSet(fd) {
			b.nexcept++
		}
		b.eset.Set(fd)
	}
}

func (b *selectBackend) disarm(fd int) {
	b.rset.Clear(fd)
	if b.wset.IsSet(fd) {
		b.nwrite--
		b.wset.Clear(fd)
	}
	if b.eset.IsSet(fd) {
		b.nexcept--
		b.eset.Clear(fd)
	}
}

// kick wakes a wait blocked in select(2) so that it rebuilds its sets; one wakeup per
// wait is enough.
func (b *selectBackend) kick() error {
	if !b.waiting || b.kicked {
		return nil
	}
	b.kicked = true
	return writeWake(b.wakeW, b.wakeBuf[:])
}

// findBad marks every registered fd that is no longer open.
func (b *selectBackend) findBad() {
	for fd := 0; fd <= b.maxFd; fd++ {
		reg := &b.regs[fd]
		if !reg.armed || reg.bad {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == unix.EBADF {
			reg.bad = true
			b.nbad++
			b.disarm(fd)
		}
	}
}
