//go:build linux

package fuzz_test

// The reference models. They know nothing of the implementation: fdSetModel is the
// FdSet contract over a map; model is the contract (CONTRACT.md) for a Poller, on top
// of what Linux does for AF_UNIX stream sockets (net/unix/af_unix.c: unix_poll,
// unix_shutdown, unix_release_sock, unix_stream_read_generic) and of when epoll queues an item
// (ep_poll_callback, ep_send_events). The fuzz targets apply every step to a model and
// to the real thing, and compare.

import (
	"errors"
	"math"
	"sort"

	"github.com/rawpoll/poller"
	"golang.org/x/sys/unix"
)

const (
	interest = poller.Readable | poller.Writable | poller.Priority
	modes    = poller.EdgeTriggered | poller.OneShot
)

// flagsErr is the error Add and Modify give for flags on backend b before they look at
// the fd: interest must be named, Hangup, Errored and unknown bits are refused,
// EdgeTriggered exists on epoll and kqueue only, and Priority everywhere but on the
// kqueue flavours whose EVFILT_EXCEPT does not fire for out-of-band data alone.
// Event ports (BackendPort, with the portmodel_illumos tag) answer a Wait with what poll(2)
// says of the fds their port reported, so the level and one-shot rules below are theirs.
func flagsErr(b poller.Backend, f poller.Flags) error {
	if f&interest == 0 || f&^(interest|modes) != 0 {
		return poller.ErrInvalidFlags
	}
	if f&poller.EdgeTriggered != 0 && (b == poller.BackendPoll || b == poller.BackendSelect || b == poller.BackendPort) {
		return poller.ErrUnsupported
	}
	if f&poller.Priority != 0 && b == poller.BackendKqueue && !kqPriority {
		return poller.ErrUnsupported
	}
	return nil
}

// maxQueued bounds the unread writes in one direction: a socketpair takes a few hundred
// small writes before it stops being writable, and the model says "always writable".
const maxQueued = 8

// sock is the kernel state of one end of a socketpair.
type sock struct {
	open bool
	id   int // names the open file, for kqueue's model (kqueue_model_test.go)
	// rq holds the sizes of the writes queued for this end, oldest first; each write of
	// a few bytes is one skb, freed (waking the writer with EPOLLOUT) once fully read.
	rq       []int
	rcvShut  bool // RCV_SHUTDOWN: the peer shut down writing or closed
	sendShut bool // SEND_SHUTDOWN: this end shut down writing, or the peer closed
	err      bool // ECONNRESET pending: the peer closed with data of ours unread
	// ghost: the slot's number was closed while a duplicate (held by the harness) keeps
	// the socket open: the peer sees nothing, and epoll keeps the registration, also
	// after Delete (EPOLL_CTL_DEL fails with EBADF, golang/go#59545).
	ghost bool
}

// numOpen reports whether the slot's number names its socket.
func (s *sock) numOpen() bool { return s.open && !s.ghost }

// kernel readiness bits, as unix_poll computes them.
type kbits uint8

const (
	kIn kbits = 1 << iota
	kOut
	kRdHup
	kHup
	kErr
	// kPri is EPOLLPRI. unix_poll raises it only for MSG_OOB data (Linux 5.15+), which
	// the harness never sends, so bits never has it; it is in the key of every data
	// wakeup (sock_def_readable: EPOLLIN|EPOLLPRI|...), which queues a Priority item.
	kPri
)

func (s *sock) bits() kbits {
	var k kbits
	if len(s.rq) > 0 || s.rcvShut {
		k |= kIn
	}
	k |= kOut // writable while the peer's queue is short, also after any shutdown
	if s.rcvShut {
		k |= kRdHup
	}
	if s.rcvShut && s.sendShut {
		k |= kHup
	}
	if s.err {
		k |= kErr
	}
	return k
}

// reg is one registration as the caller sees it.
type reg struct {
	flags poller.Flags
	armed bool // false once a one-shot fd was reported, until Modify
	// pending: epoll has the (edge-triggered) item on its ready list. Set when epoll_ctl
	// finds the fd ready and when a wakeup that passes the item's event mask arrives.
	pending bool
	gen     uint32 // kqueue: the backend's generation of this registration
	since   uint32 // kqueue: the generation of the Add (a Modify keeps it)
}

