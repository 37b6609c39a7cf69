package poller

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Flags says what a caller is interested in (Add, Modify) and what is ready (Event).
type Flags uint32

const (
	// Readable is interest in, and readiness of, data or EOF to read, or a connection to accept.
	Readable Flags = 1 << iota
	// Writable is interest in, and readiness of, room to write; a non-blocking connect
	// that finished, well or badly, also makes its socket writable.
	Writable
	// EdgeTriggered is a mode: report each change of state once, instead of on every Wait
	// while the condition holds. The caller must drain the fd until EAGAIN.
	EdgeTriggered
	// OneShot is a mode: report the fd once, then keep it registered but silent until
	// Modify re-arms it.
	OneShot
	// Hangup is readiness only: the peer closed, or shut down its writing side.
	Hangup
	// Errored is readiness only: an error is pending on the fd (read it with SO_ERROR),
	// or the fd was closed while still registered (poll and select).
	Errored
	// Priority is interest in, and readiness of, an exceptional condition: the kernel's
	// POLLPRI (EPOLLPRI on epoll, the except set on select). TCP urgent data (MSG_OOB),
	// an edge on a sysfs GPIO value file, a change of /proc/self/mountinfo and a pty in
	// packet mode raise it. It may stand alone: Add(fd, Priority) waits for nothing else.
	// A backend that cannot wait for it gives ErrUnsupported at Add and Modify.
	Priority
)

const (
	interestMask = Readable | Writable | Priority
	modeMask     = EdgeTriggered | OneShot
)

var flagNames = [...]string{"Readable", "Writable", "EdgeTriggered", "OneShot", "Hangup", "Errored", "Priority"}

// String returns the set bits joined by "|", such as "Readable|Hangup", "0" for none,
// and unknown bits in hexadecimal.
func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	for i, name := range flagNames {
		if f&(1<<i) != 0 {
			parts = append(parts, name)
			f &^= 1 << i
		}
	}
	if f != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(f), 16))
	}
	return strings.Join(parts, "|")
}

// Event is one ready fd, as filled in by Wait.
type Event struct {
	Fd    int
	Flags Flags // readiness bits only: Readable, Writable, Priority, Hangup, Errored
}

// Backend names a readiness mechanism.
type Backend uint8

const (
	// BackendEpoll is Linux's epoll(7).
	BackendEpoll Backend = iota + 1
	// BackendKqueue is kqueue(2) on FreeBSD, OpenBSD, NetBSD, DragonFly BSD and macOS.
	BackendKqueue
	// BackendPoll is poll(2), on every Unix: no fd ceiling, O(registered fds) per Wait.
	BackendPoll
	// BackendSelect is select(2), on every Unix: fds below FdSetSize only, O(highest fd) per Wait.
	BackendSelect
	// BackendPort is event ports (port_create(3C)) on illumos and Solaris: level-triggered
	// and one-shot, no edge-triggered mode.
	BackendPort
)

// String returns "epoll", "kqueue", "poll", "select" or "port".
func (b Backend) String() string {
	switch b {
	case BackendEpoll:
		return "epoll"
	case BackendKqueue:
		return "kqueue"
	case BackendPoll:
		return "poll"
	case BackendSelect:
		return "select"
	case BackendPort:
		return "port"
	}
	return "Backend(" + strconv.Itoa(int(b)) + ")"
}

// backend is what each mechanism implements, one file each, with the methods in this order.
// Poller has done the shared checks before it calls in: the poller is open, fd >= 0, the
// flags are valid, and their interest and mode are ones the backend honours (its
// support, which openBackend returns with it). mu is the
// Poller's mutex: add, modify, delete, wake and close are called with it held, and wait
// takes it itself while it reads the registration table, never across the kernel call.
type backend interface {
	// add registers fd; ErrExists if the backend already holds it.
	add(fd int, flags Flags) error
	// modify replaces fd's interest and mode and re-arms a one-shot fd.
	modify(fd int, flags Flags) error
	// delete forgets fd. It succeeds for any fd the backend holds, even one the caller
	// closed first, so that the number can be added again.
	delete(fd int) error
	// wait makes one kernel wait of at most timeout (negative: no limit, zero: a poll),
	// drains the wake descriptor if it fired, and fills events. It may return 0 early,
	// with or without EINTR: Poller decides whether to wait again.
	wait(events []Event, timeout time.Duration) (int, error)
	// wake makes the wake descriptor ready.
	wake() error
	// close releases every descriptor the backend opened.
	close() error
}

// support is what a backend honours beyond Readable and Writable, which every backend
// waits for; Poller refuses the other bits with ErrUnsupported before it calls in.
type support struct {
	interests Flags // Readable|Writable, plus Priority where the kernel can wait for it
	modes     Flags // EdgeTriggered, OneShot
}

