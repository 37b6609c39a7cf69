//go:build aix || darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd || solaris

package poller

import (
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

var _ backend = (*pollBackend)(nil)

// pollEntry is one registration, at the same position as its pollfd.
type pollEntry struct {
	fd    int
	flags Flags
	armed bool   // false once a one-shot fd was reported, until modify
	seq   uint64 // the change counter when this entry was last added or modified
}

type pollBackend struct {
	mu           *sync.Mutex
	wakeR, wakeW int
	// pfds is the array poll(2) takes, patched in place by every change; pfds[0] is the wake
	// pipe. A disarmed entry has Fd -1, which poll skips (events 0 would still report
	// POLLHUP and POLLERR). ents is parallel to pfds; index maps an fd to its position,
	// with 0 for none.
	pfds   []unix.PollFd
	ents   []pollEntry
	index  []int32
	kicked bool // the blocked wait was sent a wakeup for a change

	// seq counts the changes to pfds; waiting is set while a wait may block in poll(2).
	// Both are atomic so that a wait whose table is current takes no lock before the
	// kernel call: a change stores seq, then loads waiting; a wait stores waiting, then
	// loads seq; so either the wait sees the change, or the change sees the wait and
	// kicks it (sync/atomic operations are sequentially consistent).
	seq     atomic.Uint64
	waiting atomic.Bool

	// Only wait touches these: the copy of pfds the kernel writes revents into, taken
	// only when seq moved since workSeq, and where the next scan starts so that a short
	// events slice starves no fd.
	work    []unix.PollFd
	workSeq uint64
	next    int

	wakeBuf  [1]byte
	drainBuf [64]byte
}

func openPoll(mu *sync.Mutex) (*pollBackend, error) {
	r, w, err := newWakePipe()
	if err != nil {
		return nil, err
	}
	b := &pollBackend{mu: mu, wakeR: r, wakeW: w}
	b.pfds = []unix.PollFd{{Fd: int32(r), Events: unix.POLLIN}}
	b.ents = []pollEntry{{fd: r}}
	b.work = append(b.work, b.pfds...)
	return b, nil
}

func (b *pollBackend) add(fd int, flags Flags) error {
	if fd < len(b.index) && b.index[fd] != 0 {
		return ErrExists
	}
	if err := checkFd("poll", fd); err != nil {
		return err
	}
	if fd == b.wakeR || fd == b.wakeW {
		return os.NewSyscallError("poll", unix.EINVAL)
	}
	if fd >= len(b.index) {
		// fd is open, so it is below RLIMIT_NOFILE: the table stays bounded.
		b.index = append(b.index, make([]int32, fd+1-len(b.index)+len(b.index)/2)...)
	}
	seq := b.seq.Add(1)
	b.index[fd] = int32(len(b.pfds))
	b.pfds = append(b.pfds, unix.PollFd{Fd: int32(fd), Events: pollEvents(flags)})
	b.ents = append(b.ents, pollEntry{fd: fd, flags: flags, armed: true, seq: seq})
	return b.kick()
}

func (b *pollBackend) modify(fd int, flags Flags) error {
	if fd >= len(b.index) || b.index[fd] == 0 {
		return ErrNotRegistered
	}
	if err := checkFd("poll", fd); err != nil {
		return err
	}
	i := b.index[fd]
	seq := b.seq.Add(1)
	b.pfds[i] = unix.PollFd{Fd: int32(fd), Events: pollEvents(flags)}
	b.ents[i] = pollEntry{fd: fd, flags: flags, armed: true, seq: seq}
	return b.kick()
}

func (b *pollBackend) delete(fd int) error {
	if fd >= len(b.index) || b.index[fd] == 0 {
		return ErrNotRegistered
	}
	b.seq.Add(1)
	i, last := b.index[fd], int32(len(b.pfds)-1)
	b.pfds[i], b.ents[i] = b.pfds[last], b.ents[last]
	b.index[b.ents[i].fd] = i
	b.pfds, b.ents = b.pfds[:last], b.ents[:last]
	b.index[fd] = 0
	// Kick a blocked poll, so it stops watching an fd the caller may now close.
	return b.kick()
}

func (b *pollBackend) wait(events []Event, timeout time.Duration) (int, error) {
	if timeout != 0 {
		b.waiting.Store(true)
	}
	if b.seq.Load() != b.workSeq {
		b.mu.Lock()
		b.work = append(b.work[:0], b.pfds...)
		b.workSeq = b.seq.Load()
		b.mu.Unlock()
	}

	work := b.work
	if timeout == 0 {
		// A poll that cannot block needs no wakeup, and Wait serves a pending Wake by
		// its flag; a byte left in the pipe is drained by the next blocking wait.
		work = work[1:]
	}
	nready, err := sysPoll(work, timeout)

	b.mu.Lock()
	defer b.mu.Unlock()
	if timeout != 0 {
		b.waiting.Store(false)
		b.kicked = false
	}
	if err != nil {
		if err == unix.EINTR {
			return 0, err
		}
		return 0, os.NewSyscallError("poll", err)
	}
	snap := b.workSeq
	if timeout != 0 && b.work[0].Revents != 0 {
		drainPipe(b.wakeR, b.drainBuf[:])
		nready--
	}
	// poll counted the entries with revents: the scan stops when it has seen them all.
	n := len(b.work) - 1
	k, last := 0, 0
	for j := 0; j < n && k < len(events) && nready > 0; j++ {
		i := 1 + (b.next+j)%n
		pfd := &b.work[i]
		if pfd.Revents == 0 {
			continue
		}
		nready--
		// Find the entry by fd, not position: a delete during the wait moves entries.
		// Skip entries changed while poll ran: their result may be about the previous
		// registration.
		fd := int(pfd.Fd)
		if fd >= len(b.index) || b.index[fd] == 0 {
			continue
		}
		at := b.index[fd]
		ent := &b.ents[at]
		if !ent.armed || ent.seq > snap {
			continue
		}
		events[k] = Event{Fd: fd, Flags: readiness(pollReadiness(pfd.Revents), ent.flags)}
		k++
		last = i - 1
		if ent.flags&OneShot != 0 {
			ent.armed = false
			b.pfds[at].Fd = -1
			pfd.Fd = -1 // the copy stays current, unless a change already made it stale
		}
	}
	b.next = rotate(last, n, k == len(events))
	return k, nil
}

func (b *pollBackend) wake() error {
	return writeWake(b.wakeW, b.wakeBuf[:])
}

func (b *pollBackend) close() error {
	return closeFds(b.wakeR, b.wakeW)
}

// kick wakes a wait blocked in poll(2) so that it polls the changed array; one wakeup
// per wait is enough.
func (b *pollBackend) kick() error {
	if b.kicked || !b.waiting.Load() {
		return nil
	}
	b.kicked = true
	return writeWake(b.wakeW, b.wakeBuf[:])
}

func pollEvents(flags Flags) pollBits {
	var ev pollBits
	if flags&Readable != 0 {
		// POLLRDHUP only with read interest, as with epoll: see epollEvents.
		ev |= unix.POLLIN | pollRdHup
	}
	if flags&Writable != 0 {
		ev |= unix.POLLOUT
	}
	if flags&Priority != 0 {
		ev |= unix.POLLPRI
	}
	return ev
}

func pollReadiness(rev pollBits) Flags {
	var r Flags
	if rev&unix.POLLIN != 0 {
		r |= Readable
	}
	if rev&unix.POLLOUT != 0 {
		r |= Writable
	}
	// Only when asked for: poll(2) reports the requested events plus POLLHUP, POLLERR
	// and POLLNVAL.
	if rev&unix.POLLPRI != 0 {
		r |= Priority
	}
	if rev&(unix.POLLHUP|pollRdHup) != 0 {
		r |= Hangup
	}
	// POLLNVAL: the caller closed the fd while registered. It stays reported until
	// Delete, and poll goes on serving the other fds.
	if rev&(unix.POLLERR|unix.POLLNVAL) != 0 {
		r |= Errored
	}
	return r
}
