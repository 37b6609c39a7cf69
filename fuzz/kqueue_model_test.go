//go:build linux

package fuzz_test

// The kqueue half of the reference model. With a kqmodel_* build tag the kqueue backend
// runs on Linux over internal/kqmodel, a model of the BSD kernels over real Linux fds,
// and Wait's answer depends on more than the sockets' state: on the kernel's active queue
// (which knotes are queued, in which order, how many fit in one kevent), on when the model
// kernel sees an edge, and on the results the backend keeps when the caller's events
// slice is full. So this model keeps that state too and replays each Wait step by step,
// exactly; the harness then checks every Wait against it exactly, also the one after a
// Wake.
//
// What it follows, and where from:
//
//   - Knotes keyed by (fd, filter): EVFILT_READ for Readable, EVFILT_WRITE for Writable,
//     EVFILT_EXCEPT with NOTE_OOB for Priority where the flavour has it firing for
//     out-of-band data alone (openbsd; the backend refuses Priority elsewhere, darwin's
//     except filter fires for plain data too). EdgeTriggered is EV_CLEAR, OneShot
//     EV_DISPATCH, EV_ONESHOT on netbsd (kqueue.go mode; kqueue(2)). Changes in the order
//     kqueue.go makes them (add, modify: EV_ADD|EV_ENABLE for an unchanged mode, else
//     EV_DELETE then EV_ADD; delete), each one as kqueue_register applies it: a new knote
//     is evaluated and queued if it fires; EV_ADD of an existing knote keeps its
//     creation flags and its disabled state and re-evaluates it; EV_DELETE of a missing
//     knote is ENOENT. netbsd has no EV_RECEIPT: kevent stops at the first failing
//     change and the backend makes the list again one by one.
//   - Filters over an AF_UNIX stream socket, as internal/kqmodel derives them from
//     Linux's poll bits (FreeBSD uipc_socket.c filt_soread, filt_sowrite): the read
//     filter fires for data, EOF (RCV_SHUTDOWN: the peer shut down or closed) and a
//     pending error, and sets EV_EOF on EOF with the error in fflags (kqmodel's
//     placeholder errno, where Linux shows POLLERR: ECONNRESET after the peer closed
//     with data of ours unread, unix_release_sock); a pending error without EOF fires it
//     with no error bit. The write filter is always ready in the pool (see maxQueued)
//     and sets EV_EOF once the socket can send no more (own SHUT_WR, or the peer
//     closed: SEND_SHUTDOWN), with the error in fflags. The except filter never fires:
//     the pool sends no MSG_OOB (OpenBSD filt_soexcept fires for out-of-band data
//     alone; unlike epoll's EPOLLPRI key, ordinary data does not wake it).
//   - Readiness (kqmerge.go): EVFILT_READ gives Readable, plus Hangup with EV_EOF, plus
//     Errored with EV_EOF and fflags; EVFILT_WRITE gives Writable, plus Errored with
//     EV_EOF and fflags, never Hangup (own SHUT_WR is no hangup); Hangup and Errored
//     set the registered interest bits; an fd's filters merge into one Event per Wait.
//   - Edges: kqmodel stands for the kernel's KNOTE() calls with two edge-triggered epoll
//     instances per queue, one for the read side (EPOLLIN|EPOLLRDHUP|EPOLLPRI: the read
//     and except knotes) and one for the write side (EPOLLOUT: the write knote). A Linux
//     wakeup whose key matches puts the fd's item on that instance's ready list (data
//     from the peer: EPOLLIN|EPOLLPRI, read side; the peer reading our data: EPOLLOUT,
//     write side; shutdown and close: every key, both sides), and the next kevent that
//     scans turns each listed item whose fd is ready on that side into an activation of
//     its knotes (kqmodel pending), in list order, read side first. An activation
//     evaluates the knote and queues it at the tail if it fires; a queued EV_ONESHOT
//     knote has its EOF refreshed instead, and netbsd then delivers what the activation
//     saw without evaluating it again (kern_event.c kqueue_scan).
//   - A scan takes at most len(eventlist) results from the head of the active queue,
//     each knote at most once, evaluating each (a knote no longer ready is dropped until
//     the next activation); a delivered level knote goes back to the tail, EV_CLEAR ones
//     wait for the next activation, EV_DISPATCH ones are disabled, EV_ONESHOT ones are
//     deleted. The backend asks for 3*room+1 results; the wake (EVFILT_USER with
//     EV_CLEAR on freebsd and darwin, a level EVFILT_READ on a pipe on openbsd and
//     netbsd) is one of them. Results for fds the table does not hold, or tagged with
//     another registration, or for a reported one-shot fd, are dropped; results that do
//     not fit go to the backend's queue, served first by the next Wait.
//   - Closing: close(2) removes an fd's knotes whatever duplicates exist (kqueue(2)), so a
//     closed fd is reported by no Wait, and stays in the poller's table until Delete
//     (Delete succeeds, Add before it gives ErrExists). kqmodel sees a close only where it
//     can observe it: at a change naming the number (which fails with EBADF and so
//     changes nothing while the number is closed), and when a knote of the number is
//     active at a scan (all the fd's knotes are then dropped). The model follows that.
//
// The ghost ops (the harness closes a number while a duplicate keeps the socket open,
// and may dup3 it back): while the number is closed its knotes deliver nothing, as on a
// real kernel. But kqmodel cannot see a close that is undone before it looked
// (internal/kqmodel/doc.go: a number closed and reused for the same open file keeps its
// knotes), so after "dup3 back" the number's knotes may live on: the Delete made while it
// was closed failed with EBADF (which the backend takes as "close already removed them"),
// their results take room in kevent's eventlist and are dropped by the backend (the table
// no longer holds the fd), and a later Add finds them and, as EV_ADD of an existing knote
// does, keeps their EV_CLEAR, EV_DISPATCH and disabled state instead of the new flags.
// The model describes exactly that, because it is what the code over the model does. A
// real kernel removed those knotes at close(2): there the Add creates fresh knotes with
// the flags asked for, and nothing of the old registration is seen again.

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rawpoll/poller"
)