// Poller watches file descriptors for readiness with one backend. Its methods are safe
// for concurrent use, with one Wait at a time; see the package documentation.
type Poller struct {
	b    backend
	kind Backend
	support
	// park is set when the Poller was opened with Config.Park.
	park *parker

	mu     sync.Mutex // serialises Add, Modify, Delete, Wake's write and Close; guards the backend's table
	waitMu sync.Mutex // held by the one Wait in progress, and by Close while it releases descriptors
	closed atomic.Bool
	// wakePending is set by the Wake that writes the wake descriptor and cleared by Wait
	// after the kernel returned (and the descriptor was drained), so that Wakes in between
	// coalesce without a syscall.
	wakePending atomic.Bool
}

// Config opens a Poller with options; the zero Config is what Open does.
type Config struct {
	// Backend is the backend to open; zero means the best this OS has (Backends()[0]).
	Backend Backend
	// Park makes a Wait that must block park the calling goroutine in Go's runtime poller,
	// as a read on a net.Conn does, instead of blocking its OS thread in the kernel: idle
	// parked Waits hold no OS thread, and a Wake from another goroutine costs a goroutine
	// switch rather than a thread wakeup. A goroutine locked to its thread
	// (runtime.LockOSThread) is better served blocking, the default. Only backends with
	// one pollable descriptor can park (epoll, kqueue, event ports); the others give
	// ErrUnsupported.
	Park bool
}

// Open returns a Poller configured by c, or ErrUnsupported if this OS lacks c.Backend or
// c.Backend cannot park. Close it to release its descriptors.
func (c Config) Open() (*Poller, error) {
	kind := c.Backend
	if kind == 0 {
		bs := Backends()
		if len(bs) == 0 {
			return nil, ErrUnsupported
		}
		kind = bs[0]
	}
	p := &Poller{kind: kind}
	var err error
	p.b, p.support, err = openBackend(kind, &p.mu, &p.wakePending)
	if err != nil {
		return nil, err
	}
	if c.Park {
		if p.park, err = openParker(p.b, &p.closed, &p.wakePending); err != nil {
			p.b.close()
			return nil, err
		}
	}
	return p, nil
}

// Open returns a Poller on the best backend this OS has: epoll on Linux, kqueue on the BSDs
// and macOS, event ports on illumos and Solaris, poll on AIX. It is Config{}.Open(). Close
// it to release its descriptors.
func Open() (*Poller, error) {
	return Config{}.Open()
}

// OpenBackend returns a Poller on backend b, or ErrUnsupported if this OS lacks it. It is
// Config{Backend: b}.Open(), except that a zero b gives ErrUnsupported.
func OpenBackend(b Backend) (*Poller, error) {
	if b == 0 {
		return nil, ErrUnsupported
	}
	return Config{Backend: b}.Open()
}

// Backends returns the backends this OS has, best first: epoll, kqueue or event ports, then
// poll, then select.
func Backends() []Backend {
	return osBackends()
}

// Backend returns the backend p was opened with.
func (p *Poller) Backend() Backend { return p.kind }

// Add registers fd for the interest and mode in flags. flags must name at least one of
// Readable, Writable and Priority, and may add EdgeTriggered and OneShot; an interest
// or mode the backend cannot honour gives ErrUnsupported. Add of an fd p already holds gives
// ErrExists; a negative, closed or unpollable fd gives the kernel's errno wrapped in an
// *os.SyscallError; on select, an fd >= FdSetSize gives ErrFdTooLarge.
func (p *Poller) Add(fd int, flags Flags) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if err := p.checkFlags(flags); err != nil {
		return err
	}
	if fd < 0 || fd > math.MaxInt32 {
		// No descriptor is that large, and the kernel would truncate it to a C int.
		return errBadFd("add")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return ErrClosed
	}
	return p.b.add(fd, flags)
}

// Modify replaces the interest and mode of a registered fd, and re-arms it if it is
// one-shot. An fd p does not hold gives ErrNotRegistered.
func (p *Poller) Modify(fd int, flags Flags) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if err := p.checkFlags(flags); err != nil {
		return err
	}
	if fd < 0 {
		return ErrNotRegistered
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return ErrClosed
	}
	return p.b.modify(fd, flags)
}

// Delete unregisters fd. An fd p does not hold gives ErrNotRegistered. Delete of an fd p
// holds always succeeds, even if the caller closed the fd first, and no Wait that starts
// after Delete returns reports fd.
func (p *Poller) Delete(fd int) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if fd < 0 {
		return ErrNotRegistered
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return ErrClosed
	}
	return p.b.delete(fd)
}

func (p *Poller) checkFlags(flags Flags) error {
	if flags&interestMask == 0 || flags&^(interestMask|modeMask) != 0 {
		return ErrInvalidFlags
	}
	if flags&modeMask&^p.modes != 0 || flags&interestMask&^p.interests != 0 {
		return ErrUnsupported
	}
	return nil
}

