//go:build linux

package poller

import (
	"errors"
	"testing"
	"time"

	"github.com/rawpoll/poller/internal/portmodel"
	"golang.org/x/sys/unix"
)

// The event ports backend's own rules, run on Linux against the illumos kernel model with
// faults injected (the shared behaviour table runs there too, through models_test.go).

// hookedPorts runs after once, the first time a port_getn returns events, before the
// backend looks at them: a stand-in for another goroutine that changes registrations in
// that window.
type hookedPorts struct {
	*portmodel.Kernel
	after func()
}

func (h *hookedPorts) PortGetn(port int, list []portEvent, nget *uint32, ts *unix.Timespec) error {
	err := h.Kernel.PortGetn(port, list, nget, ts)
	if *nget > 0 && h.after != nil {
		after := h.after
		h.after = nil
		after()
	}
	return err
}

func openPortTest(t *testing.T, kernel portKernel) *Poller {
	t.Helper()
	p := &Poller{kind: BackendPort}
	pb, err := openPort(kernel, portmodel.Illumos.Sys(), &p.mu)
	if err != nil {
		t.Fatal(err)
	}
	p.b, p.support = pb, pb.support()
	t.Cleanup(func() { p.Close() })
	return p
}

func portPair(t *testing.T) [2]int {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds
}

func waitOne(t *testing.T, p *Poller, timeout time.Duration) (Event, bool) {
	t.Helper()
	var evs [4]Event
	n, err := p.Wait(evs[:], timeout)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if n > 1 {
		t.Fatalf("Wait: %d events %+v, want at most 1", n, evs[:n])
	}
	return evs[0], n == 1
}

// port_getn(3C): ETIME can come with events, which retrieving dissociated; they must be
// reported, or a level-triggered fd would never be associated again.
func TestPortETIMEWithEvents(t *testing.T) {
	k := portmodel.New(portmodel.Illumos)
	p := openPortTest(t, k)
	sp := portPair(t)
	if err := p.Add(sp[0], Writable); err != nil {
		t.Fatal(err)
	}
	k.FailGetn(unix.ETIME)
	if ev, ok := waitOne(t, p, time.Second); !ok || ev != (Event{sp[0], Writable}) {
		t.Fatalf("Wait over ETIME with an event: %+v, %v", ev, ok)
	}
	// Still level-triggered: associated again by the next Wait.
	if ev, ok := waitOne(t, p, time.Second); !ok || ev.Fd != sp[0] {
		t.Fatalf("next Wait: %+v, %v", ev, ok)
	}
}

// EINTR ends port_getn with no events; Poller.Wait waits again for what remains.
func TestPortEINTR(t *testing.T) {
	k := portmodel.New(portmodel.Illumos)
	p := openPortTest(t, k)
	sp := portPair(t)
	if err := p.Add(sp[0], Readable); err != nil {
		t.Fatal(err)
	}
	k.FailGetn(unix.EINTR)
	time.AfterFunc(20*time.Millisecond, func() { unix.Write(sp[1], []byte("x")) })
	if ev, ok := waitOne(t, p, 5*time.Second); !ok || ev != (Event{sp[0], Readable}) {
		t.Fatalf("Wait over EINTR: %+v, %v", ev, ok)
	}
}

// A Modify the kernel refuses leaves the registration as it was (the backend associates
// the fd again with its old events and generation).
func TestPortFailedModify(t *testing.T) {
	k := portmodel.New(portmodel.Illumos)
	p := openPortTest(t, k)
	sp := portPair(t)
	if err := p.Add(sp[0], Readable); err != nil {
		t.Fatal(err)
	}
	k.FailAssociate(unix.ENOMEM)
	if err := p.Modify(sp[0], Writable); !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("Modify with ENOMEM injected: %v", err)
	}
	if _, ok := waitOne(t, p, 20*time.Millisecond); ok {
		t.Fatal("after a failed Modify to Writable, the fd was reported (still Readable only)")
	}
	unix.Write(sp[1], []byte("x"))
	if ev, ok := waitOne(t, p, time.Second); !ok || ev != (Event{sp[0], Readable}) {
		t.Fatalf("after a failed Modify: %+v, %v, want Readable", ev, ok)
	}
	k.FailAssociate(unix.ENOMEM)
	if err := p.Add(sp[1], Readable); !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("Add with ENOMEM injected: %v", err)
	}
	if err := p.Add(sp[1], Readable); err != nil {
		t.Fatalf("Add after a failed Add: %v, want success (nothing held)", err)
	}
}

// A re-association the kernel refuses at the start of a Wait is tried again by the next
// one: the fd is not lost.
func TestPortRearmRetried(t *testing.T) {
	k := portmodel.New(portmodel.Illumos)
	p := openPortTest(t, k)
	sp := portPair(t)
	if err := p.Add(sp[0], Writable); err != nil {
		t.Fatal(err)
	}
	if _, ok := waitOne(t, p, time.Second); !ok {
		t.Fatal("writable fd not reported")
	}
	k.FailAssociate(unix.EAGAIN)
	// One look (timeout 0): a Wait that loops, after a preemption signal on a loaded
	// machine, may retry the re-association within itself and rightly report the fd.
	if ev, ok := waitOne(t, p, 0); ok {
		t.Fatalf("Wait whose re-association failed reported %+v", ev)
	}
	if ev, ok := waitOne(t, p, time.Second); !ok || ev.Fd != sp[0] {
		t.Fatalf("the Wait after: %+v, %v, want the fd again", ev, ok)
	}
}

// An event retrieved for a registration that a Delete and Add (or a Modify) replaced
// while the backend had not yet looked at it is not credited to the new one.
func TestPortStaleEventDropped(t *testing.T) {
	h := &hookedPorts{Kernel: portmodel.New(portmodel.Illumos)}
	p := openPortTest(t, h)
	sp := portPair(t)
	if err := p.Add(sp[0], Writable); err != nil {
		t.Fatal(err)
	}
	h.after = func() {
		// The Writable event is in the backend's hands; the fd is now Readable only,
		// and nothing is readable.
		if err := p.Delete(sp[0]); err != nil {
			t.Error(err)
		}
		if err := p.Add(sp[0], Readable); err != nil {
			t.Error(err)
		}
	}
	if ev, ok := waitOne(t, p, 50*time.Millisecond); ok {
		t.Fatalf("stale event credited: %+v", ev)
	}
	unix.Write(sp[1], []byte("x"))
	if ev, ok := waitOne(t, p, time.Second); !ok || ev != (Event{sp[0], Readable}) {
		t.Fatalf("new registration: %+v, %v", ev, ok)
	}
}

// An fd that fired at Add with part of its interest reports all of what holds when the
// Wait collects it, and one that was drained meanwhile is not reported.
func TestPortEventRefreshed(t *testing.T) {
	p := openPortTest(t, portmodel.New(portmodel.Illumos))
	sp := portPair(t)
	if err := p.Add(sp[0], Readable|Writable); err != nil { // fires writable now
		t.Fatal(err)
	}
	unix.Write(sp[1], []byte("x"))
	if ev, ok := waitOne(t, p, time.Second); !ok || ev != (Event{sp[0], Readable | Writable}) {
		t.Fatalf("%+v, %v; want Readable|Writable", ev, ok)
	}
	if err := p.Modify(sp[0], Readable); err != nil { // fires readable now
		t.Fatal(err)
	}
	unix.Read(sp[0], make([]byte, 8))
	if ev, ok := waitOne(t, p, 10*time.Millisecond); ok {
		t.Fatalf("drained since it fired, reported %+v", ev)
	}
}
