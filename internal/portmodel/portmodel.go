//go:build linux

package portmodel

import (
	"math"
	"sync"
	"time"

	"github.com/rawpoll/poller/internal/portabi"
	"golang.org/x/sys/unix"
)

// Event is port_event_t as the poller's event ports backend uses it: the same type, so
// that a *Kernel is that backend's kernel without any conversion.
type Event = portabi.Event

// Sys is what a flavour's event ports offer.
type Sys = portabi.Sys

// Flavour selects which kernel the model imitates.
type Flavour int

// Illumos is the only flavour: see the package documentation for Solaris.
const Illumos Flavour = 1

// String returns the flavour's GOOS: "illumos".
func (f Flavour) String() string {
	if f == Illumos {
		return "illumos"
	}
	return "unknown"
}

// Flavours returns every flavour.
func Flavours() []Flavour { return []Flavour{Illumos} }

// Sys returns what the flavour offers: illumos has POLLRDHUP.
func (f Flavour) Sys() Sys { return Sys{RDHUP: f == Illumos} }

// Kernel is one modelled kernel: the ports it created and its pending faults. All its
// methods are safe for concurrent use.
type Kernel struct {
	flavour Flavour
	sys     Sys

	mu    sync.Mutex
	ports map[int]*port // by the descriptor PortCreate returned

	failGetn  unix.Errno
	failAssoc unix.Errno
}

// New returns a kernel of flavour f.
func New(f Flavour) *Kernel {
	return &Kernel{flavour: f, sys: f.Sys(), ports: make(map[int]*port)}
}

// FailGetn makes the next PortGetn fail with errno: EINTR ends it with no events, as a
// signal does; ETIME ends it at once with the events queued, as an expiring timeout does.
func (k *Kernel) FailGetn(errno unix.Errno) {
	k.mu.Lock()
	k.failGetn = errno
	k.mu.Unlock()
}

// FailAssociate makes the next PortAssociate fail with errno (ENOMEM, EAGAIN) without
// effect.
func (k *Kernel) FailAssociate(errno unix.Errno) {
	k.mu.Lock()
	k.failAssoc = errno
	k.mu.Unlock()
}

// assoc is one PORT_SOURCE_FD association (port_fd.c's portfd_t and its port_kevent_t).
type assoc struct {
	fd       int
	dev, ino uint64
	events   int32 // asked for (pd_events)
	user     uintptr
	armed    bool  // PORT_KEV_VALID: may fire
	fired    bool  // PORT_KEV_DONEQ: its event is queued
	revents  int32 // what it fired with
	polled   bool  // epoll refuses it (regular file, directory): never woken
	inEp     bool
	gen      uint32 // carried in the epoll event, so a wakeup of an earlier association is ignored
}

// qent is one queued event: a fired association's, or a user event's. source 0 marks one
// removed from the queue.
type qent struct {
	a      *assoc
	source uint16
	events int32
	user   uintptr
}

// port is one event port.
type port struct {
	userFd int // the descriptor PortCreate returned: a duplicate of ep
	// ep is an epoll instance holding watchEp and evfd, level-triggered, so that it (and
	// userFd) is readable while events are queued or a watched descriptor changed.
	ep      int
	watchEp int  // the associated descriptors, edge-triggered
	evfd    int  // readable while events are queued
	nonzero bool // evfd holds a count
	evbuf   [8]byte
	epbuf   [64]unix.EpollEvent
	sleep   [4]unix.EpollEvent

	assocs map[int]*assoc
	free   []*assoc
	hadFd  bool // an fd was ever associated (port_dissociate_fd: "no file descriptor cache")
	queue  []qent
	head   int
	nlive  int
	gen    uint32

	closed  bool
	waiters int // callers sleeping in epoll_wait(ep): ep and evfd close when the last leaves
}

// PortCreate creates a port and returns its descriptor: a real close-on-exec Linux
// descriptor (an epoll instance) that polls readable while events are queued.
func (k *Kernel) PortCreate() (int, error) {
	p, err := newPort()
	if err != nil {
		return -1, err
	}
	k.mu.Lock()
	k.ports[p.userFd] = p
	k.mu.Unlock()
	return p.userFd, nil
}

func newPort() (p *port, err error) {
	p = &port{userFd: -1, ep: -1, watchEp: -1, evfd: -1, assocs: make(map[int]*assoc)}
	defer func() {
		if err != nil {
			if p.userFd >= 0 {
				unix.Close(p.userFd)
			}
			p.release()
			p = nil
		}
	}()
	if p.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return p, err
	}
	if p.watchEp, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return p, err
	}
	if p.evfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return p, err
	}
	for _, fd := range []int{p.watchEp, p.evfd} {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err = unix.EpollCtl(p.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return p, err
		}
	}
	if p.userFd, err = unix.FcntlInt(uintptr(p.ep), unix.F_DUPFD_CLOEXEC, 0); err != nil {
		return p, err
	}
	return p, nil
}

