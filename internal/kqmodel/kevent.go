//go:build linux

package kqmodel

import (
	"math"
	"time"

	"golang.org/x/sys/unix"
)

// pollInterval bounds a sleep while regular files are watched: their growth raises no Linux
// wakeup the model can wait for.
const pollInterval = 10 * time.Millisecond

// Kqueue creates a queue and returns its descriptor: a real close-on-exec Linux descriptor (an
// epoll instance) that polls readable when a kevent call on it could return an event, so Go's
// runtime poller can park on it.
func (k *Kernel) Kqueue() (int, error) {
	q, err := newQueue()
	if err != nil {
		return -1, err
	}
	k.mu.Lock()
	k.queues[q.userFd] = q
	k.mu.Unlock()
	return q.userFd, nil
}

// Close closes the queue descriptor and forgets its knotes. A Kevent blocked on the queue
// returns EBADF.
func (k *Kernel) Close(kq int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	q := k.queues[kq]
	if q == nil {
		return unix.EBADF
	}
	delete(k.queues, kq)
	q.closed = true
	err := unix.Close(q.userFd)
	if q.waiters > 0 {
		// Wake the sleepers; the last one to leave closes ep and evfd, so a sleeper never
		// waits on a number that was closed and reused.
		one := [8]byte{1}
		unix.Write(q.evfd, one[:])
	} else {
		q.release()
	}
	return err
}

// Kevent is kevent(2): it applies changes in order, then, if events has room, collects up to
// len(events) events, waiting per timeout (nil: forever; zero: poll). It returns the number
// of events, or -1 and an errno as x/sys's Kevent does.
func (k *Kernel) Kevent(kq int, changes, events []Kevent, timeout *unix.Timespec) (int, error) {
	k.mu.Lock()
	q := k.queues[kq]
	if q == nil {
		k.mu.Unlock()
		return -1, unix.EBADF
	}
	// FreeBSD kern_kevent_fp: each change goes through kqueue_register; a failure, or any
	// change with EV_RECEIPT, is written to the event list as flags = EV_ERROR, data = errno
	// (0 for a receipt), using up one slot; with no slot left the call ends there, returning
	// the error (or 0 for a receipt), the rest of the changelist unapplied (kqueue(2): "if
	// this flag is encountered and there is no remaining space in eventlist to hold the
	// EV_ERROR event, then subsequent changes will not get processed"). If any entry was
	// written, kevent returns their count without scanning ("if (nerrors)"). OpenBSD
	// sys_kevent and NetBSD kevent1 run the same loop. XNU kevent_internal differs in two
	// details: the entry keeps the change's flags (kev.flags |= EV_ERROR), and a receipt that
	// finds no room is dropped while processing goes on.
	nerr := 0
	for i := range changes {
		ch := changes[i]
		if k.flavour == FreeBSD && ch.Filter == 0 {
			continue // kern_kevent_fp: "if (!kevp->filter) continue;"
		}
		errno := k.register(q, &ch)
		if errno == 0 && !(k.sys.Receipt && ch.Flags&EV_RECEIPT != 0) {
			continue
		}
		if nerr == len(events) {
			if errno == 0 && k.flavour == Darwin {
				continue
			}
			q.sync()
			k.mu.Unlock()
			if errno != 0 {
				return -1, errno
			}
			return 0, nil
		}
		if k.flavour == Darwin {
			ch.Flags |= EV_ERROR
		} else {
			ch.Flags = EV_ERROR
		}
		ch.Data = int64(errno)
		events[nerr] = ch
		nerr++
	}
	if nerr > 0 || len(events) == 0 {
		q.sync()
		k.mu.Unlock()
		return nerr, nil
	}
	if timeout != nil && (timeout.Sec < 0 || timeout.Nsec < 0 || timeout.Nsec >= 1e9) {
		// FreeBSD kqueue_scan: an invalid timespec is EINVAL (changes already applied).
		q.sync()
		k.mu.Unlock()
		return -1, unix.EINVAL
	}
	if e := k.failCallErrno; e != 0 {
		k.failCallErrno = 0
		q.sync()
		k.mu.Unlock()
		return -1, e
	}

	var deadline time.Time
	if timeout != nil {
		deadline = time.Now().Add(time.Duration(timeout.Nano()))
	}
	var evbuf [4]unix.EpollEvent
	for {
		n := k.scan(q, events)
		q.sync()
		if n > 0 || (timeout != nil && (timeout.Sec == 0 && timeout.Nsec == 0)) {
			k.mu.Unlock()
			return n, nil
		}
		ms := -1
		if timeout != nil {
			left := time.Until(deadline)
			if left <= 0 {
				k.mu.Unlock()
				return 0, nil
			}
			ms = int((left + time.Millisecond - 1) / time.Millisecond)
		}
		if q.npolled > 0 && (ms < 0 || ms > int(pollInterval/time.Millisecond)) {
			ms = int(pollInterval / time.Millisecond)
		}
		q.waiters++
		ep := q.ep
		k.mu.Unlock()
		// Sleep without the mutex: ep is readable when a watched fd's state changes (rdEp,
		// wrEp) or a knote is activated by another caller (evfd, see queue.sync).
		_, err := unix.EpollWait(ep, evbuf[:], ms)
		k.mu.Lock()
		q.waiters--
		if q.closed {
			if q.waiters == 0 {
				q.release()
			}
			k.mu.Unlock()
			return -1, unix.EBADF
		}
		if err == unix.EINTR {
			// FreeBSD kqueue_scan sleeps with PCATCH: a signal ends kevent with EINTR.
			q.sync()
			k.mu.Unlock()
			return -1, unix.EINTR
		}
		if err != nil {
			k.mu.Unlock()
			return -1, err
		}
	}
}

