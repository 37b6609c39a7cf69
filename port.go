//go:build illumos || linux || solaris

package poller

import (
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rawpoll/poller/internal/portabi"
	"golang.org/x/sys/unix"
)

// The event ports backend. Its logic is compiled on Linux too, where the tests run it
// against a model of the illumos kernel (internal/portmodel); it reaches the kernel only
// through portKernel, which port_solaris.go implements over libc.
//
// port_associate(3C): "At most one event notification will be generated per associated
// file descriptor", and "When an event for a PORT_SOURCE_FD object is retrieved, the
// object no longer has an association with the port". So each fd has one association,
// made by Add and Modify; a Wait that reports an fd leaves it dissociated, and a
// level-triggered fd is associated again at the start of the next Wait. Re-associating
// then, not right after the report, matters: the kernel polls the fd at association time
// and delivers what it saw then (port_fd.c port_associate_fd sends revents from
// VOP_POLL; port_fd_callback delivers the stored events without polling again), so an fd
// re-associated before the caller read it would be reported once more after the read.
//
// EdgeTriggered is refused (ErrUnsupported). An association reports a state, not a
// change: re-associating an fd whose condition persists (a writable socket, unread data)
// reports it again at once, and leaving it dissociated misses the next change. An
// emulation would need to see the caller's EAGAIN, which the poller never does.

var _ backend = (*portBackend)(nil)

// portEvent is port_event_t.
type portEvent = portabi.Event

// portKernel is the seam between the backend and the kernel: port_create(3C),
// port_associate(3C) and port_dissociate(3C) for PORT_SOURCE_FD, port_getn(3C),
// port_send(3C) and close(2), with errors returned as unix.Errno values.
type portKernel interface {
	PortCreate() (int, error)
	PortAssociate(port, fd int, events int, user uintptr) error
	PortDissociate(port, fd int) error
	// PortGetn retrieves up to len(list) events, blocking until *nget of them are there
	// or timeout (nil: no limit) passes, and sets *nget to how many it retrieved. With
	// ETIME, *nget events may have been retrieved all the same (port_getn(3C)); with any
	// other error, none.
	PortGetn(port int, list []portEvent, nget *uint32, timeout *unix.Timespec) error
	PortSend(port int, events int, user uintptr) error
	// Poll is poll(2) with a zero timeout, events and revents in illumos's numbering.
	Poll(fds []unix.PollFd) error
	Close(port int) error
}

// portSys is what the kernel's event ports offer.
type portSys = portabi.Sys

// portMaxWait caps one port_getn timeout; Poller.Wait waits again for what remains.
const portMaxWait = 1e6 * time.Second

// portWakeUser is the user cookie of the wake's PORT_SOURCE_USER event. An fd's
// association carries its registration's generation instead, never 0.
const portWakeUser = 0

type portBackend struct {
	mu     *sync.Mutex
	kernel portKernel
	sys    portSys
	port   int

	regs    []portReg // indexed by fd, guarded by mu
	lastGen uint32
	// rearm lists the fds the last Wait reported that are to be associated again at
	// the start of the next one (portReg.rearm says which still are); guarded by mu.
	rearm []int
	// wakeQueued says a wake event is queued in the port and not yet retrieved: set by
	// wake before its port_send, cleared by the wait that retrieves it. While it is set a
	// port_getn returns at once, so a Wake sends no second event, and the port holds at
	// most one (a Wait that returned with events before reaching it leaves it queued).
	wakeQueued atomic.Bool

	// Only wait touches these.
	buf    []portEvent
	pfds   []unix.PollFd // the fds whose events a wait retrieved, to poll
	fired  []int16       // their revents as fired, should poll(2) fail
	nget   uint32
	ts     unix.Timespec
	noWait unix.Timespec // zero: a port_getn that polls
	batch  uint64        // numbers the Waits, for portReg.batch
}

// portReg is one registration; gen 0 marks a free slot.
type portReg struct {
	gen   uint32 // renewed by each Add and Modify: results of older associations are dropped
	flags Flags
	// associated says the kernel holds an association for the fd (armed, or fired and not
	// yet retrieved); false once a Wait retrieved its event.
	associated bool
	rearm      bool // in the rearm list: to be associated again by the next Wait
	// batch and slot say where fd's Event is in the batch of the Wait numbered batch.
	slot  int32
	batch uint64
}

