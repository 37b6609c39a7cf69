//go:build linux

package kqmodel

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestFlavourSys(t *testing.T) {
	want := map[Flavour]Sys{
		FreeBSD: {FiltRead: -1, FiltWrite: -2, HasUser: true, FiltUser: -11, Receipt: true, Dispatch: true},
		Darwin: {FiltRead: -1, FiltWrite: -2, HasUser: true, FiltUser: -10, HasExcept: true,
			FiltExcept: -15, NoteOOB: 2, ExceptReadsToo: true, Receipt: true, Dispatch: true},
		OpenBSD: {FiltRead: -1, FiltWrite: -2, HasExcept: true, FiltExcept: -9, NoteOOB: 4,
			Receipt: true, Dispatch: true},
		NetBSD: {FiltRead: 0, FiltWrite: 1},
	}
	names := []string{"freebsd", "darwin", "openbsd", "netbsd"}
	for i, f := range Flavours() {
		if f.String() != names[i] {
			t.Errorf("flavour %d String = %q, want %q", i, f, names[i])
		}
		if f.Sys() != want[f] {
			t.Errorf("%v Sys = %+v, want %+v", f, f.Sys(), want[f])
		}
		if New(f).Flavour() != f {
			t.Errorf("New(%v).Flavour() differs", f)
		}
	}
}

// EV_ADD runs the filter at once: a descriptor already ready is reported by the next call,
// with data = bytes readable.
func TestAddReadyNow(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		write(t, w, "hello")
		var tag byte
		ch := change(r, rd(k), EV_ADD)
		ch.Udata = &tag
		apply(t, k, kq, ch)
		e := mustFind(t, poll(t, k, kq, 4), r, rd(k))
		if e.Data != 5 || e.Udata != &tag || e.Flags&(EV_EOF|EV_ERROR) != 0 {
			t.Fatalf("event %+v: want data 5, udata kept, no EOF/ERROR", e)
		}
	})
}

// A not-ready descriptor is not reported; data arriving while another goroutine is blocked in
// Kevent wakes it.
func TestBlockedWakesOnData(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		a, b := socketpair(t, unix.SOCK_STREAM)
		apply(t, k, kq, change(a, rd(k), EV_ADD))
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("idle socket reported: %+v", evs)
		}
		got := make(chan []Kevent, 1)
		go func() { got <- waitEventsNoT(k, kq) }()
		waitBlocked(t, k, kq)
		write(t, b, "x")
		select {
		case evs := <-got:
			mustFind(t, evs, a, rd(k))
		case <-time.After(5 * time.Second):
			t.Fatal("blocked Kevent not woken by data")
		}
	})
}

// waitEventsNoT blocks (timeout nil) until an event, retrying EINTR; for goroutines.
func waitEventsNoT(k *Kernel, kq int) []Kevent {
	evs := make([]Kevent, 8)
	for {
		n, err := k.Kevent(kq, nil, evs, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n > 0 {
			return evs[:max(n, 0)]
		}
	}
}

// A change made by another goroutine takes effect in a blocked call: EV_ADD of a ready fd
// wakes it.
func TestBlockedWakesOnChange(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		write(t, w, "x")
		got := make(chan []Kevent, 1)
		go func() { got <- waitEventsNoT(k, kq) }()
		waitBlocked(t, k, kq)
		apply(t, k, kq, change(r, rd(k), EV_ADD))
		select {
		case evs := <-got:
			mustFind(t, evs, r, rd(k))
		case <-time.After(5 * time.Second):
			t.Fatal("blocked Kevent not woken by a change")
		}
	})
}

// EVFILT_USER: NOTE_TRIGGER wakes a blocked call; with EV_CLEAR it is delivered once per
// trigger. Flavours without it refuse the filter number with EINVAL.
func TestUserTrigger(t *testing.T) {
	forEach(t, func(f Flavour) bool { return f.Sys().HasUser }, func(t *testing.T, k *Kernel, kq int) {
		fu := k.sys.FiltUser
		apply(t, k, kq, Kevent{Ident: 42, Filter: fu, Flags: EV_ADD | EV_CLEAR})
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("untriggered user event reported: %+v", evs)
		}
		got := make(chan []Kevent, 1)
		go func() { got <- waitEventsNoT(k, kq) }()
		waitBlocked(t, k, kq)
		apply(t, k, kq, Kevent{Ident: 42, Filter: fu, Fflags: NOTE_TRIGGER})
		select {
		case evs := <-got:
			mustFind(t, evs, 42, fu)
		case <-time.After(5 * time.Second):
			t.Fatal("NOTE_TRIGGER did not wake the blocked call")
		}
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("EV_CLEAR user event delivered twice: %+v", evs)
		}
		apply(t, k, kq, Kevent{Ident: 42, Filter: fu, Fflags: NOTE_TRIGGER})
		mustFind(t, poll(t, k, kq, 4), 42, fu)
	})
	forEach(t, func(f Flavour) bool { return !f.Sys().HasUser }, func(t *testing.T, k *Kernel, kq int) {
		for _, fu := range []int32{-10, -11, 8} {
			if _, err := k.Kevent(kq, []Kevent{{Ident: 1, Filter: fu, Flags: EV_ADD | EV_CLEAR}}, nil, nil); err != unix.EINVAL {
				t.Errorf("filter %d: err %v, want EINVAL", fu, err)
			}
		}
	})
}

// EV_ADD on an existing knote keeps the EV_CLEAR it was created with: the edge-triggered
// knote is still reported once, not on every call.
func TestReAddKeepsModeFlags(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		apply(t, k, kq, change(r, rd(k), EV_ADD|EV_CLEAR))
		apply(t, k, kq, change(r, rd(k), EV_ADD)) // no EV_CLEAR: must not turn level-triggered
		write(t, w, "x")
		e := mustFind(t, waitEvents(t, k, kq, 4), r, rd(k))
		if e.Flags&EV_CLEAR == 0 {
			t.Errorf("delivered flags %#x lack EV_CLEAR", e.Flags)
		}
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("re-added EV_CLEAR knote reported again without new data: %+v", evs)
		}
	})
}