// kindOf maps the flavour's filter number to the filter the model runs.
func (k *Kernel) kindOf(filter int32) (kind, bool) {
	switch {
	case filter == k.sys.FiltRead:
		return kindRead, true
	case filter == k.sys.FiltWrite:
		return kindWrite, true
	case k.sys.HasUser && filter == k.sys.FiltUser:
		return kindUser, true
	case k.sys.HasExcept && filter == k.sys.FiltExcept:
		return kindExcept, true
	}
	return 0, false
}

// register applies one change, as kqueue_register does, and returns its errno (0: applied).
func (k *Kernel) register(q *queue, ch *Kevent) unix.Errno {
	// FreeBSD kqueue_fo_find: an unknown filter is EINVAL (the model knows no other filter:
	// EVFILT_VNODE, EVFILT_TIMER and the rest are EINVAL here too).
	kd, ok := k.kindOf(ch.Filter)
	if !ok {
		return unix.EINVAL
	}
	flags := ch.Flags &^ evSysFlags
	switch k.flavour {
	case FreeBSD:
		// kqueue_register: "if ((kev->flags & (EV_ENABLE | EV_DISABLE)) == (EV_ENABLE |
		// EV_DISABLE)) return (EINVAL);"
		if flags&(EV_ENABLE|EV_DISABLE) == EV_ENABLE|EV_DISABLE {
			return unix.EINVAL
		}
	case Darwin:
		// XNU kevent_register: "Simplify the flags - delete and disable overrule".
		if flags&EV_DELETE != 0 {
			flags &^= EV_ADD
		}
		if flags&EV_DISABLE != 0 {
			flags &^= EV_ENABLE
		}
	case NetBSD:
		flags &^= EV_RECEIPT // modelled as NetBSD 9, whose x/sys has no EV_RECEIPT
	}
	if k.failChangeErrno != 0 && flags&k.failChangeFlags != 0 {
		e := k.failChangeErrno
		k.failChangeErrno, k.failChangeFlags = 0, 0
		return e
	}

	var w *watch
	if kd != kindUser {
		// FreeBSD kqueue_register: for an fd filter, an ident above INT_MAX or not an open
		// descriptor is EBADF (fget), before the knote is looked up, EV_DELETE included.
		if ch.Ident > math.MaxInt32 {
			return unix.EBADF
		}
		var st unix.Stat_t
		if unix.Fstat(int(ch.Ident), &st) != nil {
			return unix.EBADF
		}
		w = q.watchFor(int(ch.Ident), &st)
	}

	ky := key{ch.Ident, ch.Filter}
	kn := q.knotes[ky]
	if kn == nil {
		if flags&EV_ADD == 0 {
			if w != nil {
				q.updateEpoll(w) // forgets a watch created just for this lookup
			}
			return unix.ENOENT
		}
		if e := k.attachCheck(kd, w); e != 0 {
			q.updateEpoll(w)
			return e
		}
		kn = q.newKnote()
		*kn = knote{key: ky, kind: kd, w: w,
			flags:    flags & (EV_ONESHOT | EV_CLEAR | EV_DISPATCH),
			disabled: flags&EV_DISABLE != 0,
			sfflags:  ch.Fflags, sdata: ch.Data, udata: ch.Udata}
		// The flags a delivered event carries: FreeBSD copies the creating kevent and strips
		// EV_ADD, EV_DELETE, EV_ENABLE and EV_DISABLE (kn_kevent.flags &= ~(...)); XNU,
		// OpenBSD and NetBSD copy it whole (kn->kn_kevent = *kev), EV_ADD included.
		kn.evflags = flags
		if k.flavour == FreeBSD {
			kn.evflags &^= EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE
		}
		if w != nil {
			q.attach(kn)
			if err := q.updateEpoll(w); err != nil {
				q.deleteKnote(kn)
				if e, ok := err.(unix.Errno); ok {
					return e
				}
				return unix.ENOMEM
			}
		}
		q.knotes[ky] = kn
		if kd == kindUser {
			// FreeBSD filt_userattach: triggered at once if NOTE_TRIGGER is given.
			kn.sfflags = ch.Fflags & noteFFlagsMask
			kn.triggered = ch.Fflags&NOTE_TRIGGER != 0
		}
		if flags&EV_DELETE != 0 { // FreeBSD: EV_ADD|EV_DELETE creates, then drops
			q.deleteKnote(kn)
			return 0
		}
		if !kn.disabled {
			k.activate(q, kn)
		}
		return 0
	}

	if flags&EV_DELETE != 0 {
		q.deleteKnote(kn)
		return 0
	}
	// "The user may change some filter values after the initial EV_ADD, but doing so will
	// not reset any filter which has already been triggered" (FreeBSD, NetBSD, OpenBSD
	// kqueue_register). FreeBSD, NetBSD and XNU take udata (and fflags/data, or f_touch for
	// EVFILT_USER) from every change that is not EV_DELETE, EV_ENABLE and EV_DISABLE alone
	// included; OpenBSD only from EV_ADD (filter_modify) and, for EVFILT_USER, any change.
	// The creation flags (EV_CLEAR, EV_ONESHOT, EV_DISPATCH) are never changed.
	if flags&EV_ADD != 0 || k.flavour != OpenBSD || kd == kindUser {
		kn.udata = ch.Udata
		if kd == kindUser {
			k.userTouch(kn, ch)
		} else {
			kn.sfflags, kn.sdata = ch.Fflags, ch.Data
		}
	}
	// EV_ADD of an existing knote does not re-enable it: only EV_ENABLE clears KN_DISABLED
	// (FreeBSD kqueue_register "if ((kev->flags & EV_ENABLE) != 0) kn->kn_status &=
	// ~KN_DISABLED"; XNU knote_apply_touch; OpenBSD and NetBSD kqueue_register alike).
	// kqueue(2)'s "Adding an event automatically enables it" holds for a new knote.
	switch {
	case flags&EV_ENABLE != 0:
		kn.disabled = false
	case flags&EV_DISABLE != 0:
		kn.disabled = true
		q.dequeue(kn)
	}
	// Every kernel runs the filter again after a change to an enabled knote and queues it
	// if it fires (FreeBSD done_ev_add, XNU f_touch, OpenBSD filter_modify/filter_process,
	// NetBSD done_ev_add).
	if !kn.disabled {
		k.activate(q, kn)
	}
	return 0
}