// model is one Poller and a pool of socketpairs, by slot: slot i's peer is slot i^1.
type model struct {
	backend poller.Backend
	socks   []sock
	regs    map[int]*reg
	closed  bool     // Close was called
	wake    bool     // a Wake no Wait has returned since
	files   int      // files renew made
	kq      *kqState // the kqueue backend's kernel and queue, for BackendKqueue
}

func newModel(b poller.Backend, slots int) *model {
	m := &model{backend: b, socks: make([]sock, slots), regs: make(map[int]*reg)}
	for i := range m.socks {
		m.socks[i].open = true
		m.socks[i].id = i + 1
	}
	if b == poller.BackendKqueue {
		m.kq = newKqState()
	}
	return m
}

func peer(slot int) int { return slot ^ 1 }

// wakeup is a wakeup of slot's wait queue with poll key (0: every waiter, as
// sk_state_change does). epoll queues an armed item whose events match the key.
func (m *model) wakeup(slot int, key kbits) {
	if m.kq != nil {
		m.kqWakeup(slot, key)
		return
	}
	r := m.regs[slot]
	if r == nil || !r.armed || !m.socks[slot].open {
		return
	}
	switch {
	case key == 0,
		key&kIn != 0 && r.flags&poller.Readable != 0,
		key&kOut != 0 && r.flags&poller.Writable != 0,
		key&kPri != 0 && r.flags&poller.Priority != 0:
		r.pending = true
	}
}

// readiness is what Wait must report for slot under r, before one-shot and edge rules:
// 0 for not ready.
func (m *model) readiness(slot int, r *reg) poller.Flags {
	s := &m.socks[slot]
	want := r.flags & interest
	if !s.numOpen() {
		// Closed while registered: poll and select report it Errored until Delete;
		// epoll drops it when the file goes, and goes on reporting the file while a
		// duplicate keeps it open; event ports dissociate the number at its close.
		if m.backend == poller.BackendPort {
			return 0
		}
		if m.backend != poller.BackendEpoll {
			return poller.Errored | want
		}
		if !s.open {
			return 0
		}
	}
	k := s.bits()
	var f poller.Flags
	if m.backend == poller.BackendSelect {
		// select's read set is POLLIN|POLLHUP|POLLERR, its write set POLLOUT|POLLERR,
		// its except set POLLPRI alone: it cannot tell a hangup, and an fd registered
		// for Priority alone never sees one.
		if want&poller.Readable != 0 && k&(kIn|kHup|kErr) != 0 {
			f |= poller.Readable
		}
		if want&poller.Writable != 0 && k&(kOut|kErr) != 0 {
			f |= poller.Writable
		}
		return f
	}
	// epoll and poll: the events asked for, plus HUP and ERR always. RDHUP is asked for
	// with Readable only (a half-close is news to a reader; it would wake a writer that
	// cannot write on every level-triggered Wait), so Priority alone sees HUP and ERR.
	mask := kHup | kErr
	if want&poller.Readable != 0 {
		mask |= kIn | kRdHup
	}
	if want&poller.Writable != 0 {
		mask |= kOut
	}
	k &= mask
	if k&kIn != 0 {
		f |= poller.Readable
	}
	if k&kOut != 0 {
		f |= poller.Writable
	}
	if k&(kHup|kRdHup) != 0 {
		f |= poller.Hangup
	}
	if k&kErr != 0 {
		f |= poller.Errored
	}
	// Hangup and Errored also set the interest bits, Priority included.
	if f&(poller.Hangup|poller.Errored) != 0 {
		f |= want
	}
	return f
}

// ready is the set a Wait must report now: slot -> flags.
func (m *model) ready() map[int]poller.Flags {
	if m.kq != nil {
		return m.kqReady()
	}
	out := make(map[int]poller.Flags)
	for slot, r := range m.regs {
		if !r.armed {
			continue
		}
		f := m.readiness(slot, r)
		if f == 0 {
			continue
		}
		if r.flags&poller.EdgeTriggered != 0 && !r.pending {
			continue
		}
		out[slot] = f
	}
	return out
}