// EV_ADD on an existing, disabled knote does not enable it: only EV_ENABLE does (FreeBSD,
// XNU, OpenBSD, NetBSD kqueue_register); a new knote starts enabled unless EV_DISABLE.
func TestReAddKeepsDisabled(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		write(t, w, "x")
		apply(t, k, kq, change(r, rd(k), EV_ADD|EV_DISABLE))
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("knote added with EV_DISABLE reported: %+v", evs)
		}
		apply(t, k, kq, change(r, rd(k), EV_ADD))
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("EV_ADD re-enabled a disabled knote: %+v", evs)
		}
		apply(t, k, kq, change(r, rd(k), EV_ENABLE))
		mustFind(t, poll(t, k, kq, 4), r, rd(k))
	})
}

// udata comes from every change to an existing knote on FreeBSD, NetBSD and XNU (EV_ENABLE
// alone included); OpenBSD takes it from EV_ADD only.
func TestUdataFromChanges(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		write(t, w, "x")
		var tag byte
		add := change(r, rd(k), EV_ADD|EV_DISABLE)
		add.Udata = &tag
		apply(t, k, kq, add, change(r, rd(k), EV_ENABLE)) // EV_ENABLE with nil udata
		e := mustFind(t, poll(t, k, kq, 4), r, rd(k))
		want := (*byte)(nil)
		if k.flavour == OpenBSD {
			want = &tag
		}
		if e.Udata != want {
			t.Fatalf("udata after EV_ENABLE(nil) = %p, want %p", e.Udata, want)
		}
	})
}

// EV_ENABLE|EV_DISABLE together: FreeBSD refuses (EINVAL), XNU lets disable win, OpenBSD and
// NetBSD apply disable then enable.
func TestEnableDisableTogether(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		write(t, w, "x")
		apply(t, k, kq, change(r, rd(k), EV_ADD))
		_, err := k.Kevent(kq, []Kevent{change(r, rd(k), EV_ENABLE|EV_DISABLE)}, nil, nil)
		evs := poll(t, k, kq, 4)
		switch k.flavour {
		case FreeBSD:
			if err != unix.EINVAL {
				t.Fatalf("err %v, want EINVAL", err)
			}
			mustFind(t, evs, r, rd(k)) // unchanged
		case Darwin:
			if err != nil || len(evs) != 0 {
				t.Fatalf("err %v, events %+v: want disabled", err, evs)
			}
		default:
			if err != nil {
				t.Fatal(err)
			}
			mustFind(t, evs, r, rd(k))
		}
	})
}

// Delivered flags: FreeBSD strips EV_ADD from the knote's copy of the creating kevent; the
// others return it whole.
func TestDeliveredFlags(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		write(t, w, "x")
		apply(t, k, kq, change(r, rd(k), EV_ADD|EV_CLEAR))
		e := mustFind(t, poll(t, k, kq, 4), r, rd(k))
		want := uint32(EV_ADD | EV_CLEAR)
		if k.flavour == FreeBSD {
			want = EV_CLEAR
		}
		if e.Flags != want {
			t.Fatalf("flags %#x, want %#x", e.Flags, want)
		}
	})
}

// EV_DISABLE silences a knote, EV_ENABLE re-evaluates it.
func TestEnableDisable(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		write(t, w, "x")
		apply(t, k, kq, change(r, rd(k), EV_ADD))
		apply(t, k, kq, change(r, rd(k), EV_DISABLE))
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("disabled knote reported: %+v", evs)
		}
		apply(t, k, kq, change(r, rd(k), EV_ENABLE))
		mustFind(t, poll(t, k, kq, 4), r, rd(k))
	})
}

// EV_DELETE, EV_ENABLE and EV_DISABLE of an absent knote: ENOENT. EV_DELETE removes.
func TestAbsentKnoteENOENT(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		for _, fl := range []uint32{EV_DELETE, EV_ENABLE, EV_DISABLE} {
			if _, err := k.Kevent(kq, []Kevent{change(r, rd(k), fl)}, nil, nil); err != unix.ENOENT {
				t.Errorf("flags %#x on absent knote: %v, want ENOENT", fl, err)
			}
		}
		write(t, w, "x")
		apply(t, k, kq, change(r, rd(k), EV_ADD))
		apply(t, k, kq, change(r, rd(k), EV_DELETE))
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("deleted knote reported: %+v", evs)
		}
		if _, err := k.Kevent(kq, []Kevent{change(r, rd(k), EV_DELETE)}, nil, nil); err != unix.ENOENT {
			t.Errorf("second EV_DELETE: %v, want ENOENT", err)
		}
	})
}

// EV_ONESHOT: delivered once, then gone.
func TestOneshot(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		write(t, w, "x")
		apply(t, k, kq, change(r, rd(k), EV_ADD|EV_ONESHOT))
		mustFind(t, poll(t, k, kq, 4), r, rd(k))
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("oneshot delivered twice: %+v", evs)
		}
		if _, err := k.Kevent(kq, []Kevent{change(r, rd(k), EV_DELETE)}, nil, nil); err != unix.ENOENT {
			t.Errorf("EV_DELETE after oneshot delivery: %v, want ENOENT (knote gone)", err)
		}
	})
}