// attachCheck is what the filter's attach routine refuses.
func (k *Kernel) attachCheck(kd kind, w *watch) unix.Errno {
	switch kd {
	case kindWrite:
		if w.mode != unix.S_IFIFO || !pipeReaderGone(w.fd) {
			return 0
		}
		// EVFILT_WRITE on a pipe whose other end is closed. FreeBSD sys_pipe.c
		// pipe_kqfilter: "if (cpipe->pipe_peer->pipe_present != PIPE_ACTIVE) ... return
		// (EPIPE)" (DragonFly the same). NetBSD sys_pipe.c pipe_kqfilter: "Other end of
		// pipe has been closed" ... return EBADF. XNU pipe_kqfilter attaches ("this isn't
		// a programming error as the other side closing could race with the kevent
		// registration") and filt_pipe_draincommon reports EV_EOF; OpenBSD pipe_kqfilter
		// attaches too ("the filter now always indicates a pending event").
		switch k.flavour {
		case FreeBSD:
			return unix.EPIPE
		case NetBSD:
			return unix.EBADF
		}
	case kindExcept:
		// XNU soo_kqfilter and OpenBSD soo_kqfilter take EVFILT_EXCEPT on sockets; XNU
		// pipe_kqfilter refuses it (EINVAL), OpenBSD pipe_kqfilter too ("Disallow usage
		// through kevent(2)").
		if w.mode != unix.S_IFSOCK {
			return unix.EINVAL
		}
	}
	return 0
}