// kqPriority reports whether the flavour's kqueue backend honours Priority: where
// EVFILT_EXCEPT with NOTE_OOB fires for out-of-band data alone (OpenBSD filt_soexcept).
// FreeBSD and NetBSD have no EVFILT_EXCEPT in x/sys; darwin's fires for plain data too
// (XNU soexcept_filtops run filt_soread), so the backend refuses it.
const kqPriority = kqFlavour == "openbsd"

// kqUserWake: the flavour wakes through EVFILT_USER (freebsd, darwin); the others have no
// EVFILT_USER in x/sys and wake through a pipe.
const kqUserWake = kqFlavour == "freebsd" || kqFlavour == "darwin"

// kqSide is a knote's filter.
type kqSide uint8

const (
	kqRd   kqSide = iota // EVFILT_READ
	kqWr                 // EVFILT_WRITE
	kqEx                 // EVFILT_EXCEPT, NOTE_OOB
	kqWake               // the backend's wake: EVFILT_USER, or EVFILT_READ on its pipe
)

// kqKey is a knote's key; the wake's slot is -1.
type kqKey struct {
	slot int
	side kqSide
}

var kqWakeKey = kqKey{-1, kqWake}

// kqRes is a filter's verdict: fires, EV_EOF, an error in fflags.
type kqRes struct{ ready, eof, errf bool }

type kqKnote struct {
	clear, oneshot, dispatch bool // EV_CLEAR, EV_ONESHOT, EV_DISPATCH as created
	disabled, queued         bool
	gen                      uint32 // the registration its udata tags
	snap                     kqRes  // the verdict at activation (EV_ONESHOT)
}

// kqWatch is kqmodel's hold on a number: the file it named when its first knote came, and
// whether the read and write epoll instances hold it.
type kqWatch struct {
	file, gen  int
	inRd, inWr bool
}

// kqItem is an item of the read-side (wr false) or write-side epoll instance: Linux keys
// them by (file, number). The wake pipe's item has slot and file -1.
type kqItem struct {
	wr         bool
	slot, file int
}