// EV_DISPATCH: delivered, then disabled until EV_ENABLE.
func TestDispatch(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		write(t, w, "x")
		apply(t, k, kq, change(r, rd(k), EV_ADD|EV_DISPATCH))
		mustFind(t, poll(t, k, kq, 4), r, rd(k))
		write(t, w, "y")
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("dispatched knote reported while disabled: %+v", evs)
		}
		apply(t, k, kq, change(r, rd(k), EV_ENABLE))
		if e := mustFind(t, poll(t, k, kq, 4), r, rd(k)); e.Data != 2 {
			t.Errorf("re-enabled event data %d, want 2", e.Data)
		}
	})
}

// EV_CLEAR: reported once per activation; new data activates again.
func TestClear(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		a, b := socketpair(t, unix.SOCK_STREAM)
		apply(t, k, kq, change(a, rd(k), EV_ADD|EV_CLEAR), change(a, wr(k), EV_ADD|EV_CLEAR))
		evs := poll(t, k, kq, 4)
		mustFind(t, evs, a, wr(k)) // room to write at registration
		mustNotFind(t, evs, a, rd(k))
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("EV_CLEAR reported again with no new activation: %+v", evs)
		}
		write(t, b, "x")
		evs = waitEvents(t, k, kq, 4)
		mustFind(t, evs, a, rd(k))
		// New data is a read-side wakeup: the write knote must not fire again.
		mustNotFind(t, evs, a, wr(k))
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("EV_CLEAR reported again with no new data: %+v", evs)
		}
		write(t, b, "y") // not drained: still a new activation
		if e := mustFind(t, waitEvents(t, k, kq, 4), a, rd(k)); e.Data != 2 {
			t.Errorf("second edge data %d, want 2", e.Data)
		}
	})
}

// EV_CLEAR|EV_DISPATCH: FreeBSD, XNU, OpenBSD disable after delivery; NetBSD's else-if chain
// tests EV_CLEAR first and never disables.
func TestClearDispatchChain(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		apply(t, k, kq, change(r, rd(k), EV_ADD|EV_CLEAR|EV_DISPATCH))
		write(t, w, "x")
		mustFind(t, waitEvents(t, k, kq, 4), r, rd(k))
		write(t, w, "y")
		evs := poll(t, k, kq, 4)
		if k.flavour == NetBSD {
			mustFind(t, evs, r, rd(k))
		} else if len(evs) != 0 {
			t.Fatalf("%v: EV_CLEAR|EV_DISPATCH knote reported after delivery without EV_ENABLE: %+v", k.flavour, evs)
		}
	})
}

// A level-triggered knote still ready after delivery goes to the tail: a one-slot event list
// reaches every ready descriptor in turn, in activation order.
func TestRotation(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		var rs []int
		for i := 0; i < 5; i++ {
			r, w := pipe(t)
			write(t, w, "x")
			apply(t, k, kq, change(r, rd(k), EV_ADD))
			rs = append(rs, r)
		}
		for round := 0; round < 2; round++ {
			for i, r := range rs {
				evs := poll(t, k, kq, 1)
				if len(evs) != 1 || evs[0].Ident != uint64(r) {
					t.Fatalf("round %d call %d: %+v, want ident %d (activation order, rotating)", round, i, evs, r)
				}
			}
		}
		if evs := poll(t, k, kq, 10); len(evs) != 5 {
			t.Fatalf("%d events with room for 10, want 5 (each once per call)", len(evs))
		}
	})
}

// Changelist errors with room: EV_ERROR entries with data = errno, processing continues, and
// the call returns their count without scanning.
func TestChangeErrorsWithRoom(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		write(t, w, "x")
		bad := 1 << 20
		evs := make([]Kevent, 4)
		n, err := k.Kevent(kq, []Kevent{
			change(bad, rd(k), EV_ADD),
			change(r, rd(k), EV_ADD),
			change(w, wr(k), EV_DELETE),
			{Ident: uint64(r), Filter: 77, Flags: EV_ADD},
		}, evs, zero)
		if err != nil || n != 3 {
			t.Fatalf("kevent = %d, %v; want 3 error entries", n, err)
		}
		want := []struct {
			ident int
			errno unix.Errno
		}{{bad, unix.EBADF}, {w, unix.ENOENT}, {r, unix.EINVAL}}
		for i, x := range want {
			if evs[i].Ident != uint64(x.ident) || evs[i].Flags&EV_ERROR == 0 || evs[i].Data != int64(x.errno) {
				t.Errorf("entry %d = %+v, want ident %d EV_ERROR data %d", i, evs[i], x.ident, x.errno)
			}
		}
		// FreeBSD, OpenBSD, NetBSD: flags = EV_ERROR; XNU: the change's flags | EV_ERROR.
		wantFlags := uint32(EV_ERROR)
		if k.flavour == Darwin {
			wantFlags = EV_ADD | EV_ERROR
		}
		if evs[0].Flags != wantFlags {
			t.Errorf("error entry flags %#x, want %#x", evs[0].Flags, wantFlags)
		}
		mustFind(t, poll(t, k, kq, 4), r, rd(k)) // the good change was applied
	})
}

// Without room, a failed change ends the call with -1 and the errno; later changes are not
// applied.
func TestChangeErrorNoRoom(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		write(t, w, "x")
		n, err := k.Kevent(kq, []Kevent{change(1<<20, rd(k), EV_ADD), change(r, rd(k), EV_ADD)}, nil, nil)
		if n != -1 || err != unix.EBADF {
			t.Fatalf("kevent = %d, %v; want -1, EBADF", n, err)
		}
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("change after the failed one was applied: %+v", evs)
		}
	})
}