// release closes the model's own descriptors (not userFd).
func (p *port) release() {
	for _, fd := range []*int{&p.ep, &p.watchEp, &p.evfd} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
}

// Close closes the port descriptor and discards its associations and events. A PortGetn
// sleeping on the port returns EBADF.
func (k *Kernel) Close(port int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	p := k.ports[port]
	if p == nil {
		return unix.EBADF
	}
	delete(k.ports, port)
	p.closed = true
	err := unix.Close(p.userFd)
	if p.waiters > 0 {
		// Wake the sleepers; the last one to leave closes ep and evfd, so that no sleeper
		// waits on a number that was closed and reused.
		one := [8]byte{1}
		unix.Write(p.evfd, one[:])
	} else {
		p.release()
	}
	return err
}

// PortAssociate is port_associate(port, PORT_SOURCE_FD, fd, events, user).
func (k *Kernel) PortAssociate(port, fd int, events int, user uintptr) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	p := k.ports[port]
	if p == nil {
		return unix.EBADF
	}
	if e := k.failAssoc; e != 0 {
		k.failAssoc = 0
		return e
	}
	// port_associate_fd: "if (object > (uintptr_t)INT_MAX) return (EBADFD)"; getf of a
	// closed descriptor: EBADFD too. A negative int is a huge uintptr_t.
	if fd < 0 || fd > math.MaxInt32 {
		return unix.EBADFD
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return unix.EBADFD
	}
	a := p.assocs[fd]
	if a != nil && !a.names(&st) {
		// The number was closed (which dissociated it) and now names another file.
		p.drop(a)
		a = nil
	}
	if a == nil {
		var err error
		if a, err = p.newAssoc(fd, &st); err != nil {
			return err
		}
	} else if a.fired {
		// "Remove any events that where already fired for this fd and are still in the
		// port queue."
		p.unqueue(a)
	}
	a.events, a.user, a.armed = int32(events), user, true
	k.check(p, a)
	p.sync()
	return nil
}

// PortDissociate is port_dissociate(port, PORT_SOURCE_FD, fd).
func (k *Kernel) PortDissociate(port, fd int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	p := k.ports[port]
	if p == nil {
		return unix.EBADF
	}
	// port_dissociate_fd, in its order: a large object EBADFD; no fd ever associated
	// ENOENT; a closed fd EBADFD; no association ENOENT; else removed, ENOENT if it was
	// neither armed nor queued ("Return ENOENT if there was no active association").
	if fd < 0 || fd > math.MaxInt32 {
		return unix.EBADFD
	}
	if !p.hadFd {
		return unix.ENOENT
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		if a := p.assocs[fd]; a != nil {
			p.drop(a)
		}
		return unix.EBADFD
	}
	a := p.assocs[fd]
	if a == nil {
		return unix.ENOENT
	}
	if !a.names(&st) {
		p.drop(a)
		return unix.ENOENT
	}
	active := a.armed || a.fired
	p.drop(a)
	p.sync()
	if !active {
		return unix.ENOENT
	}
	return nil
}

// PortSend is port_send(port, events, user): a PORT_SOURCE_USER event.
func (k *Kernel) PortSend(port int, events int, user uintptr) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	p := k.ports[port]
	if p == nil {
		return unix.EBADF
	}
	p.enqueue(qent{source: portabi.SourceUser, events: int32(events), user: user})
	p.sync()
	return nil
}

