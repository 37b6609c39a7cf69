//go:build linux

package kqmodel

import (
	"golang.org/x/sys/unix"
)

// kind is the filter a knote runs, whatever number the flavour gives it.
type kind uint8

const (
	kindRead kind = iota + 1
	kindWrite
	kindExcept
	kindUser
)

// key identifies a knote within its queue: (ident, filter), as in every BSD kern_event.c
// (FreeBSD kqueue_register looks a knote up by kev->ident in kq_knlist or kq_knhash and then
// matches kev->filter).
type key struct {
	ident  uint64
	filter int32
}

// result is a filter's verdict: whether the knote is ready, and what a delivered event carries.
type result struct {
	ready  bool
	data   int64
	flags  uint32 // EV_EOF
	fflags uint32
}

// knote is one registered event.
type knote struct {
	key
	kind kind
	// flags holds EV_ONESHOT, EV_CLEAR and EV_DISPATCH as the knote was created: a later
	// EV_ADD of the same (ident, filter) updates fflags, data and udata only (FreeBSD
	// kqueue_register: an existing knote gets kn_sfflags, kn_sdata and udata, or f_touch for
	// EVFILT_USER; its kn_flags are the ones copied from the kevent that created it).
	flags    uint32
	evflags  uint32 // the flags delivered events carry (before EV_EOF)
	sfflags  uint32
	sdata    int64
	udata    *byte
	disabled bool

	queued     bool
	prev, next *knote // the queue's active list (kq_head)

	w         *watch // the fd's watch, for fd filters
	triggered bool   // EVFILT_USER: NOTE_TRIGGER seen and not yet cleared
	snap      result // the verdict at activation, delivered as-is for EV_ONESHOT where the kernel does
}

// watch is the model's hold on one watched descriptor number: what file it named when the
// first knote was attached (so a close, or a reuse of the number, is noticed), and the
// edge-triggered epoll registrations that tell the model when the fd's state changed.
type watch struct {
	fd       int
	dev, ino uint64
	mode     uint32 // st_mode & S_IFMT
	family   int    // sockets: SO_DOMAIN
	sotype   int    // sockets: SO_TYPE
	gen      uint32 // carried in the epoll event, so an event for an earlier watch of the number is ignored
	rd, wr   *knote
	ex       *knote
	inRd     bool  // registered in queue.rdEp
	inWr     bool  // registered in queue.wrEp
	polled   bool  // epoll refuses it (regular file): evaluated on every scan instead
	lastSize int64 // polled: file size at the last scan, a change of which is an activation
}

// queue is one kqueue.
type queue struct {
	userFd int // the descriptor Kqueue returned: a duplicate of ep
	// ep is an epoll instance holding rdEp, wrEp and evfd, all level-triggered, so it (and
	// userFd) is readable exactly when a state change is pending or a knote is active.
	ep int
	// rdEp and wrEp hold the watched fds, edge-triggered, for read-side and write-side wakeups
	// respectively. Two instances because an epoll event carries the fd's current state, not
	// the cause of the wakeup: in one instance a write-space wakeup on a socket with unread data
	// would look like new data and re-activate an EV_CLEAR read knote, which no BSD does (the
	// socket filters are woken per buffer: so_rcv for EVFILT_READ, so_snd for EVFILT_WRITE).
	// Linux's keyed wakeups (ep_poll_callback skips an item whose events do not match the key)
	// keep the two apart.
	rdEp, wrEp int
	evfd       int  // readable while active knotes exist (or the queue is closing)
	signalled  bool // evfd holds a count

	knotes  map[key]*knote
	free    []*knote // deleted knotes, for newKnote
	evbuf   [8]byte  // sync's eventfd counter: a local one escapes under -race
	watches map[int]*watch
	npolled int

	head, tail *knote
	nactive    int

	gen     uint32
	closed  bool
	waiters int // callers sleeping in epoll_wait(ep): ep and evfd are closed when the last leaves
}