// EV_RECEIPT: every change gets an entry (data 0 on success) and nothing is scanned; NetBSD
// ignores the flag and scans.
func TestReceipt(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		write(t, w, "x")
		evs := make([]Kevent, 4)
		n, err := k.Kevent(kq, []Kevent{change(r, rd(k), EV_ADD|EV_RECEIPT), change(w, wr(k), EV_ADD|EV_RECEIPT)}, evs, zero)
		if err != nil {
			t.Fatal(err)
		}
		if !k.sys.Receipt {
			if n != 2 || evs[0].Flags&EV_ERROR != 0 || evs[1].Flags&EV_ERROR != 0 {
				t.Fatalf("%v ignores EV_RECEIPT: want 2 real events, got %d %+v", k.flavour, n, evs[:max(n, 0)])
			}
			return
		}
		if n != 2 {
			t.Fatalf("kevent = %d, want 2 receipts", n)
		}
		for i, id := range []int{r, w} {
			if evs[i].Ident != uint64(id) || evs[i].Flags&EV_ERROR == 0 || evs[i].Data != 0 {
				t.Errorf("receipt %d = %+v, want ident %d EV_ERROR data 0", i, evs[i], id)
			}
		}
		// Both knotes exist and fire on the next call.
		evs2 := poll(t, k, kq, 4)
		mustFind(t, evs2, r, rd(k))
		mustFind(t, evs2, w, wr(k))
	})
}

// Bad idents and filters: EBADF for a closed or huge fd, EINVAL for an unknown filter.
func TestBadInput(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, _ := pipe(t)
		cases := []struct {
			ch   Kevent
			want unix.Errno
		}{
			{change(1<<20, rd(k), EV_ADD), unix.EBADF},
			{Kevent{Ident: 1 << 40, Filter: rd(k), Flags: EV_ADD}, unix.EBADF},
			{change(1<<20, wr(k), EV_DELETE), unix.EBADF},
			{change(r, 99, EV_ADD), unix.EINVAL},
			{change(r, -99, EV_ADD), unix.EINVAL},
		}
		for _, c := range cases {
			if _, err := k.Kevent(kq, []Kevent{c.ch}, nil, nil); err != c.want {
				t.Errorf("%+v: %v, want %v", c.ch, err, c.want)
			}
		}
		if _, err := k.Kevent(1<<20, nil, make([]Kevent, 1), zero); err != unix.EBADF {
			t.Errorf("kevent on a non-queue: %v, want EBADF", err)
		}
	})
}

// close() drops the descriptor's knotes even while a duplicate keeps the file open, and a
// reused number starts with none.
func TestCloseDropsKnotes(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
			t.Fatal(err)
		}
		r, w := p[0], p[1]
		closeLater(t, w)
		dup, err := unix.Dup(r)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, dup)
		apply(t, k, kq, change(r, rd(k), EV_ADD))
		unix.Close(r)
		write(t, w, "x") // the file (held by dup) becomes readable
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("closed fd still reported: %+v", evs)
		}
		// Reuse the number for another file: no knote carries over.
		r2, w2 := pipe(t)
		if r2 != r && w2 != r {
			t.Logf("number %d not reused (got %d, %d); checking EBADF only", r, r2, w2)
			if _, err := k.Kevent(kq, []Kevent{change(r, rd(k), EV_DELETE)}, nil, nil); err != unix.EBADF {
				t.Fatalf("EV_DELETE of a closed fd: %v, want EBADF", err)
			}
			return
		}
		write(t, w2, "y")
		if _, err := k.Kevent(kq, []Kevent{change(r, rd(k), EV_DELETE)}, nil, nil); err != unix.ENOENT {
			t.Fatalf("EV_DELETE on a reused number: %v, want ENOENT", err)
		}
	})
}

// EV_ONESHOT on FreeBSD, OpenBSD and NetBSD delivers the knote once activated, without
// running the filter again (kqueue_scan; OpenBSD knote_process_fn "skip f_event when
// EV_ONESHOT is set"); XNU's knote_process runs f_process and drops a stale activation.
func TestOneshotSnapshot(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		write(t, w, "x")
		apply(t, k, kq, change(r, rd(k), EV_ADD|EV_ONESHOT))
		drain(r)
		evs := poll(t, k, kq, 4)
		if k.flavour == Darwin {
			if len(evs) != 0 {
				t.Fatalf("stale oneshot delivered: %+v", evs)
			}
			return
		}
		mustFind(t, evs, r, rd(k))
	})
}

// Data arriving while an EV_ONESHOT knote waits in the queue updates what it delivers (each
// wakeup runs the filter, which sets kn_data).
func TestOneshotDataRefreshed(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		a, b := socketpair(t, unix.SOCK_STREAM)
		write(t, b, "x")
		apply(t, k, kq, change(a, rd(k), EV_ADD|EV_ONESHOT))
		write(t, b, "yz")
		if e := mustFind(t, poll(t, k, kq, 4), a, rd(k)); e.Data != 3 {
			t.Fatalf("oneshot data %d, want 3", e.Data)
		}
	})
}

// A closed descriptor whose number is reused before the next call: the old knote, though
// active, is dropped and never reports the new file.
func TestCloseReusedNumber(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
			t.Fatal(err)
		}
		write(t, p[1], "x")
		apply(t, k, kq, change(p[0], rd(k), EV_ADD)) // active now
		unix.Close(p[0])
		unix.Close(p[1])
		r2, w2 := pipe(t)
		if r2 != p[0] {
			t.Skipf("descriptor %d not reused (got %d): the kernel allocates the lowest free number, so another goroutine took it", p[0], r2)
		}
		write(t, w2, "y")
		mustNotFind(t, poll(t, k, kq, 4), r2, rd(k))
	})
}

// FailCall: the changelist is applied, then the call fails once with the errno.
func TestFailCall(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		for _, e := range []unix.Errno{unix.EINTR, unix.ETIMEDOUT} {
			r, w := pipe(t)
			write(t, w, "x")
			k.FailCall(e)
			n, err := k.Kevent(kq, []Kevent{change(r, rd(k), EV_ADD)}, make([]Kevent, 4), nil)
			if n != -1 || err != e {
				t.Fatalf("kevent = %d, %v; want -1, %v", n, err, e)
			}
			mustFind(t, poll(t, k, kq, 4), r, rd(k))
		}
	})
}

