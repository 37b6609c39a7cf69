//go:build linux

package poller

import (
	"errors"
	"testing"
	"time"

	"github.com/rawpoll/poller/internal/kqmodel"
	"golang.org/x/sys/unix"
)

// The kqueue backend's own rules, run on Linux against each flavour of the kernel model
// (the shared behaviour table runs there too, through models_test.go). Each test here
// failed before the fix it names (issue 9).

// hookedKernel runs after once, the first time a kevent that collects events returns
// some, before the backend looks at them: a stand-in for another goroutine that changes
// registrations in that window.
type hookedKernel struct {
	*kqmodel.Kernel
	after  func()
	before func()              // run before every kevent
	count  func(ev *rawKevent) // run for every result a kevent returns
}

func (h *hookedKernel) Kevent(kq int, changes, events []rawKevent, ts *unix.Timespec) (int, error) {
	if h.before != nil {
		h.before()
	}
	n, err := h.Kernel.Kevent(kq, changes, events, ts)
	if h.count != nil {
		for i := range events[:max(n, 0)] {
			h.count(&events[i])
		}
	}
	if len(events) > 0 && n > 0 && h.after != nil {
		after := h.after
		h.after = nil
		after()
	}
	return n, err
}

// openKq opens a Poller on the kqueue code over kernel, described by sys.
func openKq(t *testing.T, kernel kqKernel, sys kqSys) *Poller {
	t.Helper()
	p := &Poller{kind: BackendKqueue}
	kb, err := openKqueue(kernel, sys, &p.mu)
	if err != nil {
		t.Fatal(err)
	}
	p.b, p.support = kb, kb.support()
	t.Cleanup(func() { p.Close() })
	return p
}

func forEachFlavour(t *testing.T, run func(t *testing.T, f kqmodel.Flavour)) {
	for _, f := range kqmodel.Flavours() {
		f := f
		t.Run(f.String(), func(t *testing.T) { run(t, f) })
	}
}

func testPipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

func mustWrite(t *testing.T, fd int, s string) {
	t.Helper()
	if _, err := unix.Write(fd, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits up to a second and returns fd's flags, or 0 if it was not reported.
func waitFor(t *testing.T, p *Poller, fd int, d time.Duration) Flags {
	t.Helper()
	var events [8]Event
	deadline := time.Now().Add(d)
	for {
		n, err := p.Wait(events[:], time.Until(deadline))
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		for _, ev := range events[:n] {
			if ev.Fd == fd {
				return ev.Flags
			}
		}
		if time.Now().After(deadline) {
			return 0
		}
	}
}

// Item 3: macOS's kevent can fail with ETIMEDOUT (golang/go#59679); Wait must go on
// waiting, as for EINTR.
func TestKqueueETIMEDOUT(t *testing.T) {
	forEachFlavour(t, func(t *testing.T, f kqmodel.Flavour) {
		k := kqmodel.New(f)
		p := openKq(t, k, f.Sys())
		r, w := testPipe(t)
		if err := p.Add(r, Readable); err != nil {
			t.Fatal(err)
		}
		for _, errno := range []unix.Errno{unix.ETIMEDOUT, unix.EINTR} {
			k.FailCall(errno)
			var events [4]Event
			if n, err := p.Wait(events[:], 20*time.Millisecond); err != nil || n != 0 {
				t.Fatalf("Wait after %v: %d, %v; want 0, nil", errno, n, err)
			}
			k.FailCall(errno)
			mustWrite(t, w, "x")
			if got := waitFor(t, p, r, time.Second); got&Readable == 0 {
				t.Fatalf("after %v: fd not reported (%v)", errno, got)
			}
			var buf [8]byte
			unix.Read(r, buf[:])
		}
	})
}

// Item 4: a Delete and Add between the kernel's answer and its collection must not let
// the old knote's result spend the new one-shot registration.
func TestKqueueStaleResultNotCredited(t *testing.T) {
	forEachFlavour(t, func(t *testing.T, f kqmodel.Flavour) {
		h := &hookedKernel{Kernel: kqmodel.New(f)}
		p := openKq(t, h, f.Sys())
		r, w := testPipe(t)
		if err := p.Add(r, Readable|OneShot); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, w, "old")
		h.after = func() {
			// The caller consumed the data and registered the fd afresh.
			var buf [8]byte
			unix.Read(r, buf[:])
			if err := p.Delete(r); err != nil {
				t.Error(err)
			}
			if err := p.Add(r, Readable|OneShot); err != nil {
				t.Error(err)
			}
		}
		var events [4]Event
		if n, err := p.Wait(events[:], 100*time.Millisecond); err != nil || n != 0 {
			t.Fatalf("Wait that saw only the old registration's result: %v, %v; want nothing", events[:n], err)
		}
		mustWrite(t, w, "new")
		if got := waitFor(t, p, r, time.Second); got&Readable == 0 {
			t.Fatal("the new one-shot registration's first event was never reported")
		}
	})
}

// Item 5: a Delete the kernel refuses (ENOMEM) forgets the fd; the next Add must not
// inherit the old knote's EV_CLEAR.
func TestKqueueAddAfterFailedDelete(t *testing.T) {
	forEachFlavour(t, func(t *testing.T, f kqmodel.Flavour) {
		k := kqmodel.New(f)
		p := openKq(t, k, f.Sys())
		r, w := testPipe(t)
		if err := p.Add(r, Readable|EdgeTriggered); err != nil {
			t.Fatal(err)
		}
		k.FailChange(kqmodel.EV_DELETE, unix.ENOMEM)
		if err := p.Delete(r); !errors.Is(err, unix.ENOMEM) {
			t.Fatalf("Delete with ENOMEM: %v", err)
		}
		if err := p.Delete(r); !errors.Is(err, ErrNotRegistered) {
			t.Fatalf("second Delete: %v, want ErrNotRegistered: the fd is forgotten", err)
		}
		if err := p.Add(r, Readable); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, w, "x")
		for i := 0; i < 3; i++ {
			if got := waitFor(t, p, r, time.Second); got&Readable == 0 {
				t.Fatalf("level-triggered Wait %d after re-Add: not reported", i)
			}
		}
	})
}

