package poller

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// pollable is implemented by the backends whose whole readiness state is one descriptor
// that is itself pollable: an epoll fd is readable while its ready list is not empty
// (epoll(7), "Q3"), a kqueue fd while events are pending (kqueue(2)), an event port
// while events are queued on it (portfs port_poll; the backend's wait associates again
// what the last Wait reported before it looks, so no fd waits outside the port). Config.Park
// needs it; its wait(events, 0) is the non-blocking check a parked Wait makes.
type pollable interface {
	backend
	// pollFd returns the descriptor; the backend keeps owning it.
	pollFd() int
}

// parker parks a Wait in Go's runtime poller on a duplicate of the backend's pollable
// descriptor. It owns the duplicate through file: file.Close closes it exactly once (and
// clears file's finalizer, which otherwise closes it if the Poller is dropped unclosed),
// and the backend's own descriptor is never handed to the os package, so neither can
// close a number the other still uses, or one the process has reused.
//
// Only the one Wait that holds the Poller's waitMu touches the fields below file.
type parker struct {
	b           backend
	closed      *atomic.Bool // the Poller's
	wakePending *atomic.Bool // the Poller's
	file        *os.File
	rc          syscall.RawConn
	// tryFn is try as a method value, built once: a method value built per Wait would
	// allocate, as it escapes into RawConn.Read.
	tryFn func(uintptr) bool

	deadline time.Time // the read deadline this Poller's Waits last set; zero: none
	// stale says the runtime may hold another deadline than deadline: one that passed,
	// or the past one of a Wake or Close (wakeup).
	stale  bool
	events []Event // the caller's, for the duration of one Read
	n      int
	err    error
}

// openParker registers a duplicate of b's descriptor with the runtime poller. A backend
// with no pollable descriptor, or a descriptor the runtime refuses, gives ErrUnsupported:
// a caller who asked for Park wants Waits that hold no OS thread, and silently blocking
// instead could exhaust the thread limit (10,000 by default) of a program with many idle
// pollers. Config{Backend: b} is the explicit way to accept blocking.
func openParker(b backend, closed, wakePending *atomic.Bool) (*parker, error) {
	pb, ok := b.(pollable)
	if !ok {
		return nil, ErrUnsupported
	}
	fd, err := dupPollable(pb.pollFd())
	if err != nil {
		return nil, err
	}
	// os.NewFile registers a non-blocking descriptor with the runtime poller and keeps it
	// out otherwise; a deadline is accepted only by a registered one.
	file := os.NewFile(uintptr(fd), "poller")
	if err := file.SetReadDeadline(time.Time{}); err != nil {
		file.Close()
		return nil, errors.Join(ErrUnsupported, err)
	}
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, errors.Join(ErrUnsupported, err)
	}
	k := &parker{b: b, closed: closed, wakePending: wakePending, file: file, rc: rc}
	k.tryFn = k.try
	return k, nil
}

// wait makes one kernel check and, when nothing is ready, parks until the descriptor is
// readable or deadline (zero: none) passes. Like backend.wait, it may return 0 early.
func (k *parker) wait(events []Event, deadline time.Time) (int, error) {
	if !deadline.Equal(k.deadline) {
		// A deadline costs a runtime timer: check first whether the Wait needs one.
		if n, err := k.b.wait(events, 0); n > 0 || err != nil || k.wakePending.Load() {
			return n, err
		}
		k.stale = true
	}
	if k.stale {
		if err := k.file.SetReadDeadline(deadline); err != nil {
			return 0, err
		}
		k.deadline, k.stale = deadline, false
	}
	k.events = events
	err := k.rc.Read(k.tryFn)
	n, werr := k.n, k.err
	k.events, k.n, k.err = nil, 0, nil
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Our deadline passed, or a Wake or Close set a past one. Poller.Wait tells
			// them apart by its wakePending, closed and clock (the runtime's deadline,
			// set from the time left at nanosecond resolution, never precedes its own),
			// and the next wait restores ours.
			k.stale = true
			return 0, nil
		}
		return 0, err
	}
	return n, werr
}

// try is the RawConn.Read callback. Read has already reset the descriptor's readiness,
// so readiness that arrives after this check wakes the parked goroutine: none is lost.
func (k *parker) try(uintptr) bool {
	k.n, k.err = k.b.wait(k.events, 0)
	return k.n > 0 || k.err != nil || k.wakePending.Load() || k.closed.Load()
}

// wakeup ends a parked Read at once with a past deadline, which readies the parked
// goroutine from the calling one, as an expiring deadline does (runtime/netpoll.go,
// poll_runtime_pollSetDeadline): a goroutine switch, where a write to the wake eventfd
// would take a trip through the kernel and the thread blocked in the runtime's own
// epoll_wait. Safe from any goroutine and after Close: a closed os.File refuses the
// call, and never reaches a reused descriptor number.
func (k *parker) wakeup() {
	k.file.SetReadDeadline(time.Unix(1, 0)) // long past
}

// close unregisters the duplicate from the runtime poller and closes it.
func (k *parker) close() error {
	return k.file.Close()
}