// FailChange: the matching change fails without effect, reported as the kernel reports it.
func TestFailChange(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		write(t, w, "x")
		k.FailChange(EV_ADD, unix.ENOMEM)
		evs := make([]Kevent, 2)
		n, err := k.Kevent(kq, []Kevent{change(r, rd(k), EV_ADD)}, evs, zero)
		if n != 1 || err != nil || evs[0].Flags&EV_ERROR == 0 || evs[0].Data != int64(unix.ENOMEM) {
			t.Fatalf("kevent = %d, %v, %+v; want one EV_ERROR ENOMEM entry", n, err, evs[0])
		}
		if _, err := k.Kevent(kq, []Kevent{change(r, rd(k), EV_DELETE)}, nil, nil); err != unix.ENOENT {
			t.Fatalf("failed EV_ADD left a knote (EV_DELETE: %v)", err)
		}
		apply(t, k, kq, change(r, rd(k), EV_ADD))
		k.FailChange(EV_DELETE, unix.ENOMEM)
		if n, err := k.Kevent(kq, []Kevent{change(r, rd(k), EV_DELETE)}, nil, nil); n != -1 || err != unix.ENOMEM {
			t.Fatalf("EV_DELETE = %d, %v; want -1, ENOMEM", n, err)
		}
		mustFind(t, poll(t, k, kq, 4), r, rd(k)) // the delete had no effect
	})
}

// A blocked call gives up at its timeout, not before.
func TestTimeout(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		a, _ := socketpair(t, unix.SOCK_STREAM)
		apply(t, k, kq, change(a, rd(k), EV_ADD))
		ts := unix.NsecToTimespec(int64(30 * time.Millisecond))
		start := time.Now()
		for {
			n, err := k.Kevent(kq, nil, make([]Kevent, 1), &ts)
			if err == unix.EINTR {
				continue
			}
			if n != 0 || err != nil {
				t.Fatalf("kevent = %d, %v; want 0 at timeout", n, err)
			}
			break
		}
		if d := time.Since(start); d < 30*time.Millisecond {
			t.Fatalf("returned after %v, before the 30ms timeout", d)
		}
	})
}

// Close makes a blocked call return EBADF, and later calls fail with EBADF.
func TestCloseWakesBlocked(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		kq2, err := k.Kqueue()
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		done := make(chan error, 1)
		go func() {
			defer wg.Done()
			for {
				_, err := k.Kevent(kq2, nil, make([]Kevent, 1), nil)
				if err != unix.EINTR {
					done <- err
					return
				}
			}
		}()
		waitBlocked(t, k, kq2)
		if err := k.Close(kq2); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != unix.EBADF {
				t.Fatalf("blocked kevent after Close: %v, want EBADF", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not wake the blocked kevent")
		}
		wg.Wait()
		if err := k.Close(kq2); err != unix.EBADF {
			t.Fatalf("second Close: %v, want EBADF", err)
		}
	})
}

// EV_RECEIPT with no room in the event list: FreeBSD and OpenBSD stop processing the
// changelist there (kqueue(2)); XNU drops the receipt and goes on.
func TestReceiptNoRoom(t *testing.T) {
	forEach(t, func(f Flavour) bool { return f.Sys().Receipt }, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		write(t, w, "x")
		n, err := k.Kevent(kq, []Kevent{change(w, wr(k), EV_ADD|EV_RECEIPT), change(r, rd(k), EV_ADD)}, nil, nil)
		if n != 0 || err != nil {
			t.Fatalf("kevent = %d, %v; want 0, nil", n, err)
		}
		evs := poll(t, k, kq, 4)
		mustFind(t, evs, w, wr(k))
		if _, applied := find(evs, r, rd(k)); applied != (k.flavour == Darwin) {
			t.Fatalf("%v: change after a receipt with no room applied = %v", k.flavour, applied)
		}
	})
}

// An invalid timeout is EINVAL once the changes are applied.
func TestInvalidTimeout(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		r, w := pipe(t)
		write(t, w, "x")
		bad := &unix.Timespec{Nsec: 1e9}
		if n, err := k.Kevent(kq, []Kevent{change(r, rd(k), EV_ADD)}, make([]Kevent, 1), bad); n != -1 || err != unix.EINVAL {
			t.Fatalf("kevent = %d, %v; want -1, EINVAL", n, err)
		}
		mustFind(t, poll(t, k, kq, 4), r, rd(k))
	})
}

// EV_EOF on the read filter: the peer closed (socketpair), the writer is gone (pipe), the
// peer shut down its writing side, or the socket's own SHUT_RD (TCP). The write filter does
// not see the peer's SHUT_WR.
func TestReadEOF(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		a, b := socketpair(t, unix.SOCK_STREAM)
		r, w := pipe(t)
		c, s := tcpPair(t)
		c2, _ := tcpPair(t)
		apply(t, k, kq, change(a, rd(k), EV_ADD), change(r, rd(k), EV_ADD),
			change(s, rd(k), EV_ADD), change(s, wr(k), EV_ADD), change(c2, rd(k), EV_ADD))
		write(t, b, "abc")
		unix.Close(b)
		unix.Close(w)
		unix.Shutdown(c, unix.SHUT_WR)
		unix.Shutdown(c2, unix.SHUT_RD)
		want := map[int]int64{a: 3, r: 0, s: 0, c2: 0}
		deadline := time.Now().Add(5 * time.Second)
		for len(want) > 0 && time.Now().Before(deadline) {
			for _, e := range waitEvents(t, k, kq, 8) {
				if e.Filter == wr(k) {
					if e.Flags&EV_EOF != 0 {
						t.Fatalf("peer's SHUT_WR set EV_EOF on the write filter: %+v", e)
					}
					continue
				}
				if d, ok := want[int(e.Ident)]; ok && e.Flags&EV_EOF != 0 {
					if e.Data != d || e.Fflags != 0 {
						t.Errorf("ident %d: data %d fflags %d, want data %d fflags 0", e.Ident, e.Data, e.Fflags, d)
					}
					delete(want, int(e.Ident))
				}
			}
		}
		if len(want) > 0 {
			t.Fatalf("no EV_EOF for %v", want)
		}
	})
}