// Item 2: a Modify whose EV_ADD fails after its EV_DELETE went through must leave the
// registration as it was.
func TestKqueueFailedModifyRestores(t *testing.T) {
	forEachFlavour(t, func(t *testing.T, f kqmodel.Flavour) {
		h := &hookedKernel{Kernel: kqmodel.New(f)}
		p := openKq(t, h, f.Sys())
		r, w := testPipe(t)
		if err := p.Add(r, Readable); err != nil {
			t.Fatal(err)
		}
		// Every change that would make the knote edge-triggered fails, even when NetBSD's
		// fallback makes the changes again one by one.
		h.before = func() { h.FailChange(kqmodel.EV_CLEAR, unix.ENOMEM) }
		if err := p.Modify(r, Readable|EdgeTriggered); !errors.Is(err, unix.ENOMEM) {
			t.Fatalf("Modify with ENOMEM: %v", err)
		}
		if err := p.Add(r, Readable); !errors.Is(err, ErrExists) {
			t.Fatalf("Add after failed Modify: %v, want ErrExists", err)
		}
		mustWrite(t, w, "x")
		for i := 0; i < 3; i++ {
			if got := waitFor(t, p, r, time.Second); got&Readable == 0 {
				t.Fatalf("level-triggered Wait %d after a failed Modify: not reported", i)
			}
		}
	})
}