func openPort(kernel portKernel, sys portSys, mu *sync.Mutex) (*portBackend, error) {
	port, err := kernel.PortCreate()
	if err != nil {
		return nil, os.NewSyscallError("port_create", err)
	}
	return &portBackend{mu: mu, kernel: kernel, sys: sys, port: port,
		buf: make([]portEvent, 65), pfds: make([]unix.PollFd, 65), fired: make([]int16, 65)}, nil
}

func (k *portBackend) add(fd int, flags Flags) error {
	if k.lookup(fd) != nil {
		return ErrExists
	}
	if fd == k.port {
		// A port associated with itself would report its own queue.
		return os.NewSyscallError("port_associate", unix.EINVAL)
	}
	gen := k.newGen()
	if err := k.associate(fd, flags, gen); err != nil {
		return err
	}
	reg := k.slot(fd)
	reg.gen, reg.flags, reg.associated, reg.rearm = gen, flags, true, false
	return nil
}

func (k *portBackend) modify(fd int, flags Flags) error {
	reg := k.lookup(fd)
	if reg == nil {
		return ErrNotRegistered
	}
	if reg.associated && flags == reg.flags {
		// The association in place is the one Modify would make, and it fires as soon
		// as the fd is ready. Making it again would drop its queued event and queue a
		// new one at the back (below), so that an fd modified before every Wait would
		// never reach the front of a full queue. Only a closed number is refused, as
		// port_associate would (a number closed and reused without Delete, which the
		// contract forbids, stays dissociated until a Modify that changes something).
		return checkFd("port_associate", fd)
	}
	// An association of an fd that has one replaces its events and user pointer, drops
	// an event it fired that is still queued, and polls the fd afresh (port_fd.c
	// port_associate_fd: "The file descriptor is already associated with the port").
	gen := k.newGen()
	if err := k.associate(fd, flags, gen); err != nil {
		if reg.associated {
			// port_associate_fd removes the fd's association when it fails after
			// updating it (its errout path): restore the old one, so that a failed
			// Modify leaves the registration as it was. Best effort: the kernel
			// refusing now what it accepted before is not reported twice.
			k.kernel.PortAssociate(k.port, fd, k.pollEvents(reg.flags), uintptr(reg.gen))
		}
		return err
	}
	reg.gen, reg.flags, reg.associated, reg.rearm = gen, flags, true, false
	return nil
}

func (k *portBackend) delete(fd int) error {
	reg := k.lookup(fd)
	if reg == nil {
		return ErrNotRegistered
	}
	associated := reg.associated
	reg.gen, reg.flags, reg.associated, reg.rearm = 0, 0, false, false
	if !associated {
		return nil
	}
	err := k.kernel.PortDissociate(k.port, fd)
	// ENOENT: a Wait has just retrieved its event, which dissociated it. EBADFD: the
	// caller closed fd first, and close(2) dissociated it (port.c: "If an associated
	// file descriptor is closed then the file descriptor will be dissociated
	// automatically from the port"). Either way nothing is left, and an event still in
	// flight carries a generation no registration has.
	if err != nil && err != unix.ENOENT && err != unix.EBADFD && err != unix.EBADF {
		return os.NewSyscallError("port_dissociate", err)
	}
	return nil
}

func (k *portBackend) wait(events []Event, timeout time.Duration) (int, error) {
	if len(k.buf) < len(events)+1 {
		k.buf = make([]portEvent, len(events)+1)
		k.pfds = make([]unix.PollFd, len(events)+1)
		k.fired = make([]int16, len(events)+1)
	}
	if len(k.rearm) > 0 {
		k.mu.Lock()
		k.rearmReported()
		k.mu.Unlock()
	}
	k.batch++
	ts := k.timespec(timeout)
	n := 0
	for {
		room := len(events) - n
		got, err := k.getn(k.buf[:room], ts)
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		n = k.collect(events, n, k.buf[:got])
		if got < room || n == len(events) {
			return n, nil
		}
		// port_getn filled the room it was given, but not all of it became Events: the
		// wake took a slot, or an fd had nothing left by the time it was polled. Others
		// may be queued behind them: look again, without waiting. Each look retrieves
		// (and dissociates) what it returns, so the loop ends with the queue.
		ts = &k.noWait
	}
}

// getn retrieves events into list, waiting per timeout for the first, and returns how
// many it retrieved.
func (k *portBackend) getn(list []portEvent, timeout *unix.Timespec) (int, error) {
	k.nget = 1
	err := k.kernel.PortGetn(k.port, list, &k.nget, timeout)
	switch {
	case err == nil:
	case err == unix.ETIME:
		// port_getn(3C): the time passed before nget events arrived; those that did
		// are retrieved all the same, and dissociated: they must be reported.
	case err == unix.EINTR:
		// port.c port_getn: a signal ends the sleep "without events".
		return 0, unix.EINTR
	default:
		return 0, os.NewSyscallError("port_getn", err)
	}
	return min(int(k.nget), len(list)), nil
}