// EV_EOF on the write filter after the socket's own shutdown(SHUT_WR) (FreeBSD filt_sowrite
// SBS_CANTSENDMORE), for TCP and AF_UNIX stream; the read filter stays quiet.
func TestWriteEOFOwnShutdown(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		c, _ := tcpPair(t)
		a, _ := socketpair(t, unix.SOCK_STREAM)
		for _, fd := range []int{c, a} {
			apply(t, k, kq, change(fd, rd(k), EV_ADD), change(fd, wr(k), EV_ADD))
			if e := mustFind(t, poll(t, k, kq, 8), fd, wr(k)); e.Flags&EV_EOF != 0 {
				t.Fatalf("fd %d: EV_EOF before shutdown: %+v", fd, e)
			}
			if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
				t.Fatal(err)
			}
			evs := poll(t, k, kq, 8)
			if e := mustFind(t, evs, fd, wr(k)); e.Flags&EV_EOF == 0 || e.Fflags != 0 {
				t.Fatalf("fd %d after SHUT_WR: %+v, want EV_EOF, fflags 0", fd, e)
			}
			mustNotFind(t, evs, fd, rd(k))
		}
	})
}

// A pipe whose reader is gone: FreeBSD refuses EVFILT_WRITE with EPIPE, NetBSD with EBADF;
// XNU and OpenBSD accept it and report EV_EOF at once.
func TestPipeWriteReaderGone(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
			t.Fatal(err)
		}
		closeLater(t, p[1])
		unix.Close(p[0])
		w := p[1]
		_, err := k.Kevent(kq, []Kevent{change(w, wr(k), EV_ADD)}, nil, nil)
		switch k.flavour {
		case FreeBSD:
			if err != unix.EPIPE {
				t.Fatalf("err %v, want EPIPE", err)
			}
		case NetBSD:
			if err != unix.EBADF {
				t.Fatalf("err %v, want EBADF", err)
			}
		default:
			if err != nil {
				t.Fatal(err)
			}
			if e := mustFind(t, poll(t, k, kq, 4), w, wr(k)); e.Flags&EV_EOF == 0 {
				t.Fatalf("%+v: want EV_EOF", e)
			}
			return
		}
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("refused knote reported: %+v", evs)
		}
	})
}

// A pipe whose reader closes after registration: EV_EOF on the write filter (FreeBSD
// filt_pipewrite) on every flavour.
func TestPipeWriteEOFLater(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
			t.Fatal(err)
		}
		closeLater(t, p[1])
		apply(t, k, kq, change(p[1], wr(k), EV_ADD|EV_CLEAR))
		if e := mustFind(t, poll(t, k, kq, 4), p[1], wr(k)); e.Flags&EV_EOF != 0 {
			t.Fatalf("EOF with a reader: %+v", e)
		}
		unix.Close(p[0])
		if e := mustFind(t, waitEvents(t, k, kq, 4), p[1], wr(k)); e.Flags&EV_EOF == 0 {
			t.Fatalf("%+v: want EV_EOF once the reader is gone", e)
		}
	})
}

// A reset connection: both filters EV_EOF with the pending error in fflags (the placeholder),
// and the error is left for the caller to read.
func TestResetConnection(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		c, s := tcpPair(t)
		apply(t, k, kq, change(c, rd(k), EV_ADD), change(c, wr(k), EV_ADD))
		poll(t, k, kq, 4)
		if err := unix.SetsockoptLinger(s, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
			t.Fatal(err)
		}
		unix.Close(s) // RST
		got := map[int32]Kevent{}
		deadline := time.Now().Add(5 * time.Second)
		for len(got) < 2 && time.Now().Before(deadline) {
			for _, e := range waitEvents(t, k, kq, 4) {
				if e.Flags&EV_EOF != 0 && e.Fflags != 0 {
					got[e.Filter] = e
				}
			}
		}
		for _, f := range []int32{rd(k), wr(k)} {
			if e, ok := got[f]; !ok || e.Fflags != uint32(PendingErrorPlaceholder) {
				t.Fatalf("filter %d: %+v, want EV_EOF with fflags %d", f, e, PendingErrorPlaceholder)
			}
		}
		if v, _ := unix.GetsockoptInt(c, unix.SOL_SOCKET, unix.SO_ERROR); v != int(unix.ECONNRESET) {
			t.Fatalf("SO_ERROR after the model looked = %d, want ECONNRESET (the model must not consume it)", v)
		}
	})
}

// A refused non-blocking connect: the write filter fires with EV_EOF and a pending error, and
// SO_ERROR still holds ECONNREFUSED afterwards.
func TestRefusedConnect(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		ln := tcpListen(t)
		sa, _ := unix.Getsockname(ln)
		unix.Close(ln) // nothing listens on that port now
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, fd)
		if err := unix.Connect(fd, sa); err != unix.EINPROGRESS && err != unix.ECONNREFUSED {
			t.Fatalf("connect: %v", err)
		}
		apply(t, k, kq, change(fd, wr(k), EV_ADD))
		e := mustFind(t, waitEvents(t, k, kq, 4), fd, wr(k))
		if e.Flags&EV_EOF == 0 || e.Fflags == 0 {
			t.Fatalf("%+v: want EV_EOF and a pending error in fflags", e)
		}
		if v, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); v != int(unix.ECONNREFUSED) {
			t.Fatalf("SO_ERROR = %d, want ECONNREFUSED", v)
		}
	})
}