// Item 6: the guard rails for NetBSD, shown to matter. With EV_DISPATCH, NetBSD's
// kqueue_scan never disables an EV_CLEAR knote; with EV_RECEIPT set where the kernel
// ignores it, a change's receipt buffer swallows real events.
func TestKqueueGuardRails(t *testing.T) {
	netbsd := kqmodel.NetBSD.Sys()
	t.Run("EV_ONESHOT", func(t *testing.T) {
		// deliveries counts the kernel's results for an edge-triggered one-shot fd that
		// becomes readable twice: the table drops the second, but a knote that was never
		// disabled costs a wakeup per edge until Modify.
		deliveries := func(sys kqSys) int {
			h := &hookedKernel{Kernel: kqmodel.New(kqmodel.NetBSD)}
			p := openKq(t, h, sys)
			r, w := testPipe(t)
			n := 0
			h.count = func(ev *rawKevent) {
				if int(ev.Ident) == r {
					n++
				}
			}
			if err := p.Add(r, Readable|EdgeTriggered|OneShot); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				mustWrite(t, w, "x")
				waitFor(t, p, r, 50*time.Millisecond)
			}
			return n
		}
		if n := deliveries(netbsd); n != 1 {
			t.Fatalf("NetBSD as configured: the kernel delivered a one-shot fd %d times, want 1", n)
		}
		withDispatch := netbsd
		withDispatch.Dispatch = true
		if n := deliveries(withDispatch); n != 2 {
			t.Fatalf("NetBSD with EV_DISPATCH: %d deliveries, want 2 (the hazard the guard avoids)", n)
		}
	})
	t.Run("EV_RECEIPT", func(t *testing.T) {
		// reported adds an edge-triggered fd with data waiting, then another fd, and
		// says whether both Adds worked and the first fd's edge was reported.
		reported := func(sys kqSys) bool {
			p := openKq(t, kqmodel.New(kqmodel.NetBSD), sys)
			r, w := testPipe(t)
			r2, _ := testPipe(t)
			if err := p.Add(r, Readable|EdgeTriggered); err != nil {
				return false // the receipt buffer got no receipt
			}
			mustWrite(t, w, "x")
			if err := p.Add(r2, Readable); err != nil {
				return false // the receipt buffer got the event, not a receipt
			}
			return waitFor(t, p, r, 100*time.Millisecond) != 0
		}
		if !reported(netbsd) {
			t.Fatal("NetBSD as configured: an edge was lost to a change")
		}
		withReceipt := netbsd
		withReceipt.Receipt = true
		if reported(withReceipt) {
			t.Fatal("NetBSD with EV_RECEIPT: the edge survived, want it lost (the hazard the guard avoids)")
		}
	})
}

// An Add the kernel refuses for lack of resources (ENOMEM; ENOSPC where a kernel limits
// knotes) leaves the fd unregistered, rolls back the filter that was added, and leaves the
// poller working (issue 13).
func TestKqueueAddRefusedForResources(t *testing.T) {
	forEachFlavour(t, func(t *testing.T, f kqmodel.Flavour) {
		for _, errno := range []unix.Errno{unix.ENOMEM, unix.ENOSPC} {
			h := &hookedKernel{Kernel: kqmodel.New(f)}
			p := openKq(t, h, f.Sys())
			sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(sp[0])
			defer unix.Close(sp[1])
			// The read filter's EV_ADD fails; with EV_RECEIPT the write filter's goes
			// through in the same call and must be rolled back. NetBSD's one-by-one
			// fallback meets the fault again on every call.
			h.before = func() { h.FailChange(kqmodel.EV_ADD, errno) }
			if err := p.Add(sp[0], Readable|Writable); !errors.Is(err, errno) {
				t.Fatalf("Add with %v: %v", errno, err)
			}
			h.before = nil
			h.FailChange(0, 0) // no fault left pending
			if err := p.Delete(sp[0]); !errors.Is(err, ErrNotRegistered) {
				t.Fatalf("Delete after a refused Add: %v, want ErrNotRegistered", err)
			}
			// A write knote left behind would keep its level-triggered mode through the
			// next EV_ADD and report the fd on every Wait.
			if err := p.Add(sp[0], Writable|EdgeTriggered); err != nil {
				t.Fatal(err)
			}
			if got := waitFor(t, p, sp[0], time.Second); got&Writable == 0 {
				t.Fatalf("edge-triggered Writable after a refused Add: not reported")
			}
			if got := waitFor(t, p, sp[0], 20*time.Millisecond); got != 0 {
				t.Fatalf("edge-triggered Writable reported again (%v): the refused Add left a knote", got)
			}
			mustWrite(t, sp[1], "x")
			if err := p.Modify(sp[0], Readable); err != nil {
				t.Fatal(err)
			}
			if got := waitFor(t, p, sp[0], time.Second); got&Readable == 0 {
				t.Fatalf("the poller after a refused Add: %v, want Readable", got)
			}
		}
	})
}