// kqPend is a result the backend keeps for the next Wait.
type kqPend struct {
	slot       int
	gen, since uint32
	ready      poller.Flags
}

// kqResult is one kevent result.
type kqResult struct {
	key kqKey
	res kqRes
	gen uint32
}

// kqState is the model kernel's queue and the backend's own state.
type kqState struct {
	knotes  map[kqKey]kqKnote
	active  []kqKey // the active queue, head first
	watches map[int]kqWatch
	wgen    int
	items   map[kqItem]int // the watch generation each epoll item carries
	linked  [2][]kqItem    // the read-side and write-side ready lists, oldest first
	lastGen uint32         // the backend's registration generations
	pend    []kqPend       // the backend's queue of results that did not fit
	wake    bool           // the wake pipe holds data / the user knote is triggered
}

func newKqState() *kqState {
	q := &kqState{knotes: make(map[kqKey]kqKnote), watches: make(map[int]kqWatch), items: make(map[kqItem]int)}
	if kqUserWake {
		q.knotes[kqWakeKey] = kqKnote{clear: true}
	} else {
		q.knotes[kqWakeKey] = kqKnote{}
		q.items[kqItem{false, -1, -1}] = 0
	}
	return q
}

func (q *kqState) clone() *kqState {
	c := *q
	c.knotes = make(map[kqKey]kqKnote, len(q.knotes))
	for k, v := range q.knotes {
		c.knotes[k] = v
	}
	c.watches = make(map[int]kqWatch, len(q.watches))
	for k, v := range q.watches {
		c.watches[k] = v
	}
	c.items = make(map[kqItem]int, len(q.items))
	for k, v := range q.items {
		c.items[k] = v
	}
	c.active = append([]kqKey(nil), q.active...)
	c.linked[0] = append([]kqItem(nil), q.linked[0]...)
	c.linked[1] = append([]kqItem(nil), q.linked[1]...)
	c.pend = append([]kqPend(nil), q.pend...)
	return &c
}

// kqClone returns a copy of m whose kqueue simulation can run without touching m (it
// never changes the sockets).
func (m *model) kqClone() *model {
	c := *m
	c.regs = make(map[int]*reg, len(m.regs))
	for k, r := range m.regs {
		rc := *r
		c.regs[k] = &rc
	}
	c.kq = m.kq.clone()
	return &c
}

// kqSides lists the filters of interest f, in the order the backend changes them.
func kqSides(f poller.Flags) []kqSide {
	var out []kqSide
	if f&poller.Readable != 0 {
		out = append(out, kqRd)
	}
	if f&poller.Writable != 0 {
		out = append(out, kqWr)
	}
	if f&poller.Priority != 0 && kqPriority {
		out = append(out, kqEx)
	}
	return out
}

func kqBit(s kqSide) poller.Flags {
	return [...]poller.Flags{poller.Readable, poller.Writable, poller.Priority, 0}[s]
}

// kqEval runs a knote's filter on what its number names now (kqmodel polls the number).
func (m *model) kqEval(key kqKey) kqRes {
	if key.side == kqWake {
		return kqRes{ready: m.kq.wake}
	}
	s := &m.socks[key.slot]
	if !s.numOpen() {
		return kqRes{} // poll(2) on a closed number: POLLNVAL alone
	}
	switch key.side {
	case kqRd:
		return kqRes{ready: len(s.rq) > 0 || s.rcvShut || s.err, eof: s.rcvShut, errf: s.rcvShut && s.err}
	case kqWr:
		return kqRes{ready: true, eof: s.sendShut, errf: s.sendShut && s.err}
	}
	return kqRes{}
}

// kqItemReady reports whether the file of epoll item it is ready for its instance's
// events (EPOLLIN|EPOLLRDHUP|EPOLLPRI, or EPOLLOUT; EPOLLERR and EPOLLHUP always).
func (m *model) kqItemReady(it kqItem) bool {
	if it.slot < 0 {
		return m.kq.wake
	}
	s := &m.socks[it.slot]
	if !s.open || s.id != it.file {
		return false
	}
	if it.wr {
		return true
	}
	return len(s.rq) > 0 || s.rcvShut || s.err
}