// register is what a successful Add or Modify leaves: armed, and queued if ready now
// (epoll_ctl polls the file and queues a ready item).
func (m *model) register(slot int, f poller.Flags) {
	r := &reg{flags: f, armed: true}
	r.pending = m.readiness(slot, r) != 0
	m.regs[slot] = r
}

// add is Add(slot's fd, f): the error it must give, with the model updated on success.
func (m *model) add(slot int, f poller.Flags) error {
	if m.closed {
		return poller.ErrClosed
	}
	if err := flagsErr(m.backend, f); err != nil {
		return err
	}
	if m.regs[slot] != nil {
		return poller.ErrExists // even if its file was closed since: Delete frees it
	}
	if !m.socks[slot].numOpen() {
		return unix.EBADF
	}
	if m.kq != nil {
		m.kqAdd(slot, f)
		return nil
	}
	m.register(slot, f)
	return nil
}

func (m *model) modify(slot int, f poller.Flags) error {
	if m.closed {
		return poller.ErrClosed
	}
	if err := flagsErr(m.backend, f); err != nil {
		return err
	}
	if m.regs[slot] == nil {
		return poller.ErrNotRegistered
	}
	if !m.socks[slot].numOpen() {
		return unix.EBADF
	}
	if m.kq != nil {
		m.kqModify(slot, f)
		return nil
	}
	m.register(slot, f)
	return nil
}

func (m *model) delete(slot int) error {
	if m.closed {
		return poller.ErrClosed
	}
	if m.regs[slot] == nil {
		return poller.ErrNotRegistered
	}
	if m.kq != nil {
		m.kqDelete(slot)
	}
	delete(m.regs, slot)
	return nil
}

// wildAdd is Add of an fd outside the pool that is not open: negative, huge, or a free
// number. It lists the errors the contract allows.
func (m *model) wildAdd(fd int, f poller.Flags) []error {
	if m.closed {
		return []error{poller.ErrClosed}
	}
	if err := flagsErr(m.backend, f); err != nil {
		return []error{err}
	}
	if m.backend == poller.BackendSelect && fd >= poller.FdSetSize {
		if fd > math.MaxInt32 {
			// Both rules apply: no such descriptor (EBADF) and too large for select.
			return []error{poller.ErrFdTooLarge, unix.EBADF}
		}
		return []error{poller.ErrFdTooLarge}
	}
	return []error{unix.EBADF}
}

func (m *model) wildModify(fd int, f poller.Flags) error {
	if m.closed {
		return poller.ErrClosed
	}
	if err := flagsErr(m.backend, f); err != nil {
		return err
	}
	return poller.ErrNotRegistered
}

func (m *model) wildDelete(fd int) error {
	if m.closed {
		return poller.ErrClosed
	}
	return poller.ErrNotRegistered
}

// waitErr is the error Wait with room for size events must give before it looks at
// readiness, if any.
func (m *model) waitErr(size int) error {
	switch {
	case m.closed:
		return poller.ErrClosed
	case size == 0:
		return unix.EINVAL
	}
	return nil
}

// reported updates the model after a Wait that reported slots: a reported one-shot fd
// disarms, a reported edge-triggered one leaves epoll's ready list. An unreported item
// stays on the list (the Wait was full, or returned early after a Wake) unless it is not
// ready: epoll drops those when it meets them, and every change that can make one ready
// brings a wakeup that queues it again.
func (m *model) reported(slots []int) {
	for _, slot := range slots {
		r := m.regs[slot]
		r.pending = false
		if r.flags&poller.OneShot != 0 {
			r.armed = false
		}
	}
	for slot, r := range m.regs {
		if m.readiness(slot, r) == 0 {
			r.pending = false
		}
	}
	m.wake = false
}

// write is a write of n bytes from slot to its peer; false if the model skips it (the
// write would fail, or fill the peer's queue past what the model calls writable).
func (m *model) write(slot, n int) bool {
	s, p := &m.socks[slot], &m.socks[peer(slot)]
	if !s.open || s.sendShut || !p.open || len(p.rq) >= maxQueued {
		return false
	}
	p.rq = append(p.rq, n)
	m.wakeup(peer(slot), kIn|kPri) // sk_data_ready
	return true
}