// PortGetn is port_getn(port, list, len(list), nget, timeout): it retrieves up to
// len(list) events once *nget are queued, or what is queued when the timeout passes
// (ETIME) or is zero, and sets *nget to how many it retrieved. With EINTR and the other
// errors *nget is left as it was, as libc's port_getn leaves it.
func (k *Kernel) PortGetn(port int, list []Event, nget *uint32, timeout *unix.Timespec) error {
	k.mu.Lock()
	p := k.ports[port]
	if p == nil {
		k.mu.Unlock()
		return unix.EBADF
	}
	want := int(*nget)
	// port.c port_getn: "if (*nget > max && max > 0) return (EINVAL)"; max 0 answers the
	// number of queued events.
	if len(list) == 0 {
		k.pending(p)
		*nget = uint32(p.nlive)
		k.mu.Unlock()
		return nil
	}
	if want > len(list) {
		k.mu.Unlock()
		return unix.EINVAL
	}
	if timeout != nil && (timeout.Sec < 0 || timeout.Nsec < 0 || timeout.Nsec >= 1e9) {
		k.mu.Unlock()
		return unix.EINVAL // port_get_timeout: itimerspecfix
	}
	if e := k.failGetn; e != 0 {
		k.failGetn = 0
		if e == unix.ETIME {
			k.pending(p)
			*nget = uint32(k.deliver(p, list))
		}
		p.sync()
		k.mu.Unlock()
		return e
	}
	var deadline time.Time
	if timeout != nil {
		deadline = time.Now().Add(time.Duration(timeout.Nano()))
	}
	for {
		k.pending(p)
		poll := timeout != nil && timeout.Sec == 0 && timeout.Nsec == 0
		if p.nlive >= want || poll {
			n := k.deliver(p, list)
			if n == 0 && !poll {
				// Only events of descriptors closed meanwhile, which the kernel would
				// have discarded at the close: nothing arrived, sleep on.
				continue
			}
			*nget = uint32(n)
			p.sync()
			k.mu.Unlock()
			return nil
		}
		ms := -1
		if timeout != nil {
			left := time.Until(deadline)
			if left <= 0 {
				// The time passed: what arrived is retrieved, and ETIME says it is
				// fewer than nget.
				*nget = uint32(k.deliver(p, list))
				p.sync()
				k.mu.Unlock()
				return unix.ETIME
			}
			ms = int((left + time.Millisecond - 1) / time.Millisecond)
		}
		p.sync()
		p.waiters++
		ep := p.ep
		k.mu.Unlock()
		// Sleep without the mutex: ep is readable when an associated descriptor changed
		// (watchEp) or an event was queued by another caller (evfd).
		_, err := unix.EpollWait(ep, p.sleep[:], ms)
		k.mu.Lock()
		p.waiters--
		if p.closed {
			if p.waiters == 0 {
				p.release()
			}
			k.mu.Unlock()
			return unix.EBADF
		}
		if err == unix.EINTR {
			// port_getn: cv_waituntil_sig returned 0, "return without events".
			p.sync()
			k.mu.Unlock()
			return unix.EINTR
		}
		if err != nil {
			k.mu.Unlock()
			return err
		}
	}
}

// Poll is poll(2) with a zero timeout, its events and revents in illumos's numbering: it
// sets each Revents to what holds of its Events, plus POLLHUP, POLLERR and POLLNVAL
// (POLLNVAL alone for a closed fd).
func (k *Kernel) Poll(fds []unix.PollFd) error {
	for i := range fds {
		pfd := &fds[i]
		var st unix.Stat_t
		if unix.Fstat(int(pfd.Fd), &st) != nil {
			pfd.Revents = portabi.POLLNVAL
			continue
		}
		events := int32(uint16(pfd.Events))
		pfd.Revents = int16(k.revents(int(pfd.Fd)) & (events | portabi.POLLHUP | portabi.POLLERR | portabi.POLLNVAL))
	}
	return nil
}

// newAssoc makes an association of fd, which names the file st describes, and registers
// it for wakeups.
func (p *port) newAssoc(fd int, st *unix.Stat_t) (*assoc, error) {
	var a *assoc
	if n := len(p.free); n > 0 {
		a = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		a = new(assoc)
	}
	p.gen++
	*a = assoc{fd: fd, dev: uint64(st.Dev), ino: uint64(st.Ino), gen: p.gen}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLPRI | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd: int32(fd), Pad: int32(a.gen)}
	err := unix.EpollCtl(p.watchEp, unix.EPOLL_CTL_ADD, fd, &ev)
	if err == unix.EEXIST {
		// An earlier association of this number (closed while a duplicate kept the file
		// open): take its registration over with our tag.
		err = unix.EpollCtl(p.watchEp, unix.EPOLL_CTL_MOD, fd, &ev)
	}
	switch err {
	case nil:
		a.inEp = true
	case unix.EPERM:
		// A regular file or directory, which polls ready at once (fs_poll) and has no
		// wakeups to wait for; /proc files that do (mountinfo's POLLPRI) epoll takes.
		a.polled = true
	default:
		p.free = append(p.free, a)
		return nil, err
	}
	p.assocs[fd] = a
	p.hadFd = true
	return a, nil
}

// drop removes an association and its queued event.
func (p *port) drop(a *assoc) {
	if a.fired {
		p.unqueue(a)
	}
	if p.assocs[a.fd] == a {
		delete(p.assocs, a.fd)
	}
	if a.inEp {
		unix.EpollCtl(p.watchEp, unix.EPOLL_CTL_DEL, a.fd, nil)
	}
	*a = assoc{}
	p.free = append(p.free, a)
}

// names reports whether st describes the file the association was made for (st_dev and
// st_ino differ in width between architectures, hence the conversions).
func (a *assoc) names(st *unix.Stat_t) bool {
	return uint64(st.Dev) == a.dev && uint64(st.Ino) == a.ino
}