func (k *portBackend) wake() error {
	// port_send(3C) queues a PORT_SOURCE_USER event, which wakes a blocked port_getn and
	// is consumed by the port_getn that retrieves it. EAGAIN: the port holds as many
	// events as process.max-port-events allows, so a port_getn returns at once anyway.
	if k.wakeQueued.Swap(true) {
		return nil
	}
	if err := k.kernel.PortSend(k.port, 0, portWakeUser); err != nil {
		k.wakeQueued.Store(false)
		if err != unix.EAGAIN {
			return os.NewSyscallError("port_send", err)
		}
	}
	return nil
}

func (k *portBackend) close() error {
	if err := k.kernel.Close(k.port); err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}

// pollFd is the port descriptor, for Config.Park: a port polls POLLIN while events are
// queued on it (portfs port_vnops.c port_poll), so Go's runtime poller, itself an event
// port on illumos, can wait on it. The model's descriptor on Linux polls the same way.
func (k *portBackend) pollFd() int { return k.port }

// support says what the backend honours: no EdgeTriggered (see the top of this file).
func (k *portBackend) support() support {
	return support{interests: Readable | Writable | Priority, modes: OneShot}
}

// associate associates fd for flags under generation gen.
func (k *portBackend) associate(fd int, flags Flags, gen uint32) error {
	err := k.kernel.PortAssociate(k.port, fd, k.pollEvents(flags), uintptr(gen))
	if err == nil {
		return nil
	}
	if err == unix.EBADFD {
		// port_fd.c port_associate_fd answers a closed (or negative, or too large) fd
		// with EBADFD; callers of every backend check for EBADF.
		err = unix.EBADF
	}
	return os.NewSyscallError("port_associate", err)
}

// rearmReported associates again the level-triggered fds the last Wait reported, so that
// the kernel polls them now. One it cannot associate stays in the list, to be tried
// again by the next Wait; one the caller closed without Delete (EBADFD) goes silent,
// as it would on kqueue.
func (k *portBackend) rearmReported() {
	keep := k.rearm[:0]
	for _, fd := range k.rearm {
		reg := k.lookup(fd)
		if reg == nil || !reg.rearm {
			continue
		}
		err := k.kernel.PortAssociate(k.port, fd, k.pollEvents(reg.flags), uintptr(reg.gen))
		switch err {
		case nil:
			reg.rearm, reg.associated = false, true
		case unix.EBADFD, unix.EBADF:
			reg.rearm = false
		default:
			keep = append(keep, fd)
		}
	}
	k.rearm = keep
}

// collect turns the retrieved events evs into Events after the first n of events and
// returns the new n.
// Retrieving an fd's event dissociated the fd: a level-triggered fd is listed for
// re-association by the next Wait, a one-shot fd that is reported stays silent until
// Modify.
//
// An event holds what the fd's poll answered when its association fired (port_fd.c
// port_fd_callback delivers the stored portkev_events), which may be long before: an fd
// asked for Readable|Writable that fired writable at Add is readable too once data came,
// and one that fired readable may have been drained since. So the event says which fds
// to look at, and one poll(2) of those fds says what holds now: an fd with nothing left
// is not reported (and is re-associated, one-shot or not).
func (k *portBackend) collect(events []Event, n int, evs []portEvent) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	pfds := k.pfds[:0]
	for i := range evs {
		ev := &evs[i]
		if ev.Source != portabi.SourceFd {
			if ev.Source == portabi.SourceUser && ev.User == portWakeUser {
				// The wake, which retrieving consumed.
				k.wakeQueued.Store(false)
			}
			continue
		}
		if ev.Object > uintptr(^uint32(0)>>1) {
			continue
		}
		fd := int(ev.Object)
		reg := k.lookup(fd)
		// Only an event tagged with the fd's current registration counts: a Delete and
		// Add, or a Modify, between the kernel's answer and this loop must not be
		// credited with it.
		if reg == nil || ev.User != uintptr(reg.gen) || !reg.associated {
			continue
		}
		reg.associated = false
		pfds = append(pfds, unix.PollFd{Fd: int32(fd), Events: int16(k.pollEvents(reg.flags))})
		// Kept for the fallback below, should poll(2) fail.
		pfds[len(pfds)-1].Revents = int16(ev.Events)
	}
	if len(pfds) == 0 {
		return n
	}
	fired := k.fired[:len(pfds)]
	for i := range pfds {
		fired[i] = pfds[i].Revents
		pfds[i].Revents = 0
	}
	if err := k.kernel.Poll(pfds); err != nil {
		for i := range pfds {
			pfds[i].Revents = fired[i]
		}
	}
	for i := range pfds {
		fd := int(pfds[i].Fd)
		reg := &k.regs[fd]
		if pfds[i].Revents&portabi.POLLNVAL != 0 {
			// Closed since its event fired (without Delete): close(2) dissociated it,
			// and it stays silent, as it would had the close come first.
			continue
		}
		ready := k.readiness(int32(uint16(pfds[i].Revents))) & (reg.flags&interestMask | Hangup | Errored)
		if ready == 0 || n == len(events) || reg.flags&OneShot == 0 {
			// Not reported now, or level-triggered: associated again by the next Wait.
			// (n == len(events) cannot happen: at most one event per fd, and no more
			// than events holds, are retrieved.)
			if !reg.rearm {
				reg.rearm = true
				k.rearm = append(k.rearm, fd)
			}
		}
		if ready == 0 {
			continue
		}
		if reg.batch == k.batch && int(reg.slot) < n && events[reg.slot].Fd == fd {
			// Reported already by this Wait's earlier look, and associated again
			// meanwhile by a Modify: one Event per fd.
			events[reg.slot].Flags = readiness(events[reg.slot].Flags|ready, reg.flags)
			continue
		}
		if n == len(events) {
			continue
		}
		reg.batch, reg.slot = k.batch, int32(n)
		events[n] = Event{Fd: fd, Flags: readiness(ready, reg.flags)}
		n++
	}
	return n
}