// Wait blocks until at least one registered fd is ready, Wake or Close is called, or the
// timeout passes, and fills events[:n] with at most one Event per ready fd.
//
// A negative timeout blocks without limit, zero returns at once, and a positive timeout is
// rounded up to the backend's resolution. Wait retries EINTR itself. It returns n == 0 when
// the timeout passed or Wake was called, and ErrClosed once p is closed. Only one Wait may
// run at a time; a second one gives ErrBusy. An empty events gives an error wrapping
// unix.EINVAL. Wait allocates nothing once events is no longer than on earlier calls.
//
// On a Poller opened with Config.Park, a Wait that must block parks the calling goroutine
// in Go's runtime poller instead of blocking its OS thread; nothing else changes.
func (p *Poller) Wait(events []Event, timeout time.Duration) (int, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	if len(events) == 0 {
		return 0, errNoEvents
	}
	if !p.waitMu.TryLock() {
		if p.closed.Load() {
			return 0, ErrClosed
		}
		return 0, ErrBusy
	}
	defer p.waitMu.Unlock()
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		if p.closed.Load() {
			return 0, ErrClosed
		}
		var n int
		var err error
		if p.park != nil && timeout != 0 {
			n, err = p.park.wait(events, deadline)
		} else {
			n, err = p.b.wait(events, timeout)
		}
		if p.closed.Load() {
			return 0, ErrClosed
		}
		if err != nil && !isEINTR(err) {
			return 0, err
		}
		// A pending Wake is served by this return whether or not the kernel saw its write.
		if pending := p.wakePending.Load(); n > 0 || pending {
			if pending {
				p.wakePending.Store(false)
			}
			return n, nil
		}
		// Nothing for the caller: a timeout, a signal, the backend's own wakeup after a
		// change, or events of dead registrations that were dropped.
		switch {
		case timeout == 0:
			return 0, nil
		case timeout > 0:
			if timeout = time.Until(deadline); timeout <= 0 {
				return 0, nil
			}
		}
	}
}

// Wake makes a blocked Wait return promptly, or else the next Wait, possibly with n == 0.
// Wakes before a Wait coalesce into one, and a Wake while one is pending makes no syscall.
// Wake never blocks and is never reported as an Event.
func (p *Poller) Wake() error {
	if p.closed.Load() {
		return ErrClosed
	}
	if !p.wakePending.CompareAndSwap(false, true) {
		return nil
	}
	if p.park != nil {
		// Set after wakePending: a Wait that has not yet parked sees the flag instead.
		p.park.wakeup()
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Checked under mu: Close releases the wake descriptor under mu after setting closed,
	// so this write can never reach a descriptor number the process has reused.
	if p.closed.Load() {
		return ErrClosed
	}
	return p.b.wake()
}

// Close releases every descriptor p opened (never the fds it watches), makes a blocked
// Wait return ErrClosed, and makes every later call return ErrClosed.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		return ErrClosed
	}
	p.closed.Store(true)
	// Closing an epoll or kqueue descriptor does not wake a thread blocked on it: wake it,
	// then wait for it to leave before the descriptors go.
	wakeErr := p.b.wake()
	p.mu.Unlock()
	if p.park != nil {
		// A parked Wait is ended by a past deadline, whether or not the kernel's wake
		// reached it.
		p.park.wakeup()
	}

	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	var parkErr error
	if p.park != nil {
		parkErr = p.park.close()
	}
	if err := p.b.close(); err != nil {
		return err
	}
	if parkErr != nil {
		return parkErr
	}
	return wakeErr
}

// readiness completes the readiness bits of an fd registered with interest: Hangup and
// Errored also set the interest bits, Priority included, so that a loop that only looks
// at Readable (or, watching a GPIO line, only at Priority) still reaches the read that
// returns 0 or the error, instead of being woken on every Wait by a condition it ignores.
func readiness(ready, interest Flags) Flags {
	if ready&(Hangup|Errored) != 0 {
		ready |= interest & interestMask
	}
	return ready
}

// rotate returns where the next scan of a table of n entries starts, after one that
// stopped at last because events filled up (full) or went all the way (not full).
// Starting after the last reported entry keeps a small events slice from starving fds.
func rotate(last, n int, full bool) int {
	if !full || n == 0 {
		return 0
	}
	return (last + 1) % n
}

// msec converts a Wait timeout to poll(2)-style milliseconds: -1 for no limit, and
// rounded up, so that a sub-millisecond timeout waits instead of spinning on zero.
func msec(d time.Duration) int {
	if d < 0 {
		return -1
	}
	ms := d / time.Millisecond
	if d%time.Millisecond != 0 {
		ms++
	}
	if ms > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(ms)
}