// alive reports whether the association's number still names its file.
func (a *assoc) alive() bool {
	var st unix.Stat_t
	return unix.Fstat(a.fd, &st) == nil && a.names(&st)
}

func (p *port) enqueue(e qent) {
	if p.head == len(p.queue) {
		p.queue, p.head = p.queue[:0], 0
	}
	p.queue = append(p.queue, e)
	p.nlive++
}

// unqueue removes a's queued event.
func (p *port) unqueue(a *assoc) {
	for i := p.head; i < len(p.queue); i++ {
		if p.queue[i].a == a && p.queue[i].source == portabi.SourceFd {
			p.queue[i] = qent{}
			p.nlive--
			break
		}
	}
	a.fired = false
}

// sync makes evfd readable exactly while events are queued, so the port descriptor polls
// readable when a port_getn would return something, and a sleeping PortGetn wakes when
// another goroutine queues an event.
func (p *port) sync() {
	if p.closed {
		return
	}
	want := p.nlive > 0
	switch {
	case want && !p.nonzero:
		p.evbuf = [8]byte{1}
		unix.Write(p.evfd, p.evbuf[:])
		p.nonzero = true
	case !want && p.nonzero:
		unix.Read(p.evfd, p.evbuf[:])
		p.nonzero = false
	}
}

// check polls an armed association and fires it if an asked-for condition holds:
// port_associate_fd's VOP_POLL and the pollwakeup() that follows a change.
func (k *Kernel) check(p *port, a *assoc) {
	if !a.armed {
		return
	}
	revents := k.revents(a.fd)
	// port_associate_fd: "revents = revents & (pdp->pd_events | POLLHUP | POLLERR)".
	revents &= a.events | portabi.POLLHUP | portabi.POLLERR
	if revents == 0 {
		return
	}
	a.armed, a.fired, a.revents = false, true, revents
	p.enqueue(qent{a: a, source: portabi.SourceFd})
}

// revents polls fd and returns what holds, in illumos's numbering.
func (k *Kernel) revents(fd int) int32 {
	pfd := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLOUT | unix.POLLPRI | unix.POLLRDHUP}}
	if _, err := unix.Poll(pfd[:], 0); err != nil {
		return 0
	}
	rev := pfd[0].Revents
	var r int32
	for _, m := range [...]struct {
		linux   int16
		illumos int32
	}{
		{unix.POLLIN, portabi.POLLIN}, {unix.POLLPRI, portabi.POLLPRI}, {unix.POLLOUT, portabi.POLLOUT},
		{unix.POLLERR, portabi.POLLERR}, {unix.POLLHUP, portabi.POLLHUP}, {unix.POLLNVAL, portabi.POLLNVAL},
	} {
		if rev&m.linux != 0 {
			r |= m.illumos
		}
	}
	if rev&unix.POLLRDHUP != 0 && k.sys.RDHUP {
		r |= portabi.POLLRDHUP
	}
	return r
}

// pending turns the changes epoll saw since the last call into pollwakeup()s of the
// armed associations.
func (k *Kernel) pending(p *port) {
	for {
		n, err := unix.EpollWait(p.watchEp, p.epbuf[:], 0)
		if err == unix.EINTR {
			continue
		}
		for _, ev := range p.epbuf[:max(n, 0)] {
			a := p.assocs[int(ev.Fd)]
			if a == nil || a.gen != uint32(ev.Pad) || !a.armed {
				continue
			}
			if !a.alive() {
				p.drop(a) // closed: close(2) dissociated it
				continue
			}
			k.check(p, a)
		}
		if n < len(p.epbuf) {
			return
		}
	}
}

// deliver moves up to len(list) queued events into list, oldest first, and returns how
// many. A delivered PORT_SOURCE_FD event leaves its association idle: dissociated, until
// the next port_associate. The event of a descriptor closed meanwhile is discarded.
func (k *Kernel) deliver(p *port, list []Event) int {
	n := 0
	for n < len(list) && p.head < len(p.queue) {
		e := p.queue[p.head]
		p.queue[p.head] = qent{}
		p.head++
		if e.source == 0 {
			continue
		}
		p.nlive--
		if e.source == portabi.SourceUser {
			list[n] = Event{Events: e.events, Source: portabi.SourceUser, User: e.user}
			n++
			continue
		}
		a := e.a
		a.fired = false
		if !a.alive() {
			p.drop(a)
			continue
		}
		list[n] = Event{Events: a.revents, Source: portabi.SourceFd, Object: uintptr(a.fd), User: a.user}
		n++
	}
	if p.head == len(p.queue) {
		p.queue, p.head = p.queue[:0], 0
	}
	return n
}