// pollEvents returns the poll(2) events to associate an fd registered with flags for.
// POLLHUP and POLLERR need no asking (port_associate_fd keeps them in revents whatever
// the events); POLLRDHUP does, and is asked for with Readable, as the epoll backend asks
// for EPOLLRDHUP: a half-close is news to a reader, and would wake a writer that cannot
// act on it on every level-triggered Wait.
func (k *portBackend) pollEvents(flags Flags) int {
	var ev int
	if flags&Readable != 0 {
		ev |= portabi.POLLIN
	}
	if flags&Writable != 0 {
		ev |= portabi.POLLOUT
	}
	if flags&Priority != 0 {
		ev |= portabi.POLLPRI
	}
	if k.sys.RDHUP && flags&Readable != 0 {
		ev |= portabi.POLLRDHUP
	}
	return ev
}

// readiness translates the revents of a PORT_SOURCE_FD event to readiness bits, before
// the interest bits that the package's readiness function adds for Hangup and Errored.
func (k *portBackend) readiness(revents int32) Flags {
	var r Flags
	if revents&(portabi.POLLIN|portabi.POLLRDNORM) != 0 {
		r |= Readable
	}
	if revents&(portabi.POLLOUT|portabi.POLLWRBAND) != 0 {
		r |= Writable
	}
	if revents&(portabi.POLLPRI|portabi.POLLRDBAND) != 0 {
		r |= Priority
	}
	if revents&(portabi.POLLHUP|portabi.POLLRDHUP) != 0 {
		r |= Hangup
	}
	if revents&(portabi.POLLERR|portabi.POLLNVAL) != 0 {
		r |= Errored
	}
	return r
}

// lookup returns fd's registration, or nil if the backend does not hold fd.
func (k *portBackend) lookup(fd int) *portReg {
	if fd < 0 || fd >= len(k.regs) || k.regs[fd].gen == 0 {
		return nil
	}
	return &k.regs[fd]
}

// slot returns fd's table entry, growing the table. Call it only after the kernel
// accepted fd, so that a bogus huge fd never grows the table.
func (k *portBackend) slot(fd int) *portReg {
	if fd >= len(k.regs) {
		k.regs = append(k.regs, make([]portReg, fd+1-len(k.regs)+len(k.regs)/2)...)
	}
	return &k.regs[fd]
}

// newGen returns a generation no registration has had yet (never 0).
func (k *portBackend) newGen() uint32 {
	k.lastGen++
	if k.lastGen == 0 {
		k.lastGen = 1
	}
	return k.lastGen
}

// timespec returns the port_getn timeout for d: nil to block, zero to poll.
func (k *portBackend) timespec(d time.Duration) *unix.Timespec {
	if d < 0 {
		return nil
	}
	if d > portMaxWait {
		d = portMaxWait
	}
	k.ts = unix.NsecToTimespec(int64(d))
	return &k.ts
}