func newQueue() (_ *queue, err error) {
	// q is not the named result: the returns below set that to nil before the deferred
	// cleanup runs, which still needs q.
	q := &queue{ep: -1, rdEp: -1, wrEp: -1, evfd: -1, userFd: -1,
		knotes: make(map[key]*knote), watches: make(map[int]*watch)}
	defer func() {
		if err != nil {
			if q.userFd >= 0 {
				unix.Close(q.userFd)
			}
			q.release()
		}
	}()
	if q.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, err
	}
	if q.rdEp, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, err
	}
	if q.wrEp, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, err
	}
	if q.evfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, err
	}
	for _, fd := range []int{q.rdEp, q.wrEp, q.evfd} {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err = unix.EpollCtl(q.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return nil, err
		}
	}
	if q.userFd, err = unix.FcntlInt(uintptr(q.ep), unix.F_DUPFD_CLOEXEC, 0); err != nil {
		return nil, err
	}
	return q, nil
}

// release closes the model's own descriptors (not userFd).
func (q *queue) release() {
	for _, fd := range []*int{&q.ep, &q.rdEp, &q.wrEp, &q.evfd} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
}

func (q *queue) enqueue(kn *knote) {
	if kn.queued {
		return
	}
	kn.queued = true
	kn.prev, kn.next = q.tail, nil
	if q.tail != nil {
		q.tail.next = kn
	} else {
		q.head = kn
	}
	q.tail = kn
	q.nactive++
}

func (q *queue) dequeue(kn *knote) {
	if !kn.queued {
		return
	}
	kn.queued = false
	if kn.prev != nil {
		kn.prev.next = kn.next
	} else {
		q.head = kn.next
	}
	if kn.next != nil {
		kn.next.prev = kn.prev
	} else {
		q.tail = kn.prev
	}
	kn.prev, kn.next = nil, nil
	q.nactive--
}

// sync makes evfd readable exactly while active knotes exist, so the queue descriptor polls
// readable when a kevent call would have something to return, and a caller sleeping in
// Kevent wakes when another goroutine's change or trigger activates a knote.
func (q *queue) sync() {
	if q.closed {
		return
	}
	want := q.nactive > 0
	switch {
	case want && !q.signalled:
		q.evbuf = [8]byte{1}
		unix.Write(q.evfd, q.evbuf[:])
		q.signalled = true
	case !want && q.signalled:
		unix.Read(q.evfd, q.evbuf[:])
		q.signalled = false
	}
}

// watchFor returns the watch of fd, dropping a stale one (the number now names another file).
func (q *queue) watchFor(fd int, st *unix.Stat_t) *watch {
	w := q.watches[fd]
	if w != nil && !w.names(st) {
		q.dropWatch(w)
		w = nil
	}
	if w != nil {
		return w
	}
	q.gen++
	w = &watch{fd: fd, dev: uint64(st.Dev), ino: uint64(st.Ino), mode: st.Mode & unix.S_IFMT, gen: q.gen}
	if w.mode == unix.S_IFSOCK {
		w.family, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
		w.sotype, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	}
	if w.mode == unix.S_IFREG || w.mode == unix.S_IFDIR {
		// epoll_ctl refuses them with EPERM; the vnode filters answer from the file's size.
		w.polled = true
		w.lastSize = st.Size
	}
	q.watches[fd] = w
	if w.polled {
		q.npolled++
	}
	return w
}

// updateEpoll makes the watch's epoll registrations match its knotes, and forgets a watch
// that has none left.
func (q *queue) updateEpoll(w *watch) error {
	if w.rd == nil && w.wr == nil && w.ex == nil {
		q.forget(w)
		return nil
	}
	if w.polled {
		return nil
	}
	wantRd, wantWr := w.rd != nil || w.ex != nil, w.wr != nil
	if wantRd != w.inRd {
		if err := q.ctl(q.rdEp, w, wantRd, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLPRI); err != nil {
			return err
		}
		w.inRd = wantRd
	}
	if wantWr != w.inWr {
		if err := q.ctl(q.wrEp, w, wantWr, unix.EPOLLOUT); err != nil {
			return err
		}
		w.inWr = wantWr
	}
	return nil
}