// A pending error without EOF (ICMP port unreachable on a connected UDP socket) fires the
// read filter with neither EV_EOF nor EV_ERROR (filt_soread: "temporary udp error").
func TestUDPPendingError(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, fd)
		a := freeUDPAddr(t)
		to := &unix.SockaddrInet4{Port: a.Port, Addr: [4]byte{127, 0, 0, 1}}
		if err := unix.Connect(fd, to); err != nil {
			t.Fatal(err)
		}
		apply(t, k, kq, change(fd, rd(k), EV_ADD))
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("idle UDP socket reported: %+v", evs)
		}
		if _, err := unix.Write(fd, []byte("x")); err != nil {
			t.Fatal(err)
		}
		e := mustFind(t, waitEvents(t, k, kq, 4), fd, rd(k))
		if e.Flags&(EV_EOF|EV_ERROR) != 0 {
			t.Fatalf("%+v: want no EV_EOF or EV_ERROR", e)
		}
		if v, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); v != int(unix.ECONNREFUSED) {
			t.Fatalf("SO_ERROR = %d, want ECONNREFUSED left for the caller", v)
		}
	})
}

// A listening socket is readable while a connection is pending.
func TestListenReadable(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		ln := tcpListen(t)
		apply(t, k, kq, change(ln, rd(k), EV_ADD))
		if evs := poll(t, k, kq, 4); len(evs) != 0 {
			t.Fatalf("idle listener reported: %+v", evs)
		}
		sa, _ := unix.Getsockname(ln)
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, c)
		if err := unix.Connect(c, sa); err != nil {
			t.Fatal(err)
		}
		if e := mustFind(t, waitEvents(t, k, kq, 4), ln, rd(k)); e.Data < 1 {
			t.Fatalf("%+v: want data >= 1", e)
		}
	})
}

// Regular files: readable while the offset is before the end, data = bytes left (FreeBSD
// filt_vfsread); not at EOF; always writable (filt_vfswrite). EV_CLEAR fires again when the
// file grows.
func TestRegularFile(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		f, err := unix.Open(t.TempDir()+"/f", unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, f)
		g, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", f), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, g)
		write(t, f, "0123456789")
		apply(t, k, kq, change(g, rd(k), EV_ADD), change(f, wr(k), EV_ADD))
		evs := poll(t, k, kq, 4)
		if e := mustFind(t, evs, g, rd(k)); e.Data != 10 {
			t.Fatalf("read data %d, want 10", e.Data)
		}
		if e := mustFind(t, evs, f, wr(k)); e.Flags&EV_EOF != 0 {
			t.Fatalf("write filter %+v", e)
		}
		unix.Seek(g, 4, 0)
		if e := mustFind(t, poll(t, k, kq, 4), g, rd(k)); e.Data != 6 {
			t.Fatalf("read data %d after seek, want 6", e.Data)
		}
		unix.Seek(g, 0, 2)
		mustNotFind(t, poll(t, k, kq, 4), g, rd(k))
		apply(t, k, kq, change(g, rd(k), EV_DELETE), change(g, rd(k), EV_ADD|EV_CLEAR))
		mustNotFind(t, poll(t, k, kq, 4), g, rd(k))
		write(t, f, "ab")
		if e := mustFind(t, poll(t, k, kq, 4), g, rd(k)); e.Data != 2 {
			t.Fatalf("after growth: data %d, want 2", e.Data)
		}
		mustNotFind(t, poll(t, k, kq, 4), g, rd(k))
	})
}

// A sleeping kevent notices a watched regular file growing (growth raises no Linux wakeup:
// the model re-checks files while it sleeps).
func TestRegularFileWakesSleeper(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		f, err := unix.Open(t.TempDir()+"/f", unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, f)
		apply(t, k, kq, change(f, rd(k), EV_ADD|EV_CLEAR))
		got := make(chan []Kevent, 1)
		go func() { got <- waitEventsNoT(k, kq) }()
		waitBlocked(t, k, kq)
		if _, err := unix.Pwrite(f, []byte("abc"), 0); err != nil {
			t.Fatal(err)
		}
		select {
		case evs := <-got:
			mustFind(t, evs, f, rd(k))
		case <-time.After(5 * time.Second):
			t.Fatal("sleeping kevent missed the file's growth")
		}
	})
}

// EVFILT_EXCEPT with NOTE_OOB fires on TCP urgent data. OpenBSD filt_soexcept fires only
// then; XNU runs filt_soread for it, so it also fires on ordinary data. A pipe is EINVAL.
func TestExceptOOB(t *testing.T) {
	forEach(t, func(f Flavour) bool { return f.Sys().HasExcept }, func(t *testing.T, k *Kernel, kq int) {
		sys := k.sys
		c, s := tcpPair(t)
		ex := Kevent{Ident: uint64(s), Filter: sys.FiltExcept, Flags: EV_ADD | EV_CLEAR, Fflags: sys.NoteOOB}
		apply(t, k, kq, ex)
		write(t, c, "plain")
		if k.flavour == Darwin {
			if e := mustFind(t, waitEvents(t, k, kq, 4), s, sys.FiltExcept); e.Fflags&sys.NoteOOB != 0 {
				t.Fatalf("plain data reported as OOB: %+v", e)
			}
		} else {
			// The data has arrived once the socket polls readable.
			p := []unix.PollFd{{Fd: int32(s), Events: unix.POLLIN}}
			unix.Poll(p, 5000)
			mustNotFind(t, poll(t, k, kq, 4), s, sys.FiltExcept)
		}
		if err := unix.Sendto(c, []byte("!"), unix.MSG_OOB, nil); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if e, ok := find(waitEvents(t, k, kq, 4), s, sys.FiltExcept); ok && e.Fflags&sys.NoteOOB != 0 {
				r, _ := pipe(t)
				pe := Kevent{Ident: uint64(r), Filter: sys.FiltExcept, Flags: EV_ADD, Fflags: sys.NoteOOB}
				if _, err := k.Kevent(kq, []Kevent{pe}, nil, nil); err != unix.EINVAL {
					t.Fatalf("EVFILT_EXCEPT on a pipe: %v, want EINVAL", err)
				}
				return
			}
		}
		t.Fatal("no NOTE_OOB event for urgent data")
	})
}

