//go:build linux

package poller

import (
	"encoding/binary"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

var (
	_ backend  = (*epollBackend)(nil)
	_ pollable = (*epollBackend)(nil) // Config.Park works on epoll
)

const nativeBackend = BackendEpoll

// nativeInterests: epoll waits for EPOLLPRI like any other event bit.
const nativeInterests = Readable | Writable | Priority

const nativeModes = EdgeTriggered | OneShot

func openNative(mu *sync.Mutex, wakePending *atomic.Bool) (backend, error) {
	return openEpoll(mu, wakePending)
}

// epollReg is one registration. gen is its tag in the epoll data (EpollEvent.Pad), never
// 0 while registered: 0 marks the wake eventfd and free slots.
type epollReg struct {
	gen   int32
	flags Flags
	seen  uint32 // the waitSeq of the last wait that reported it
}

type epollBackend struct {
	mu          *sync.Mutex
	wakePending *atomic.Bool // the Poller's: set while a Wake waits to be served
	epfd        int
	wakeFd      int  // eventfd, registered with tag 0
	pwait2      bool // epoll_pwait2 (Linux 5.11) works: nanosecond timeouts
	lastGen     int32
	regs        []epollReg // indexed by fd; guarded by mu

	// Only wait touches these: the kernel's side of events, a count of waits, and the
	// dead registrations (fd<<32 | tag) the current wait has dropped.
	buf      []unix.EpollEvent
	waitSeq  uint32
	dead     []uint64
	wakeBuf  [8]byte // the native-endian uint64 1 that wake writes
	drainBuf [8]byte
}

func openEpoll(mu *sync.Mutex, wakePending *atomic.Bool) (*epollBackend, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakeFd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakeFd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakeFd, &ev); err != nil {
		unix.Close(wakeFd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	e := &epollBackend{mu: mu, wakePending: wakePending, epfd: epfd, wakeFd: wakeFd, buf: make([]unix.EpollEvent, 128)}
	binary.NativeEndian.PutUint64(e.wakeBuf[:], 1)
	e.pwait2 = probePwait2(epfd)
	return e, nil
}

func (e *epollBackend) add(fd int, flags Flags) error {
	if fd < len(e.regs) && e.regs[fd].gen != 0 {
		return ErrExists
	}
	if fd == e.wakeFd || fd == e.epfd {
		return os.NewSyscallError("epoll_ctl", unix.EINVAL)
	}
	e.lastGen++
	if e.lastGen <= 0 {
		e.lastGen = 1
	}
	ev := unix.EpollEvent{Events: epollEvents(flags), Fd: int32(fd), Pad: e.lastGen}
	errno := epollCtl(e.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	if errno == unix.EEXIST {
		// The kernel still holds this (file, fd) pair: the caller closed fd without Delete
		// and dup2'd the same file back onto the number. Take the entry over.
		errno = epollCtl(e.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
	}
	if errno != 0 {
		return os.NewSyscallError("epoll_ctl", errno)
	}
	if fd >= len(e.regs) {
		// Grown only after the kernel accepted fd, so fd is a real, rlimit-bounded number.
		e.regs = append(e.regs, make([]epollReg, fd+1-len(e.regs)+len(e.regs)/2)...)
	}
	e.regs[fd] = epollReg{gen: e.lastGen, flags: flags}
	return nil
}

func (e *epollBackend) modify(fd int, flags Flags) error {
	if fd >= len(e.regs) || e.regs[fd].gen == 0 {
		return ErrNotRegistered
	}
	ev := unix.EpollEvent{Events: epollEvents(flags), Fd: int32(fd), Pad: e.regs[fd].gen}
	if errno := epollCtl(e.epfd, unix.EPOLL_CTL_MOD, fd, &ev); errno != 0 {
		return os.NewSyscallError("epoll_ctl", errno)
	}
	e.regs[fd].flags = flags
	return nil
}

func (e *epollBackend) delete(fd int) error {
	if fd >= len(e.regs) || e.regs[fd].gen == 0 {
		return ErrNotRegistered
	}
	e.regs[fd] = epollReg{}
	// Kernels before 2.6.9 want a non-nil event even for DEL.
	var ev unix.EpollEvent
	errno := epollCtl(e.epfd, unix.EPOLL_CTL_DEL, fd, &ev)
	// EBADF: the caller closed fd first. ENOENT: the number now names another file. The
	// registration is gone from the caller's view either way; if a dup keeps the old file
	// alive, the kernel goes on reporting it, and wait drops those events by their tag
	// (golang/go#59545).
	if errno != 0 && errno != unix.EBADF && errno != unix.ENOENT {
		return os.NewSyscallError("epoll_ctl", errno)
	}
	return nil
}

func (e *epollBackend) wait(events []Event, timeout time.Duration) (int, error) {
	if len(e.buf) < len(events) {
		e.buf = make([]unix.EpollEvent, len(events))
	}
	e.waitSeq++
	e.dead = e.dead[:0]
	k := 0
	// Events wait drops (the wake eventfd, a dead registration's) take the caller's room
	// in the kernel's answer: ask again, without blocking, for the room they took. epoll
	// puts a reported level-triggered entry back at the end of its ready list, so once an
	// entry comes back a second time the list has gone round: stop there.
	for {
		room := e.buf[:len(events)-k]
		n, err := epollWait(e.epfd, room, timeout, e.pwait2)
		if err != nil {
			if k > 0 {
				return k, nil
			}
			if err == unix.EINTR {
				return 0, err
			}
			return 0, os.NewSyscallError("epoll_wait", err)
		}
		var dropped int
		var again bool
		k, dropped, again = e.collect(events, k, room[:n])
		if again || dropped == 0 || n < len(room) || k == len(events) {
			return k, nil
		}
		timeout = 0
	}
}

func (e *epollBackend) wake() error {
	_, err := unix.Write(e.wakeFd, e.wakeBuf[:])
	if err != nil && err != unix.EAGAIN { // EAGAIN: the counter is full, so already readable
		return os.NewSyscallError("write", err)
	}
	return nil
}

func (e *epollBackend) close() error {
	return closeFds(e.wakeFd, e.epfd)
}

// pollFd is the epoll fd: it is readable while epoll_wait would report something, the
// wake eventfd included, so a parked Wait sees Wake and Close too.
func (e *epollBackend) pollFd() int {
	return e.epfd
}

// collect translates the kernel's events into events[k:]. It returns the new count, how
// many events it dropped, and whether any entry came back that this wait has seen.
func (e *epollBackend) collect(events []Event, k int, got []unix.EpollEvent) (int, int, bool) {
	dropped, again := 0, false
	locked := false
	for i := range got {
		ev := &got[i]
		if ev.Pad == 0 {
			unix.Read(e.wakeFd, e.drainBuf[:])
			// A pending Wake makes this Wait return whatever it holds, as a Wake asks;
			// only a stale wakeup (its Wake was served by an earlier return) took room
			// that is worth asking the kernel for again.
			if !e.wakePending.Load() {
				dropped++
			}
			continue
		}
		if !locked {
			e.mu.Lock()
			locked = true
		}
		fd := int(ev.Fd)
		if fd >= len(e.regs) || e.regs[fd].gen != ev.Pad {
			// A dead registration's event (golang/go#59545).
			dropped++
			key := uint64(fd)<<32 | uint64(uint32(ev.Pad))
			for _, d := range e.dead {
				again = again || d == key
			}
			e.dead = append(e.dead, key)
			continue
		}
		reg := &e.regs[fd]
		if reg.seen == e.waitSeq {
			again = true
			continue
		}
		reg.seen = e.waitSeq
		events[k] = Event{Fd: fd, Flags: epollReadiness(ev.Events, reg.flags)}
		k++
	}
	if locked {
		e.mu.Unlock()
	}
	return k, dropped, again
}

func epollEvents(flags Flags) uint32 {
	var ev uint32
	if flags&Readable != 0 {
		// RDHUP only with read interest: a half-close is news to a reader, and a writer
		// waiting for room must not be woken by it on every level-triggered Wait.
		ev |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if flags&Writable != 0 {
		ev |= unix.EPOLLOUT
	}
	if flags&Priority != 0 {
		ev |= unix.EPOLLPRI
	}
	if flags&EdgeTriggered != 0 {
		ev |= unix.EPOLLET
	}
	if flags&OneShot != 0 {
		ev |= unix.EPOLLONESHOT
	}
	return ev
}

func epollReadiness(ev uint32, interest Flags) Flags {
	var r Flags
	if ev&unix.EPOLLIN != 0 {
		r |= Readable
	}
	if ev&unix.EPOLLOUT != 0 {
		r |= Writable
	}
	// Only with Priority interest: epoll_wait masks the file's events with the registered
	// ones (ep_item_poll), and EPOLLPRI is not among those it always reports.
	if ev&unix.EPOLLPRI != 0 {
		r |= Priority
	}
	// EPOLLHUP comes without EPOLLIN when a drained pipe's writer is gone; readiness then
	// adds Readable so the caller reaches the read that returns 0.
	if ev&(unix.EPOLLHUP|unix.EPOLLRDHUP) != 0 {
		r |= Hangup
	}
	if ev&unix.EPOLLERR != 0 {
		r |= Errored
	}
	return readiness(r, interest)
}
