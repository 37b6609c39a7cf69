//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package poller

// The kqueue backend's bookkeeping that never touches the kernel: its registration table,
// the translation of a returned kevent to Flags, and the merging of an fd's read and write
// filters into one Event per Wait. It is written over plain Go types, not unix.Kevent_t
// (whose field types differ per BSD and which Linux lacks), so that its unit tests need no
// kernel; it is built where kqueue.go is: the BSDs, macOS, and Linux for the model.

// kqEPIPE is EPIPE on every BSD, for a write interest the kernel refused with it.
const kqEPIPE = 32

// kqFilter names the filter a returned kevent came from.
type kqFilter uint8

const (
	kqOther  kqFilter = iota // a filter the backend never registers for an fd
	kqRead                   // EVFILT_READ
	kqWrite                  // EVFILT_WRITE
	kqExcept                 // EVFILT_EXCEPT with NOTE_OOB
)

// kqKevent is what readiness depends on in one kevent returned by the kernel.
type kqKevent struct {
	fd     int
	filter kqFilter
	eof    bool   // EV_EOF
	failed bool   // EV_ERROR: data holds an errno, 0 for a mere receipt
	fflags uint32 // with EV_EOF on a socket: its pending error (so_error), if any
	data   int64
}

// readiness translates ev to readiness bits, before the interest bits that the package's
// readiness function adds for Hangup and Errored.
func (ev kqKevent) readiness() Flags {
	if ev.failed {
		if ev.data == 0 {
			return 0
		}
		return Errored
	}
	var r Flags
	switch ev.filter {
	case kqRead:
		r = Readable
	case kqWrite:
		r = Writable
	case kqExcept:
		// Out-of-band data pending: EV_EOF on this filter says nothing of a hangup.
		return Priority
	default:
		return 0
	}
	// kqueue(2): a socket whose read or write direction has shut down sets EV_EOF and
	// returns the socket error, if any, in fflags (a refused connect: ECONNREFUSED).
	// Only the read side makes a Hangup: every BSD also sets EV_EOF on EVFILT_WRITE once
	// the socket cannot send (FreeBSD uipc_socket.c filt_sowrite, SBS_CANTSENDMORE; XNU
	// filt_sowrite_common), which the caller's own shutdown(SHUT_WR) does, and Linux
	// reports plain writability then.
	if ev.eof {
		if ev.filter == kqRead {
			r |= Hangup
		}
		if ev.fflags != 0 {
			r |= Errored
		}
	}
	return r
}

// kqBufLen is how many kevents one kernel wait may return for room free Events: an fd has
// at most three filters, so room fds fit whole and merge, beside the wake; more distinct
// fds than room go to the pending queue.
func kqBufLen(room int) int { return 3*room + 1 }

// kqReg is one registration; gen 0 marks a free slot.
type kqReg struct {
	gen   uint32 // renewed by each Add and Modify: kernel results of older ones are dropped
	since uint32 // the gen of the Add: queued results of an earlier Add are dropped
	flags Flags
	armed bool // false once a one-shot fd was reported, until Modify
	// dirty marks a free slot whose Delete the kernel refused: knotes may be left.
	dirty bool
	// stuck marks write interest the kernel refused with EPIPE (a pipe whose reader is
	// gone, on FreeBSD and DragonFly): it is reported as a write filter with EV_EOF and
	// EPIPE would be, on every Wait, or once per registration if edge-triggered (seen).
	stuck, seen bool
	// batch and slot say where fd's Event is in the batch of the Wait numbered batch:
	// events[slot], or the pending queue at -1-slot. They survive Delete and Modify, so an
	// fd changed during a Wait still gets one Event in it.
	slot  int32
	batch uint64
}

// kqPending is a result the kernel returned that did not fit in the caller's events. Kept,
// not dropped: the kernel does not repeat EV_CLEAR and EV_DISPATCH events, and a dropped
// level-triggered result could starve an fd whose place in the kernel's queue keeps
// falling past the end of events.
type kqPending struct {
	fd         int
	gen, since uint32 // the registration's, when the result was collected
	ready      Flags
}

// kqTable is the kqueue backend's registration table, with the state of the batch that
// one Wait builds. regs is guarded by the Poller's mutex; batch, pending and head belong
// to the one Wait in progress.
type kqTable struct {
	regs    []kqReg // indexed by fd
	lastGen uint32

	batch   uint64
	pending []kqPending // served from head, first at the next Wait
	head    int

	stuck []int // fds that may have stuck write interest, guarded by mu
}

// lookup returns fd's registration, or nil if the table does not hold fd.
func (t *kqTable) lookup(fd int) *kqReg {
	if fd < 0 || fd >= len(t.regs) || t.regs[fd].gen == 0 {
		return nil
	}
	return &t.regs[fd]
}

// newGen returns a generation no registration has had yet (never 0), for the changes of
// an Add or Modify to carry before set records it.
func (t *kqTable) newGen() uint32 {
	t.lastGen++
	if t.lastGen == 0 {
		t.lastGen = 1
	}
	return t.lastGen
}