// read is one read of up to n bytes on slot; it returns the bytes the read gets and
// whether it returns ECONNRESET. Data comes first; on an empty queue a pending error is
// returned and cleared (unix_stream_read_generic).
func (m *model) read(slot, n int) (got int, reset bool) {
	s := &m.socks[slot]
	if len(s.rq) == 0 {
		if s.err {
			s.err = false
			return 0, true
		}
		return 0, false
	}
	freed := false
	for n > 0 && len(s.rq) > 0 {
		c := min(n, s.rq[0])
		got += c
		n -= c
		s.rq[0] -= c
		if s.rq[0] == 0 {
			s.rq = s.rq[1:]
			freed = true
		}
	}
	if freed && m.socks[peer(slot)].open {
		m.wakeup(peer(slot), kOut) // the writer's skb freed: sk_write_space
	}
	return got, false
}

// shutdown is shutdown(slot, SHUT_WR): sk_state_change on both ends.
func (m *model) shutdown(slot int) {
	s, p := &m.socks[slot], &m.socks[peer(slot)]
	s.sendShut = true
	m.wakeup(slot, 0)
	if p.open {
		p.rcvShut = true
		m.wakeup(peer(slot), 0)
	}
}

// closeNum is close(slot's number) while the harness keeps a duplicate: the socket lives.
func (m *model) closeNum(slot int) { m.socks[slot].ghost = true }

// reopen is dup2(duplicate, slot's number): the number names the socket again.
func (m *model) reopen(slot int) { m.socks[slot].ghost = false }

// renew gives slot and its peer a new socketpair on the same numbers while the old
// sockets live on, hidden: epoll keeps delivering the events of a deleted ghost's entry
// under numbers that now name other files, and only the registration's tag tells them
// apart. Wait reports none of them, and they take none of its events slots.
func (m *model) renew(slot int) {
	for _, i := range [2]int{slot, peer(slot)} {
		if m.kq != nil {
			// The old sockets live on out of sight and nothing wakes them again.
			m.kq.kqFileGone(m.socks[i].id)
		}
		m.socks[i] = sock{open: true, id: m.newFile()}
	}
}

// newFile returns an id no socket of the pool had.
func (m *model) newFile() int {
	m.files++
	return len(m.socks) + m.files
}

// close is the close of slot's last descriptor: the peer sees both directions shut, and
// ECONNRESET if slot had unread data (unix_release_sock). epoll forgets the file; the
// poller's registration of slot stays until Delete.
func (m *model) close(slot int) {
	s, p := &m.socks[slot], &m.socks[peer(slot)]
	if p.open {
		p.rcvShut, p.sendShut = true, true
		if len(s.rq) > 0 {
			p.err = true
		}
		m.wakeup(peer(slot), 0)
	}
	if m.kq != nil {
		m.kq.kqFileGone(s.id) // epoll drops a file's items when it is released
	}
	*s = sock{}
}

// sortedSlots returns the keys of a ready set in order, for messages.
func sortedSlots(set map[int]poller.Flags) []int {
	out := make([]int, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// errMatches reports whether got is want: nil, a sentinel, or a unix.Errno, which must
// come wrapped in an *os.SyscallError.
func errMatches(got, want error) bool {
	if want == nil || got == nil {
		return got == want
	}
	var errno unix.Errno
	if errors.As(want, &errno) {
		return errors.Is(got, errno) && isSyscallError(got)
	}
	return errors.Is(got, want)
}

// fdSetModel is an FdSet as a map of the fds in range.
type fdSetModel map[int]bool

// set is Set(fd): the error it must give, with the model updated on success.
func (s fdSetModel) set(fd int) error {
	switch {
	case fd < 0:
		return unix.EBADF
	case fd >= poller.FdSetSize:
		return poller.ErrFdTooLarge
	}
	s[fd] = true
	return nil
}

func (s fdSetModel) clear(fd int) { delete(s, fd) }

func (s fdSetModel) isSet(fd int) bool { return s[fd] }

func (s fdSetModel) zero() {
	for fd := range s {
		delete(s, fd)
	}
}

func (s fdSetModel) count() int { return len(s) }

// selectErr is the error Select(nfd, ...) must give for sets that hold no fd.
func selectErr(nfd int) error {
	switch {
	case nfd < 0:
		return unix.EINVAL
	case nfd > poller.FdSetSize:
		return poller.ErrFdTooLarge
	}
	return nil
}
