//go:build aix || darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd || solaris

package poller

import (
	"os"
	"sync"
	"sync/atomic"
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
	// Under mu: the registrations by fd (grown as fds are added, up to FdSetSize), the
	// armed interest, and whether the blocked wait was sent a wakeup for a change.
	regs       []selectReg
	rset, wset unix.FdSet
	eset       unix.FdSet // the armed Priority interest: select's except set
	maxFd      int        // the highest fd in the sets, the wake pipe included
	nwrite     int        // the fds in wset
	nexcept    int        // the fds in eset
	nbad       int
	kicked     bool

	// seq counts the changes to the sets; waiting is set while a wait may block in
	// select(2). As in pollBackend, a wait whose snapshot is current takes no lock before
	// the kernel call: a change stores seq, then loads waiting; a wait stores waiting,
	// then loads seq (sequentially consistent atomics), so the change is either in the
	// snapshot or kicks the wait.
	seq     atomic.Uint64
	waiting atomic.Bool

	// Only wait touches these: the interest as of snapSeq, the sets the kernel
	// overwrites (only the words below nfd are copied), and where the next scan starts
	// so that a short events slice starves no fd.
	snap                selectSnap
	rwork, wwork, ework unix.FdSet
	next                int

	wakeBuf  [1]byte
	drainBuf [64]byte
}

// selectSnap is the interest one wait hands to select(2).
type selectSnap struct {
	r, w, e         unix.FdSet
	nfd             int
	nwrite, nexcept int
	bad             bool // closed fds are registered: they are ready now
	seq             uint64
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
	b := &selectBackend{mu: mu, wakeR: r, wakeW: w, maxFd: r}
	b.regs = make([]selectReg, max(r, w)+1)
	b.snap.nfd = r + 1
	return b, nil
}

func (b *selectBackend) add(fd int, flags Flags) error {
	if fd >= FdSetSize {
		return ErrFdTooLarge
	}
	if fd < len(b.regs) && b.regs[fd].flags != 0 {
		return ErrExists
	}
	if err := checkFd("select", fd); err != nil {
		return err
	}
	if fd == b.wakeR || fd == b.wakeW {
		return os.NewSyscallError("select", unix.EINVAL)
	}
	if fd >= len(b.regs) {
		// fd is open, so it is below RLIMIT_NOFILE: the table stays bounded.
		n := min(fd+1+len(b.regs)/2, FdSetSize)
		b.regs = append(b.regs, make([]selectReg, n-len(b.regs))...)
	}
	b.regs[fd] = selectReg{flags: flags, armed: true, seq: b.seq.Add(1)}
	b.arm(fd, flags)
	if fd > b.maxFd {
		b.maxFd = fd
	}
	return b.kick()
}

func (b *selectBackend) modify(fd int, flags Flags) error {
	if fd >= len(b.regs) || b.regs[fd].flags == 0 {
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
	*reg = selectReg{flags: flags, armed: true, seq: b.seq.Add(1)}
	b.disarm(fd)
	b.arm(fd, flags)
	return b.kick()
}

func (b *selectBackend) delete(fd int) error {
	if fd >= len(b.regs) || b.regs[fd].flags == 0 {
		return ErrNotRegistered
	}
	b.seq.Add(1)
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
	blocking := timeout != 0
	if blocking {
		b.waiting.Store(true)
	}
	if b.seq.Load() != b.snap.seq {
		b.mu.Lock()
		b.takeSnap()
		b.mu.Unlock()
	}
	if b.snap.bad {
		timeout = 0 // the closed fds are ready now
	}
	nfd := b.snap.nfd
	words := (nfd + unix.NFDBITS - 1) / unix.NFDBITS
	r, w, e := &b.rwork, &b.wwork, &b.ework
	copy(r.Bits[:words], b.snap.r.Bits[:words])
	// An empty write or except set still costs the kernel a copy in and out of nfd bits.
	var wp, ep *unix.FdSet
	if b.snap.nwrite > 0 {
		copy(w.Bits[:words], b.snap.w.Bits[:words])
		wp = w
	}
	if b.snap.nexcept > 0 {
		copy(e.Bits[:words], b.snap.e.Bits[:words])
		ep = e
	}
	if timeout != 0 {
		r.Set(b.wakeR) // as in poll: a select that cannot block needs no wakeup
	}

	nbits, err := sysSelect(nfd, r, wp, ep, timeout)

	b.mu.Lock()
	defer b.mu.Unlock()
	if blocking {
		b.waiting.Store(false)
		b.kicked = false
	}
	if wp == nil {
		clear(w.Bits[:words])
	}
	if ep == nil {
		clear(e.Bits[:words])
	}
	if err == unix.EBADF {
		// select fails as a whole for one closed fd: find it, report it Errored from now
		// on, and select again without it so that the others are served in this Wait too.
		b.findBad()
		*r, *w, *e = b.rset, b.wset, b.eset
		r.Set(b.wakeR)
		nbits, err = sysSelect(nfd, r, w, e, 0)
	}
	switch {
	case err == unix.EINTR && b.nbad == 0:
		return 0, err
	case err == unix.EINTR || err == unix.EBADF:
		// The closed fds are ready whatever select says: report them now. (EBADF
		// again: a change raced the second select; the next Wait finds it.)
		clear(r.Bits[:words])
		clear(w.Bits[:words])
		clear(e.Bits[:words])
		nbits = 0
	case err != nil:
		return 0, os.NewSyscallError("select", err)
	}
	if r.IsSet(b.wakeR) {
		drainPipe(b.wakeR, b.drainBuf[:])
		nbits--
	}
	k, last := 0, 0
	if b.next >= nfd { // deletes lowered the highest fd since the last scan
		b.next = 0
	}
	// select counted the bits it set: the scan stops when it has seen them all, unless
	// closed fds, which have no bits, are to be reported.
	for i := 0; i < nfd && k < len(events) && (nbits > 0 || b.nbad > 0); i++ {
		fd := b.next + i
		if fd >= nfd {
			fd -= nfd
		}
		reg := &b.regs[fd]
		// Skip free slots and entries changed while select ran: their result may be
		// about the previous registration.
		if !reg.armed || reg.seq > b.snap.seq {
			continue
		}
		var ready Flags
		if reg.bad {
			ready = Errored
		} else {
			if r.IsSet(fd) {
				ready |= Readable
				nbits--
			}
			if w.IsSet(fd) {
				ready |= Writable
				nbits--
			}
			// The except set is POLLPRI alone (Linux fs/select.c: POLLEX_SET): a hangup
			// or an error sets the read and write sets only, so an fd registered for
			// Priority alone never sees them here.
			if e.IsSet(fd) {
				ready |= Priority
				nbits--
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
			b.seq.Add(1)
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
	if b.kicked || !b.waiting.Load() {
		return nil
	}
	b.kicked = true
	return writeWake(b.wakeW, b.wakeBuf[:])
}

// takeSnap copies the interest for the waits to come. mu is held.
func (b *selectBackend) takeSnap() {
	sn := &b.snap
	sn.nfd = b.maxFd + 1
	words := (sn.nfd + unix.NFDBITS - 1) / unix.NFDBITS
	copy(sn.r.Bits[:words], b.rset.Bits[:words])
	copy(sn.w.Bits[:words], b.wset.Bits[:words])
	copy(sn.e.Bits[:words], b.eset.Bits[:words])
	sn.nwrite, sn.nexcept, sn.bad = b.nwrite, b.nexcept, b.nbad > 0
	sn.seq = b.seq.Load()
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
			b.seq.Add(1)
		}
	}
}