// The queue descriptor polls readable exactly while a kevent call would return something,
// and stops once a call has found nothing (no busy loop for a parked waiter).
func TestQueueFdReadable(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		a, b := socketpair(t, unix.SOCK_STREAM)
		apply(t, k, kq, change(a, rd(k), EV_ADD))
		if readable(kq) {
			t.Fatal("idle queue polls readable")
		}
		write(t, b, "x")
		p := []unix.PollFd{{Fd: int32(kq), Events: unix.POLLIN}}
		if n, _ := unix.Poll(p, 5000); n != 1 {
			t.Fatal("queue did not poll readable after data arrived")
		}
		mustFind(t, poll(t, k, kq, 4), a, rd(k))
		if !readable(kq) {
			t.Fatal("level-triggered knote still ready, but the queue does not poll readable")
		}
		drain(a)
		if readable(kq) {
			// Allowed until the next call looks; after it, it must not be.
			if evs := poll(t, k, kq, 4); len(evs) != 0 {
				t.Fatalf("drained fd reported: %+v", evs)
			}
		}
		if readable(kq) {
			t.Fatal("queue polls readable after a call found nothing")
		}
		// A trigger or change by another caller makes it readable too.
		r, w := pipe(t)
		write(t, w, "y")
		apply(t, k, kq, change(r, rd(k), EV_ADD))
		if !readable(kq) {
			t.Fatal("queue not readable after a ready fd was added")
		}
	})
}

// EINTR from the model's sleep comes back as EINTR, as from kqueue_scan's PCATCH sleep.
func TestEINTR(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		tids := make(chan int, 1)
		res := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tids <- unix.Gettid()
			ts := unix.NsecToTimespec(int64(5 * time.Second))
			_, err := k.Kevent(kq, nil, make([]Kevent, 1), &ts)
			res <- err
		}()
		tid := <-tids
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			unix.Tgkill(unix.Getpid(), tid, unix.SIGURG) // Go installs a handler for it
			select {
			case err := <-res:
				if err != unix.EINTR {
					t.Fatalf("kevent = %v, want EINTR", err)
				}
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		t.Fatal("kevent not interrupted")
	})
}

// Changes from several goroutines while another waits: no lost wakeup, no error, no race
// (run with -race), and the queue's state is consistent afterwards.
func TestConcurrentChanges(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		const nfd = 16
		var rs []int
		for i := 0; i < nfd; i++ {
			a, b := socketpair(t, unix.SOCK_STREAM)
			write(t, b, "x")
			rs = append(rs, a)
		}
		stop := make(chan struct{})
		waited := make(chan error, 1)
		go func() {
			evs := make([]Kevent, 4)
			ts := unix.NsecToTimespec(int64(5 * time.Millisecond))
			for {
				select {
				case <-stop:
					waited <- nil
					return
				default:
				}
				if _, err := k.Kevent(kq, nil, evs, &ts); err != nil && err != unix.EINTR {
					waited <- err
					return
				}
			}
		}()
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for g := 0; g < 4; g++ {
			g := g
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 300; i++ {
					fd := rs[(g*7+i)%nfd]
					flags := uint32(EV_ADD)
					if i%3 == 2 {
						flags = EV_DELETE
					}
					if _, err := k.Kevent(kq, []Kevent{change(fd, rd(k), flags)}, nil, nil); err != nil && err != unix.ENOENT {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(stop)
		if err := <-waited; err != nil {
			t.Fatalf("waiter: %v", err)
		}
		select {
		case err := <-errs:
			t.Fatalf("changer: %v", err)
		default:
		}
		var all []Kevent
		for _, fd := range rs {
			all = append(all, change(fd, rd(k), EV_ADD))
		}
		apply(t, k, kq, all...)
		if evs := poll(t, k, kq, 2*nfd); len(evs) != nfd {
			t.Fatalf("%d events after re-adding all, want %d (each once)", len(evs), nfd)
		}
	})
}

// Go's runtime poller can park a goroutine on the queue descriptor: it wakes when an event
// arrives, not before (the "parked wait" the poller's Config.Park needs).
func TestParkOnQueueFd(t *testing.T) {
	forEach(t, nil, func(t *testing.T, k *Kernel, kq int) {
		a, b := socketpair(t, unix.SOCK_STREAM)
		apply(t, k, kq, change(a, rd(k), EV_ADD))
		d, err := unix.Dup(kq)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.SetNonblock(d, true); err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(d), "kqueue")
		defer f.Close()
		rc, err := f.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		f.SetReadDeadline(time.Now().Add(5 * time.Second))
		calls := 0
		var got []Kevent
		// Most likely written while the reader is parked; if earlier, the first look finds it.
		time.AfterFunc(20*time.Millisecond, func() { unix.Write(b, []byte("x")) })
		err = rc.Read(func(uintptr) bool {
			calls++
			got = poll(t, k, kq, 4)
			return len(got) > 0
		})
		if err != nil {
			t.Fatalf("parked read: %v (after %d looks)", err, calls)
		}
		mustFind(t, got, a, rd(k))
		if calls > 3 {
			t.Fatalf("%d looks for one event: the queue descriptor woke the parked goroutine spuriously", calls)
		}
	})
}