func (q *kqState) link(it kqItem) {
	if _, ok := q.items[it]; !ok {
		return
	}
	l := &q.linked[b2i(it.wr)]
	for _, x := range *l {
		if x == it {
			return
		}
	}
	*l = append(*l, it)
}

func (q *kqState) unlink(it kqItem) {
	l := &q.linked[b2i(it.wr)]
	for i, x := range *l {
		if x == it {
			*l = append((*l)[:i:i], (*l)[i+1:]...)
			return
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// kqWakeup is a Linux wakeup of slot's socket with poll key (0: every key).
func (m *model) kqWakeup(slot int, key kbits) {
	q, s := m.kq, &m.socks[slot]
	if !s.open {
		return
	}
	if key == 0 || key&(kIn|kPri) != 0 {
		q.link(kqItem{false, slot, s.id})
	}
	if key == 0 || key&kOut != 0 {
		q.link(kqItem{true, slot, s.id})
	}
}

// kqFileGone removes the epoll items of file: its last descriptor was closed (or it is
// kept out of sight by renew, where nothing wakes it again).
func (q *kqState) kqFileGone(file int) {
	for it := range q.items {
		if it.file == file && it.slot >= 0 {
			q.unlink(it)
			delete(q.items, it)
		}
	}
}

// kqAlive reports whether slot's number still names the file watch w was made for.
func (m *model) kqAlive(slot int, w kqWatch) bool {
	s := &m.socks[slot]
	return s.numOpen() && s.id == w.file
}

func (m *model) kqCtl(wr, add bool, slot int, w kqWatch) {
	q := m.kq
	it := kqItem{wr, slot, w.file}
	if add {
		// EPOLL_CTL_ADD, or MOD of an item a closed number left behind: a ready file is
		// listed at once (ep_insert, ep_modify).
		q.items[it] = w.gen
		if m.kqItemReady(it) {
			q.link(it)
		}
		return
	}
	// EPOLL_CTL_DEL names the number: it fails once the number is closed or names
	// another file, and the item stays with its file.
	if m.kqAlive(slot, w) {
		q.unlink(it)
		delete(q.items, it)
	}
}

func (m *model) kqForget(slot int) {
	q := m.kq
	w, ok := q.watches[slot]
	if !ok {
		return
	}
	delete(q.watches, slot)
	if w.inRd {
		m.kqCtl(false, false, slot, w)
	}
	if w.inWr {
		m.kqCtl(true, false, slot, w)
	}
}

// kqUpdateEpoll is kqmodel updateEpoll: the watch's epoll items follow its knotes.
func (m *model) kqUpdateEpoll(slot int) {
	q := m.kq
	w, ok := q.watches[slot]
	if !ok {
		return
	}
	_, rd := q.knotes[kqKey{slot, kqRd}]
	_, wr := q.knotes[kqKey{slot, kqWr}]
	_, ex := q.knotes[kqKey{slot, kqEx}]
	if !rd && !wr && !ex {
		m.kqForget(slot)
		return
	}
	if want := rd || ex; want != w.inRd {
		m.kqCtl(false, want, slot, w)
		w.inRd = want
	}
	if wr != w.inWr {
		m.kqCtl(true, wr, slot, w)
		w.inWr = wr
	}
	q.watches[slot] = w
}

func (q *kqState) dequeue(key kqKey) {
	kn, ok := q.knotes[key]
	if !ok || !kn.queued {
		return
	}
	kn.queued = false
	q.knotes[key] = kn
	for i, k := range q.active {
		if k == key {
			q.active = append(q.active[:i:i], q.active[i+1:]...)
			return
		}
	}
}

func (q *kqState) enqueue(key kqKey) {
	kn := q.knotes[key]
	if kn.queued {
		return
	}
	kn.queued = true
	q.knotes[key] = kn
	q.active = append(q.active, key)
}

func (m *model) kqDeleteKnote(key kqKey) {
	m.kq.dequeue(key)
	delete(m.kq.knotes, key)
	if key.slot >= 0 {
		m.kqUpdateEpoll(key.slot)
	}
}

// kqDropWatch removes every knote of slot's number: close(2) did, kqmodel noticed.
func (m *model) kqDropWatch(slot int) {
	for _, s := range []kqSide{kqRd, kqWr, kqEx} {
		key := kqKey{slot, s}
		if _, ok := m.kq.knotes[key]; ok {
			m.kq.dequeue(key)
			delete(m.kq.knotes, key)
		}
	}
	m.kqForget(slot)
}

// kqWatchFor is kqmodel watchFor: a watch of a number that names another file now is
// dropped with its knotes.
func (m *model) kqWatchFor(slot int) {
	q, s := m.kq, &m.socks[slot]
	if w, ok := q.watches[slot]; ok && w.file != s.id {
		m.kqDropWatch(slot)
	}
	if _, ok := q.watches[slot]; !ok {
		q.wgen++
		q.watches[slot] = kqWatch{file: s.id, gen: q.wgen}
	}
}

// kqActivate is kqmodel activate.
func (m *model) kqActivate(key kqKey) {
	q := m.kq
	kn, ok := q.knotes[key]
	if !ok || kn.disabled {
		return
	}
	if kn.queued {
		if kn.oneshot {
			if r := m.kqEval(key); r.eof {
				kn.snap.eof, kn.snap.errf = true, r.errf
				q.knotes[key] = kn
			}
		}
		return
	}
	if r := m.kqEval(key); r.ready {
		kn.snap = r
		q.knotes[key] = kn
		q.enqueue(key)
	}
}

// kqTrigger is what a Wake that makes a syscall does to the kernel.
func (m *model) kqTrigger() {
	m.kq.wake = true
	if kqUserWake {
		m.kqActivate(kqWakeKey) // NOTE_TRIGGER: kqueue_register runs the filter
	} else {
		m.kq.link(kqItem{false, -1, -1}) // pipe_write wakes the reader
	}
}

// Change operations.
const (
	chAdd = 1 << iota
	chEnable
	chDelete
)

type kqChange struct {
	slot int
	side kqSide
	op   int
	mode poller.Flags
	gen  uint32
}

// kqRegister applies one change as kqmodel register does; it reports whether it failed.
func (m *model) kqRegister(c kqChange) bool {
	q := m.kq
	if !m.socks[c.slot].numOpen() {
		return true // EBADF: fget fails before the knote is looked up
	}
	m.kqWatchFor(c.slot)
	key := kqKey{c.slot, c.side}
	kn, ok := q.knotes[key]
	if !ok {
		if c.op&chAdd == 0 {
			m.kqUpdateEpoll(c.slot)
			return true // ENOENT
		}
		kn = kqKnote{gen: c.gen, clear: c.mode&poller.EdgeTriggered != 0}
		if c.mode&poller.OneShot != 0 {
			if kqFlavour == "netbsd" {
				kn.oneshot = true
			} else {
				kn.dispatch = true
			}
		}
		q.knotes[key] = kn
		m.kqUpdateEpoll(c.slot)
		m.kqActivate(key)
		return false
	}
	if c.op&chDelete != 0 {
		m.kqDeleteKnote(key)
		return false
	}
	kn.gen = c.gen
	if c.op&chEnable != 0 {
		kn.disabled = false
	}
	q.knotes[key] = kn
	m.kqActivate(key)
	return false
}

// kqApply makes a change list as the backend's apply does.
func (m *model) kqApply(chs []kqChange) {
	if kqFlavour != "netbsd" {
		for _, c := range chs {
			m.kqRegister(c) // EV_RECEIPT: each change on its own
		}
		return
	}
	for _, c := range chs {
		if m.kqRegister(c) {
			// kevent stopped here; the backend makes them all again one by one.
			if len(chs) > 1 {
				for _, c := range chs {
					m.kqRegister(c)
				}
			}
			return
		}
	}
}

func (q *kqState) newGen() uint32 {
	q.lastGen++
	return q.lastGen
}

// kqAdd is a successful Add.
func (m *model) kqAdd(slot int, f poller.Flags) {
	gen := m.kq.newGen()
	var chs []kqChange
	for _, s := range kqSides(f) {
		chs = append(chs, kqChange{slot, s, chAdd, f, gen})
	}
	m.kqApply(chs)
	m.regs[slot] = &reg{flags: f, armed: true, gen: gen, since: gen}
}

// kqModify is a successful Modify.
func (m *model) kqModify(slot int, f poller.Flags) {
	old := m.regs[slot]
	gen := m.kq.newGen()
	same := old.flags&modes == f&modes
	var chs []kqChange
	for _, s := range kqSides(f | old.flags) {
		had, want := old.flags&kqBit(s) != 0, f&kqBit(s) != 0
		switch {
		case want && had && same:
			chs = append(chs, kqChange{slot, s, chAdd | chEnable, f, gen})
		case want:
			if had {
				chs = append(chs, kqChange{slot, s, chDelete, 0, 0})
			}
			chs = append(chs, kqChange{slot, s, chAdd, f, gen})
		case had:
			chs = append(chs, kqChange{slot, s, chDelete, 0, 0})
		}
	}
	m.kqApply(chs)
	m.regs[slot] = &reg{flags: f, armed: true, gen: gen, since: old.since}
}

// kqDelete is Delete of a registered slot: it always succeeds (EBADF and ENOENT from the
// kernel mean the knotes are gone already).
func (m *model) kqDelete(slot int) {
	flags := m.regs[slot].flags
	var chs []kqChange
	for _, s := range kqSides(flags) {
		chs = append(chs, kqChange{slot, s, chDelete, 0, 0})
	}
	m.kqApply(chs)
}

// kqScan is one kevent that collects at most max results (kqmodel Kevent's scan).
func (m *model) kqScan(max int) []kqResult {
	q := m.kq
	for e := 0; e < 2; e++ {
		list := q.linked[e]
		q.linked[e] = nil
		for _, it := range list {
			if !m.kqItemReady(it) {
				continue
			}
			if it.slot < 0 {
				m.kqActivate(kqWakeKey)
				continue
			}
			if w, ok := q.watches[it.slot]; !ok || w.gen != q.items[it] {
				continue
			}
			if e == 0 {
				m.kqActivate(kqKey{it.slot, kqRd})
				m.kqActivate(kqKey{it.slot, kqEx})
			} else {
				m.kqActivate(kqKey{it.slot, kqWr})
			}
		}
	}
	// dropClosedActive: an active knote of a closed number takes all its fd's knotes.
	var dead []int
	for _, key := range q.active {
		if key.slot >= 0 && !m.kqAlive(key.slot, q.watches[key.slot]) {
			dead = append(dead, key.slot)
		}
	}
	for _, slot := range dead {
		m.kqDropWatch(slot)
	}
	var out []kqResult
	for todo := len(q.active); todo > 0 && len(out) < max; todo-- {
		key := q.active[0]
		q.dequeue(key)
		kn := q.knotes[key]
		r := kn.snap
		if !kn.oneshot || kqFlavour == "darwin" {
			if r = m.kqEval(key); !r.ready {
				continue
			}
		}
		out = append(out, kqResult{key, r, kn.gen})
		switch {
		case kn.oneshot:
			m.kqDeleteKnote(key)
		case kqFlavour == "netbsd":
			// One chain, EV_CLEAR before EV_DISPATCH (kern_event.c kqueue_scan).
			switch {
			case kn.clear:
			case kn.dispatch:
				kn.disabled = true
				q.knotes[key] = kn
			default:
				q.enqueue(key)
			}
		case !kn.clear && !kn.dispatch:
			q.enqueue(key)
		default:
			if kn.clear && key.side == kqWake {
				q.wake = false // filt_usertouch: EV_CLEAR resets the trigger
			}
			if kn.dispatch {
				kn.disabled = true
				q.knotes[key] = kn
			}
		}
	}
	return out
}

// kqFlags is kqKevent.readiness for a result.
func (x kqResult) flags() poller.Flags {
	var f poller.Flags
	switch x.key.side {
	case kqRd:
		f = poller.Readable
		if x.res.eof {
			f |= poller.Hangup
		}
	case kqWr:
		f = poller.Writable
	case kqEx:
		return poller.Priority
	}
	if x.res.eof && x.res.errf {
		f |= poller.Errored
	}
	return f
}

// kqReadiness is the package's readiness: Hangup and Errored set the interest bits.
func kqReadiness(ready, flags poller.Flags) poller.Flags {
	if ready&(poller.Hangup|poller.Errored) != 0 {
		ready |= flags & interest
	}
	return ready
}

type kqEvent struct {
	slot  int
	flags poller.Flags
}

// kqBackendWait is the backend's wait with room for size events: queued results first,
// then one kevent for what room is left. results is the number of kernel results, -1
// when no kevent was made.
func (m *model) kqBackendWait(size int) (events []kqEvent, results int) {
	q := m.kq
	batch := make(map[int]int) // slot -> index in events, or -1-index in q.pend
	// A queued result is reported as the kernel gave it, also when the fd's state has
	// changed since (drained, say): a spurious readiness the caller's read answers with
	// EAGAIN, which the contract allows. One of an earlier Add of the fd is dropped; one
	// that a Modify followed keeps its place (the kernel does not queue an already active
	// knote again, so dropping it would starve a fd modified before each Wait), masked by
	// the new interest, and spends a re-armed one-shot fd's arming.
	for len(q.pend) > 0 && len(events) < size {
		p := q.pend[0]
		q.pend = q.pend[1:]
		r := m.regs[p.slot]
		if r == nil || r.since != p.since {
			continue
		}
		if !m.socks[p.slot].numOpen() {
			// The contract: kqueue drops a closed fd (close(2) removed its knotes), so
			// a result it queued before the close is not reported either, as epoll drops
			// a closed file's item from its ready list.
			continue
		}
		ready := p.ready & (r.flags&interest | poller.Hangup | poller.Errored)
		if ready == 0 {
			continue
		}
		if r.gen != p.gen && r.flags&poller.OneShot != 0 {
			if !r.armed {
				continue
			}
			r.armed = false
		}
		batch[p.slot] = len(events)
		events = append(events, kqEvent{p.slot, kqReadiness(ready, r.flags)})
	}
	if len(events) == size {
		return events, -1
	}
	res := m.kqScan(3*(size-len(events)) + 1)
	for _, x := range res {
		if x.key.side == kqWake {
			q.wake = q.wake && kqUserWake // the backend drains the pipe
			continue
		}
		slot := x.key.slot
		r := m.regs[slot]
		if r == nil || r.gen != x.gen {
			continue
		}
		ready := x.flags() & (r.flags&interest | poller.Hangup | poller.Errored)
		if ready == 0 {
			continue
		}
		if pos, ok := batch[slot]; ok {
			if pos >= 0 {
				events[pos].flags = kqReadiness(events[pos].flags|ready, r.flags)
			} else {
				q.pend[-1-pos].ready |= ready
			}
			continue
		}
		if !r.armed {
			continue
		}
		if r.flags&poller.OneShot != 0 {
			r.armed = false
		}
		if len(events) < size {
			batch[slot] = len(events)
			events = append(events, kqEvent{slot, kqReadiness(ready, r.flags)})
		} else {
			batch[slot] = -1 - len(q.pend)
			q.pend = append(q.pend, kqPend{slot, r.gen, r.since, ready})
		}
	}
	return events, len(res)
}

// kqWait is Poller.Wait with room for size events: it returns what must be reported,
// and whether the Wait would block for good (timeout < 0 with nothing to return). A
// Wait that got only dropped results goes round again when it may block (with a
// timeout > 0 the deadline of the harness's microsecond passes during the first round).
func (m *model) kqWait(size int, timeout time.Duration) (map[int]poller.Flags, bool) {
	for i := 0; ; i++ {
		events, results := m.kqBackendWait(size)
		if len(events) > 0 || m.wake || timeout >= 0 {
			out := make(map[int]poller.Flags, len(events))
			for _, ev := range events {
				out[ev.slot] = ev.flags
			}
			return out, false
		}
		if results == 0 || i > 64 {
			return nil, true
		}
	}
}

// kqReady is the set a Wait with room for every fd would report now.
func (m *model) kqReady() map[int]poller.Flags {
	out, _ := m.kqClone().kqWait(maxEvents, 0)
	return out
}

// kqBlocks reports whether a Wait(size, -1) would block for good now.
func (m *model) kqBlocks(size int) bool {
	_, blocks := m.kqClone().kqWait(size, -1)
	return blocks
}

// waitKq is harness.wait on kqueue: the model replays the Wait exactly, so every Wait,
// also the one after a Wake, must report exactly the fds it says, with their flags.
func (h *harness) waitKq(size int, timeout time.Duration) []int {
	h.t.Helper()
	h.checkClosedSlots()
	werr := h.m.waitErr(size)
	if werr == nil && timeout < 0 && !h.m.wake && h.m.kqBlocks(size) {
		timeout = 0 // would block for good
	}
	h.log(traceStep{op: "Wait", slot: -1, arg: int64(size), d: timeout})
	var want map[int]poller.Flags
	if werr == nil {
		want, _ = h.m.kqWait(size, timeout)
	}
	var fired atomic.Bool
	if timeout != 0 {
		timer := time.AfterFunc(watchdog, func() { fired.Store(true); h.p.Close() })
		defer timer.Stop()
	}
	n, err := h.p.Wait(h.events[:size], timeout)
	if fired.Load() {
		h.m.closed = true
		h.fatalf("Wait(%d, %v) still blocked after %v; the model wants %v", size, timeout, watchdog, h.fmtSet(want))
	}
	if werr != nil {
		h.checkErr(fmt.Sprintf("Wait(%d, %v)", size, timeout), err, werr)
		return nil
	}
	if err != nil {
		h.fatalf("Wait(%d, %v) = %d, %v; want %v", size, timeout, n, err, h.fmtSet(want))
	}
	slots := make([]int, 0, n)
	for _, ev := range h.events[:n] {
		slot := h.slotOf(ev.Fd)
		wf, ok := want[slot]
		switch {
		case slot < 0:
			h.fatalf("Wait reported fd %d, not in the pool; got %v, want %v", ev.Fd, h.events[:n], h.fmtSet(want))
		case !ok:
			h.fatalf("Wait reported slot %d (%v), not ready; got %v, want %v", slot, ev.Flags, h.events[:n], h.fmtSet(want))
		case ev.Flags != wf:
			h.fatalf("Wait reported slot %d with %v, want %v; got %v, want %v", slot, ev.Flags, wf, h.events[:n], h.fmtSet(want))
		}
		for _, s := range slots {
			if s == slot {
				h.fatalf("Wait reported slot %d twice: %v", slot, h.events[:n])
			}
		}
		slots = append(slots, slot)
	}
	if n != len(want) {
		h.fatalf("Wait(%d, %v) = %d events %v; want %v", size, timeout, n, h.events[:n], h.fmtSet(want))
	}
	h.m.wake = false
	return slots
}

// kqBurstRounds is how many Waits of room size, with nothing between them, may pass
// before each of the ready fds has been reported on kqueue. Not ceil(ready/size), as on
// the other backends: results that did not fit in events wait in the backend's queue
// and are served before the kernel is asked again, while the kernel keeps its own order
// (a level knote goes to the tail when delivered, not when the backend reports it from
// its queue), so an fd that became ready behind a full queue waits for the queue to
// drain, and then for the kernel to reach it: each kevent takes 3*room+1 knotes from the
// head of the active queue, and the fds of one kevent are served within ceil(ready/size)
// Waits. The bound is still a bound: no fd starves while nothing changes.
func (m *model) kqBurstRounds(size, ready int) int {
	q := m.kq
	queued := 0
	for _, p := range q.pend {
		if r := m.regs[p.slot]; r != nil && r.gen == p.gen {
			queued++
		}
	}
	// Knotes that the next kevent may find active: queued ones, and those its scan
	// activates first (each listed epoll item activates at most one knote that fires).
	active := len(q.active) + len(q.linked[0]) + len(q.linked[1])
	k := 3*size + 1
	rounds := (queued+size-1)/size + 1 + (active+k-1)/k*((ready+size-1)/size) + 1
	if m.wake {
		rounds++ // the Wait right after a Wake may return early
	}
	return rounds
}