func pipeReaderGone(fd int) bool {
	pfd := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	unix.Poll(pfd[:], 0)
	return pfd[0].Revents&unix.POLLERR != 0
}

// userTouch is FreeBSD filt_usertouch EVENT_REGISTER: NOTE_TRIGGER triggers the knote, and
// the NOTE_FFCTRLMASK bits say how the low 24 bits combine with the stored fflags.
func (k *Kernel) userTouch(kn *knote, ch *Kevent) {
	if ch.Fflags&NOTE_TRIGGER != 0 {
		kn.triggered = true
	}
	const (
		ffand  = 0x40000000
		ffor   = 0x80000000
		ffcopy = 0xc0000000
	)
	v := ch.Fflags & noteFFlagsMask
	switch ch.Fflags & ffcopy {
	case ffand:
		kn.sfflags &= v
	case ffor:
		kn.sfflags |= v
	case ffcopy:
		kn.sfflags = v
	}
	kn.sdata = ch.Data
	if ch.Flags&EV_CLEAR != 0 {
		kn.triggered = false // filt_usertouch: "if (kev->flags & EV_CLEAR) { kn->kn_hookid = 0; ...}"
	}
}

// activate runs the filter of an enabled, unqueued knote and queues it if it fires (FreeBSD
// knote_enqueue appends to kq_head: delivery is in activation order).
func (k *Kernel) activate(q *queue, kn *knote) {
	if kn == nil || kn.disabled {
		return
	}
	if kn.queued {
		if kn.flags&EV_ONESHOT != 0 {
			// A wakeup runs f_event on a queued knote too, which refreshes kn_data and can
			// set EV_EOF (FreeBSD knote() calls f_event for every knote on the list); an
			// EV_ONESHOT knote is later delivered with what that left.
			r := k.eval(kn)
			kn.snap.data = r.data
			if r.flags&EV_EOF != 0 {
				kn.snap.flags |= EV_EOF
				kn.snap.fflags = r.fflags
			}
		}
		return
	}
	if r := k.eval(kn); r.ready {
		kn.snap = r
		q.enqueue(kn)
	}
}