// set registers fd with flags, armed, under generation gen, with stuck write interest
// or not; fresh says it is an Add, not a Modify. Call it only after the kernel accepted
// fd, so that a bogus huge fd never grows the table.
func (t *kqTable) set(fd int, flags Flags, gen uint32, stuck, fresh bool) {
	if fd >= len(t.regs) {
		t.regs = append(t.regs, make([]kqReg, fd+1-len(t.regs)+len(t.regs)/2)...)
	}
	reg := &t.regs[fd]
	if fresh {
		reg.since = gen
	}
	if stuck && !reg.stuck {
		t.stuck = append(t.stuck, fd)
	}
	reg.gen, reg.flags, reg.armed = gen, flags, true
	reg.stuck, reg.seen = stuck, false
}

// remove forgets fd, which the table holds.
func (t *kqTable) remove(fd int) {
	reg := &t.regs[fd]
	reg.gen, reg.flags, reg.armed, reg.stuck = 0, 0, false, false
}

// hasStuck reports whether some fd may have stuck write interest.
func (t *kqTable) hasStuck() bool { return len(t.stuck) > 0 }

// serveStuck reports the fds with stuck write interest into the batch, whose first n
// Events are in events, and returns the new n.
func (t *kqTable) serveStuck(events []Event, n int) int {
	for i := 0; i < len(t.stuck); {
		fd := t.stuck[i]
		reg := t.lookup(fd)
		if reg == nil || !reg.stuck {
			t.stuck[i] = t.stuck[len(t.stuck)-1]
			t.stuck = t.stuck[:len(t.stuck)-1]
			continue
		}
		i++
		if reg.seen && reg.flags&EdgeTriggered != 0 {
			continue
		}
		reg.seen = true
		n = t.collect(events, n, kqKevent{fd: fd, filter: kqWrite, eof: true, fflags: kqEPIPE})
	}
	return n
}

// markDirty records that fd, just removed, may have knotes left in the kernel.
func (t *kqTable) markDirty(fd int) { t.regs[fd].dirty = true }

// dirty reports whether fd's knotes must be deleted before it is added again.
func (t *kqTable) dirty(fd int) bool { return fd < len(t.regs) && t.regs[fd].dirty }

// clean records that fd's left-over knotes are gone.
func (t *kqTable) clean(fd int) { t.regs[fd].dirty = false }

// begin starts the batch of one Wait.
func (t *kqTable) begin() { t.batch++ }

// queued reports whether results wait in the pending queue.
func (t *kqTable) queued() bool { return t.head < len(t.pending) }

// serve moves queued results into events, oldest first, and returns how many it placed.
// It drops those whose registration was deleted since, or whose fd is no longer open
// (open says; close(2) removed the fd's knotes, and the kernel reports a closed fd no
// more). A result survives a Modify, masked by the new interest: the kernel does not
// move a knote that is already active, so a fd modified before every Wait would
// otherwise never be reached. A one-shot fd that Modify re-armed spends the arming.
func (t *kqTable) serve(events []Event, open func(fd int) bool) int {
	n := 0
	for t.head < len(t.pending) && n < len(events) {
		p := t.pending[t.head]
		t.head++
		reg := t.lookup(p.fd)
		if reg == nil || reg.since != p.since || !open(p.fd) {
			continue
		}
		ready := p.ready & (reg.flags&interestMask | Hangup | Errored)
		if ready == 0 {
			continue
		}
		if reg.gen != p.gen && reg.flags&OneShot != 0 {
			if !reg.armed {
				continue
			}
			reg.armed = false
		}
		reg.batch, reg.slot = t.batch, int32(n)
		events[n] = Event{Fd: p.fd, Flags: readiness(ready, reg.flags)}
		n++
	}
	if t.head == len(t.pending) {
		t.pending, t.head = t.pending[:0], 0
	}
	return n
}

// collect merges one kernel result into the batch, whose first n Events are in events,
// and returns the new n. A second filter of an fd already in the batch joins its Event;
// a new fd takes the next slot, or the pending queue once events is full. Results for
// fds the table does not hold, for interest the fd no longer has, or for a one-shot fd
// already reported are dropped.
func (t *kqTable) collect(events []Event, n int, ev kqKevent) int {
	reg := t.lookup(ev.fd)
	if reg == nil {
		return n
	}
	ready := ev.readiness() & (reg.flags&interestMask | Hangup | Errored)
	if ready == 0 {
		return n
	}
	if reg.batch == t.batch {
		if s := int(reg.slot); s >= 0 {
			if s < n && events[s].Fd == ev.fd {
				events[s].Flags = readiness(events[s].Flags|ready, reg.flags)
				return n
			}
		} else if q := -1 - s; q >= t.head && q < len(t.pending) && t.pending[q].fd == ev.fd {
			t.pending[q].ready |= ready
			return n
		}
	}
	if !reg.armed {
		return n
	}
	if reg.flags&OneShot != 0 {
		reg.armed = false
	}
	reg.batch = t.batch
	if n < len(events) {
		reg.slot = int32(n)
		events[n] = Event{Fd: ev.fd, Flags: readiness(ready, reg.flags)}
		return n + 1
	}
	reg.slot = int32(-1 - len(t.pending))
	t.pending = append(t.pending, kqPending{fd: ev.fd, gen: reg.gen, since: reg.since, ready: ready})
	return n
}