func (q *queue) ctl(ep int, w *watch, add bool, events uint32) error {
	if !add {
		unix.EpollCtl(ep, unix.EPOLL_CTL_DEL, w.fd, nil)
		return nil
	}
	ev := unix.EpollEvent{Events: events | unix.EPOLLET, Fd: int32(w.fd), Pad: int32(w.gen)}
	err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, w.fd, &ev)
	if err == unix.EEXIST {
		// An earlier watch of this number (closed while a duplicate kept the file open, or
		// reused for the same file): take over its registration with our tag.
		err = unix.EpollCtl(ep, unix.EPOLL_CTL_MOD, w.fd, &ev)
	}
	return err
}

// forget removes a watch whose knotes are all gone.
func (q *queue) forget(w *watch) {
	if q.watches[w.fd] == w {
		delete(q.watches, w.fd)
		if w.polled {
			q.npolled--
		}
	}
	if w.inRd {
		unix.EpollCtl(q.rdEp, unix.EPOLL_CTL_DEL, w.fd, nil)
		w.inRd = false
	}
	if w.inWr {
		unix.EpollCtl(q.wrEp, unix.EPOLL_CTL_DEL, w.fd, nil)
		w.inWr = false
	}
}

// dropWatch removes every knote of a descriptor that was closed: kqueue(2) "Calling close()
// on a file descriptor will remove any kevents that reference the descriptor" (FreeBSD
// knote_fdclose, called from closefp; XNU knote_fdclose; OpenBSD and NetBSD knote_fdclose).
func (q *queue) dropWatch(w *watch) {
	for _, kn := range []*knote{w.rd, w.wr, w.ex} {
		if kn != nil {
			q.dequeue(kn)
			delete(q.knotes, kn.key)
		}
	}
	w.rd, w.wr, w.ex = nil, nil, nil
	q.forget(w)
}

// names reports whether st describes the file the watch was made for (st_dev and st_ino
// differ in width between architectures, hence the conversions).
func (w *watch) names(st *unix.Stat_t) bool {
	return uint64(st.Dev) == w.dev && uint64(st.Ino) == w.ino
}

// alive reports whether the watch's descriptor number still names the file it named when
// the watch was made. A number closed and reused for the same open file (dup2 of a duplicate
// onto it) cannot be told apart and counts as alive.
func (w *watch) alive() bool {
	var st unix.Stat_t
	return unix.Fstat(w.fd, &st) == nil && w.names(&st)
}

// dropClosedActive drops the knotes of closed descriptors among the active ones, before a
// scan could deliver them. Closes are detected lazily, where they are observable: here, at
// every change naming the number (watchFor, register's fstat), and for watched regular
// files at each call. A closed descriptor's inactive knotes linger unseen until then, which
// no caller can tell from their removal at close(2).
func (q *queue) dropClosedActive() {
	var dead []*watch
	for kn := q.head; kn != nil; kn = kn.next {
		if kn.w != nil && !kn.w.alive() {
			dead = append(dead, kn.w)
		}
	}
	for _, w := range dead {
		q.dropWatch(w) // a second drop of the same watch finds nothing left to do
	}
}

func (q *queue) attach(kn *knote) {
	switch kn.kind {
	case kindRead:
		kn.w.rd = kn
	case kindWrite:
		kn.w.wr = kn
	case kindExcept:
		kn.w.ex = kn
	}
}

// newKnote returns a knote to fill in, reusing a deleted one: the poller's tests count
// allocations, and a kernel's own are not the poller's.
func (q *queue) newKnote() *knote {
	if n := len(q.free); n > 0 {
		kn := q.free[n-1]
		q.free = q.free[:n-1]
		return kn
	}
	return new(knote)
}

func (q *queue) deleteKnote(kn *knote) {
	q.dequeue(kn)
	delete(q.knotes, kn.key)
	if w := kn.w; w != nil {
		switch kn {
		case w.rd:
			w.rd = nil
		case w.wr:
			w.wr = nil
		case w.ex:
			w.ex = nil
		}
		q.updateEpoll(w)
	}
	*kn = knote{}
	q.free = append(q.free, kn)
}