// pending turns the state changes epoll saw since the last call into activations, and
// re-checks the watched regular files.
func (k *Kernel) pending(q *queue) {
	var buf [64]unix.EpollEvent
	for _, ep := range []int{q.rdEp, q.wrEp} {
		for {
			n, err := unix.EpollWait(ep, buf[:], 0)
			if err == unix.EINTR {
				continue
			}
			for _, ev := range buf[:max(n, 0)] {
				w := q.watches[int(ev.Fd)]
				if w == nil || w.gen != uint32(ev.Pad) {
					continue
				}
				if ep == q.rdEp {
					k.activate(q, w.rd)
					k.activate(q, w.ex)
				} else {
					k.activate(q, w.wr)
				}
			}
			if n < len(buf) {
				break
			}
		}
	}
	if q.npolled == 0 {
		return
	}
	var st unix.Stat_t
	for _, w := range q.watches {
		if !w.polled {
			continue
		}
		if unix.Fstat(w.fd, &st) != nil || !w.names(&st) {
			q.dropWatch(w)
			continue
		}
		// A vnode knote is activated by writes to the file (VN_KNOTE NOTE_WRITE/NOTE_EXTEND);
		// the model sees a changed size. Level-triggered knotes are simply re-evaluated.
		grew := st.Size != w.lastSize
		w.lastSize = st.Size
		for _, kn := range []*knote{w.rd, w.wr} {
			if kn != nil && (grew || kn.flags&(EV_CLEAR|EV_ONESHOT|EV_DISPATCH) == 0) {
				k.activate(q, kn)
			}
		}
	}
}

// scan is kqueue_scan: it takes active knotes from the head of the queue, re-runs each
// filter, and writes up to len(events) results.
func (k *Kernel) scan(q *queue, events []Kevent) int {
	k.pending(q)
	q.dropClosedActive()
	n := 0
	// The knotes active now, each at most once per call (FreeBSD inserts a marker at the
	// tail of kq_head and stops there), so a level-triggered knote put back at the tail is not
	// delivered twice in one call, and a small event list rotates through all of them.
	for todo := q.nactive; todo > 0 && n < len(events); todo-- {
		kn := q.head
		q.dequeue(kn)
		var r result
		if kn.flags&EV_ONESHOT != 0 && k.flavour != Darwin {
			// FreeBSD, OpenBSD and NetBSD kqueue_scan deliver an EV_ONESHOT knote as it was
			// when activated, without calling f_event again. XNU knote_process always runs
			// the filter's f_process.
			r = kn.snap
		} else if r = k.eval(kn); !r.ready {
			// Not ready any more: dequeued, reported again after the next activation
			// (FreeBSD: f_event returned 0, KN_ACTIVE cleared).
			continue
		}
		events[n] = Kevent{Ident: kn.ident, Filter: kn.filter, Flags: kn.evflags | r.flags,
			Fflags: r.fflags, Data: r.data, Udata: kn.udata}
		n++
		k.afterDelivery(q, kn)
	}
	return n
}

// afterDelivery applies EV_ONESHOT, EV_CLEAR and EV_DISPATCH to a delivered knote.
func (k *Kernel) afterDelivery(q *queue, kn *knote) {
	if kn.flags&EV_ONESHOT != 0 {
		q.deleteKnote(kn)
		return
	}
	if k.flavour == NetBSD {
		// NetBSD kqueue_scan (9 and 10): one chain, if EV_ONESHOT ... else if EV_CLEAR ...
		// else if EV_DISPATCH ... else requeue. EV_CLEAR|EV_DISPATCH is cleared and never
		// disabled.
		switch {
		case kn.flags&EV_CLEAR != 0:
			kn.triggered = false
		case kn.flags&EV_DISPATCH != 0:
			kn.disabled = true
		default:
			q.enqueue(kn)
		}
		return
	}
	// FreeBSD kqueue_scan: else if (kn_flags & (EV_CLEAR|EV_DISPATCH)) { EV_CLEAR resets the
	// state; EV_DISPATCH sets KN_DISABLED; not requeued } else requeued at the tail.
	// OpenBSD kqueue_scan the same; XNU knote_process applies both too.
	if kn.flags&(EV_CLEAR|EV_DISPATCH) == 0 {
		q.enqueue(kn)
		return
	}
	if kn.flags&EV_CLEAR != 0 {
		kn.triggered = false
	}
	if kn.flags&EV_DISPATCH != 0 {
		kn.disabled = true
	}
}
