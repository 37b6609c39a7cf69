//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package poller

import (
	"fmt"
	"sort"
	"testing"
)

// The kqueue backend's bookkeeping, tested on every OS: kqmerge.go has no kernel in it.

const (
	kqECONNRESET = 54 // any nonzero so_error will do
	kqEBADF      = 9
)

func TestKqKeventReadiness(t *testing.T) {
	tests := []struct {
		name     string
		ev       kqKevent
		interest Flags
		want     Flags
	}{
		{"read", kqKevent{filter: kqRead}, Readable, Readable},
		{"write", kqKevent{filter: kqWrite}, Writable, Writable},
		{"read EOF", kqKevent{filter: kqRead, eof: true}, Readable, Readable | Hangup},
		{"read EOF adds write interest", kqKevent{filter: kqRead, eof: true},
			Readable | Writable, Readable | Writable | Hangup},
		{"read EOF with socket error", kqKevent{filter: kqRead, eof: true, fflags: kqECONNRESET},
			Readable, Readable | Hangup | Errored},
		{"refused connect", kqKevent{filter: kqWrite, eof: true, fflags: 61},
			Writable, Writable | Errored},
		// Own shutdown(SHUT_WR) sets EV_EOF on the write filter: not a hangup.
		{"write EOF without error", kqKevent{filter: kqWrite, eof: true},
			Writable, Writable},
		{"write EOF with read interest", kqKevent{filter: kqWrite, eof: true},
			Readable | Writable, Writable},
		{"EV_ERROR", kqKevent{filter: kqRead, failed: true, data: kqEBADF},
			Readable | Writable, Readable | Writable | Errored},
		{"EV_ERROR receipt of success", kqKevent{filter: kqRead, failed: true}, Readable, 0},
		{"fflags without EOF", kqKevent{filter: kqRead, fflags: 7}, Readable, Readable},
		{"other filter", kqKevent{filter: kqOther}, Readable, 0},
	}
	for _, tt := range tests {
		if got := readiness(tt.ev.readiness(), tt.interest); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func kqAllOpen(int) bool { return true }

func kqRd(fd int) kqKevent { return kqKevent{fd: fd, filter: kqRead} }
func kqWr(fd int) kqKevent { return kqKevent{fd: fd, filter: kqWrite} }

// kqBatch runs one Wait's bookkeeping as kqueueBackend.wait does, with kernel standing in
// for kevent: it gets the size of the buffer and returns what the kernel would.
func kqBatch(tab *kqTable, events []Event, kernel func(max int) []kqKevent) []Event {
	tab.begin()
	n := 0
	if tab.queued() {
		n = tab.serve(events, kqAllOpen)
		if n == len(events) {
			return events[:n]
		}
	}
	for _, ev := range kernel(kqBufLen(len(events) - n)) {
		n = tab.collect(events, n, ev)
	}
	return events[:n]
}

// kqOnce returns a kernel that hands out evs, at most max at a time, and nothing after.
func kqOnce(evs ...kqKevent) func(int) []kqKevent {
	return func(max int) []kqKevent {
		if max > len(evs) {
			max = len(evs)
		}
		out := evs[:max]
		evs = evs[max:]
		return out
	}
}

func eventsEqual(got, want []Event) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func TestKqMergeBatches(t *testing.T) {
	type step struct {
		kernel []kqKevent
		change func(tab *kqTable) // between the previous batch and this one
		want   []Event
	}
	rw := Readable | Writable
	tests := []struct {
		name  string
		regs  map[int]Flags
		slots int
		steps []step
	}{
		{
			name: "read and write of one fd merge", regs: map[int]Flags{5: rw}, slots: 4,
			steps: []step{{kernel: []kqKevent{kqRd(5), kqWr(5)}, want: []Event{{5, rw}}}},
		},
		{
			name: "merge with one slot", regs: map[int]Flags{5: rw}, slots: 1,
			steps: []step{{kernel: []kqKevent{kqWr(5), kqRd(5)}, want: []Event{{5, rw}}}},
		},
		{
			name: "merge keeps the order of first appearance", regs: map[int]Flags{3: rw, 4: rw}, slots: 4,
			steps: []step{{kernel: []kqKevent{kqRd(4), kqWr(3), kqWr(4), kqRd(3)},
				want: []Event{{4, rw}, {3, rw}}}},
		},
		{
			name: "overflow is served first next time", regs: map[int]Flags{3: Readable, 4: Readable}, slots: 1,
			steps: []step{
				{kernel: []kqKevent{kqRd(3), kqRd(4)}, want: []Event{{3, Readable}}},
				{want: []Event{{4, Readable}}},
				{want: nil},
			},
		},
		{
			name: "second filter merges into the pending entry", regs: map[int]Flags{3: Readable, 5: Readable, 4: rw}, slots: 2,
			steps: []step{
				{kernel: []kqKevent{kqRd(3), kqRd(5), kqRd(4), kqWr(4)}, want: []Event{{3, Readable}, {5, Readable}}},
				{want: []Event{{4, rw}}},
			},
		},
		{
			name: "pending then kernel result for the same fd is one event", regs: map[int]Flags{3: rw, 4: rw, 5: rw}, slots: 2,
			steps: []step{
				{kernel: []kqKevent{kqRd(3), kqRd(4), kqRd(5), kqWr(3)}, want: []Event{{3, rw}, {4, Readable}}},
				// The queue holds 5; the kernel then reports 5's write side and 4 again.
				{kernel: []kqKevent{kqWr(5), kqWr(4)}, want: []Event{{5, rw}, {4, Writable}}},
			},
		},
		{
			name: "deleted fd leaves the queue", regs: map[int]Flags{3: Readable, 4: Readable}, slots: 1,
			steps: []step{
				{kernel: []kqKevent{kqRd(3), kqRd(4)}, want: []Event{{3, Readable}}},
				{change: func(tab *kqTable) { tab.remove(4) }, want: nil},
			},
		},
		{
			name: "deleted and re-added fd leaves the queue", regs: map[int]Flags{3: Readable, 4: Readable}, slots: 1,
			steps: []step{
				{kernel: []kqKevent{kqRd(3), kqRd(4)}, want: []Event{{3, Readable}}},
				{change: func(tab *kqTable) { tab.remove(4); tab.set(4, Writable, tab.newGen(), false, true) }, want: nil},
			},
		},
		{
			// The kernel leaves an active knote where it is in its queue: a fd modified
			// before every Wait would never be reached if Modify dropped its place.
			name: "modified fd keeps its place in the queue", regs: map[int]Flags{3: Readable, 4: rw}, slots: 1,
			steps: []step{
				{kernel: []kqKevent{kqRd(3), kqRd(4), kqWr(4)}, want: []Event{{3, Readable}}},
				{change: func(tab *kqTable) { tab.set(4, Readable, tab.newGen(), false, false) },
					want: []Event{{4, Readable}}},
			},
		},
		{
			name: "modified fd's queued result takes the new interest", regs: map[int]Flags{3: Readable, 4: Writable}, slots: 1,
			steps: []step{
				{kernel: []kqKevent{kqRd(3), kqWr(4)}, want: []Event{{3, Readable}}},
				{change: func(tab *kqTable) { tab.set(4, Readable, tab.newGen(), false, false) }, want: nil},
			},
		},
		{
			name: "re-armed one-shot fd spends its arming on a queued result", regs: map[int]Flags{3: Readable, 4: Readable | OneShot}, slots: 1,
			steps: []step{
				{kernel: []kqKevent{kqRd(3), kqRd(4)}, want: []Event{{3, Readable}}},
				{change: func(tab *kqTable) { tab.set(4, Readable|OneShot, tab.newGen(), false, false) },
					want: []Event{{4, Readable}}},
				{kernel: []kqKevent{kqRd(4)}, want: nil},
			},
		},
		{
			name: "stale entries do not take slots", regs: map[int]Flags{3: Readable, 4: Readable, 5: Readable, 6: Readable}, slots: 2,
			steps: []step{
				{kernel: []kqKevent{kqRd(3), kqRd(4), kqRd(5), kqRd(6)}, want: []Event{{3, Readable}, {4, Readable}}},
				{change: func(tab *kqTable) { tab.remove(5) }, kernel: []kqKevent{kqRd(3)},
					want: []Event{{6, Readable}, {3, Readable}}},
			},
		},
		{
			name: "unregistered fd is dropped", regs: map[int]Flags{3: Readable}, slots: 4,
			steps: []step{{kernel: []kqKevent{kqRd(7), kqRd(3), kqRd(1 << 20)}, want: []Event{{3, Readable}}}},
		},
		{
			name: "result for dropped interest is dropped", regs: map[int]Flags{3: Readable}, slots: 4,
			steps: []step{{kernel: []kqKevent{kqWr(3)}, want: nil}},
		},
		{
			name: "error on dropped interest still reaches the reader", regs: map[int]Flags{3: Readable}, slots: 4,
			steps: []step{{kernel: []kqKevent{{fd: 3, filter: kqWrite, eof: true, fflags: kqECONNRESET}},
				want: []Event{{3, Readable | Errored}}}},
		},
		{
			name: "write EOF on dropped interest is nothing", regs: map[int]Flags{3: Readable}, slots: 4,
			steps: []step{{kernel: []kqKevent{{fd: 3, filter: kqWrite, eof: true}}, want: nil}},
		},
		{
			name: "hangup merges with the interest of both filters", regs: map[int]Flags{3: rw}, slots: 4,
			steps: []step{{kernel: []kqKevent{{fd: 3, filter: kqRead, eof: true, fflags: kqECONNRESET}, kqWr(3)},
				want: []Event{{3, rw | Hangup | Errored}}}},
		},
		{
			name: "one-shot reports once until modify", regs: map[int]Flags{3: Readable | OneShot}, slots: 4,
			steps: []step{
				{kernel: []kqKevent{kqRd(3)}, want: []Event{{3, Readable}}},
				{kernel: []kqKevent{kqRd(3)}, want: nil},
				{change: func(tab *kqTable) { tab.set(3, Readable|OneShot, tab.newGen(), false, true) }, kernel: []kqKevent{kqRd(3)},
					want: []Event{{3, Readable}}},
				{kernel: []kqKevent{kqRd(3)}, want: nil},
			},
		},
		{
			name: "one-shot merges both filters of one batch", regs: map[int]Flags{3: rw | OneShot}, slots: 4,
			steps: []step{
				{kernel: []kqKevent{kqRd(3), kqWr(3)}, want: []Event{{3, rw}}},
				{kernel: []kqKevent{kqWr(3)}, want: nil},
			},
		},
		{
			name: "one-shot overflow is kept and reported once", regs: map[int]Flags{3: Readable, 4: Readable | OneShot}, slots: 1,
			steps: []step{
				{kernel: []kqKevent{kqRd(3), kqRd(4)}, want: []Event{{3, Readable}}},
				{want: []Event{{4, Readable}}},
				{kernel: []kqKevent{kqRd(4)}, want: nil},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tab kqTable
			for fd, f := range tt.regs {
				tab.set(fd, f, tab.newGen(), false, true)
			}
			events := make([]Event, tt.slots)
			for i, s := range tt.steps {
				if s.change != nil {
					s.change(&tab)
				}
				got := kqBatch(&tab, events, kqOnce(s.kernel...))
				if !eventsEqual(got, s.want) {
					t.Fatalf("batch %d: got %v, want %v", i, got, s.want)
				}
			}
		})
	}
}

// A Modify or a Delete and Add between serving the queue and the kernel's answer, in one
// Wait, must not give the fd a second Event.
func TestKqMergeChangeMidBatch(t *testing.T) {
	var tab kqTable
	tab.set(3, Readable, tab.newGen(), false, true)
	tab.set(4, Readable|Writable, tab.newGen(), false, true)
	events := make([]Event, 1)
	if got := kqBatch(&tab, events, kqOnce(kqRd(3), kqRd(4))); !eventsEqual(got, []Event{{3, Readable}}) {
		t.Fatalf("first batch: %v", got)
	}
	events = make([]Event, 2)
	tab.begin()
	n := tab.serve(events, kqAllOpen)
	if n != 1 || events[0] != (Event{4, Readable}) {
		t.Fatalf("serve: %d %v", n, events[:n])
	}
	tab.remove(4)
	tab.set(4, Readable|Writable, tab.newGen(), false, true)
	n = tab.collect(events, n, kqWr(4))
	if n != 1 || events[0] != (Event{4, Readable | Writable}) {
		t.Fatalf("after re-add mid-batch: %d %v, want one merged event", n, events[:n])
	}
}

func TestKqTableGrowsOnlyOnSet(t *testing.T) {
	var tab kqTable
	if tab.lookup(1<<30) != nil || tab.lookup(-1) != nil {
		t.Fatal("lookup of an unheld fd found something")
	}
	if len(tab.regs) != 0 {
		t.Fatalf("lookup grew the table to %d", len(tab.regs))
	}
	tab.set(10, Readable, tab.newGen(), false, true)
	if len(tab.regs) <= 10 || tab.lookup(10) == nil || tab.lookup(9) != nil || tab.lookup(11) != nil {
		t.Fatalf("after set(10): len %d", len(tab.regs))
	}
	tab.remove(10)
	if tab.lookup(10) != nil {
		t.Fatal("remove left fd 10 registered")
	}
}

// kqFakeKernel is a kqueue that, like the BSD kernels, hands out active knotes from the head
// of its queue and puts a delivered level-triggered one back at the tail; an edge-triggered
// (EV_CLEAR) one leaves the queue until it is triggered again.
type kqFakeKernel struct {
	queue []kqKevent
	edge  bool
}

func (k *kqFakeKernel) scan(max int) []kqKevent {
	if max > len(k.queue) {
		max = len(k.queue)
	}
	out := append([]kqKevent(nil), k.queue[:max]...)
	rest := append([]kqKevent(nil), k.queue[max:]...)
	if !k.edge {
		rest = append(rest, out...)
	}
	k.queue = rest
	return out
}

// Level-triggered fairness: with events shorter than the ready set, successive Waits reach
// every ready fd, including when the kernel's rotation is a multiple of the buffer (4 fds,
// 1 slot, a 2-kevent buffer: dropping the overflow would report only fds 0 and 2 forever).
func TestKqMergeLevelFairness(t *testing.T) {
	for _, nfds := range []int{4, 7, 16} {
		for _, slots := range []int{1, 2, 3, 5} {
			for _, both := range []bool{false, true} {
				t.Run(fmt.Sprintf("fds=%d/slots=%d/rw=%v", nfds, slots, both), func(t *testing.T) {
					var tab kqTable
					k := &kqFakeKernel{}
					interest := Readable
					if both {
						interest |= Writable
					}
					for fd := 0; fd < nfds; fd++ {
						tab.set(fd, interest, tab.newGen(), false, true)
						k.queue = append(k.queue, kqRd(fd))
					}
					if both {
						for fd := 0; fd < nfds; fd++ {
							k.queue = append(k.queue, kqWr(fd))
						}
					}
					events := make([]Event, slots)
					seen := map[int]bool{}
					limit := 4 * (2*nfds/slots + 2)
					for w := 0; w < limit && len(seen) < nfds; w++ {
						got := kqBatch(&tab, events, k.scan)
						if len(got) == 0 {
							t.Fatalf("wait %d: nothing, with every fd ready", w)
						}
						dup := map[int]bool{}
						for _, ev := range got {
							if dup[ev.Fd] {
								t.Fatalf("wait %d: fd %d twice in %v", w, ev.Fd, got)
							}
							dup[ev.Fd] = true
							seen[ev.Fd] = true
						}
					}
					if len(seen) < nfds {
						t.Fatalf("after %d waits only fds %v were reported", limit, keys(seen))
					}
				})
			}
		}
	}
}

// Edge-triggered results are handed out once by the kernel: none may be lost to a short
// events slice, and each fd's read and write sides are reported.
func TestKqMergeEdgeNoLoss(t *testing.T) {
	for _, slots := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("slots=%d", slots), func(t *testing.T) {
			const nfds = 6
			var tab kqTable
			k := &kqFakeKernel{edge: true}
			for fd := 0; fd < nfds; fd++ {
				tab.set(fd, Readable|Writable|EdgeTriggered, tab.newGen(), false, true)
				k.queue = append(k.queue, kqRd(fd))
			}
			for fd := nfds - 1; fd >= 0; fd-- {
				k.queue = append(k.queue, kqWr(fd))
			}
			events := make([]Event, slots)
			got := map[int]Flags{}
			for w := 0; w < 4*nfds; w++ {
				for _, ev := range kqBatch(&tab, events, k.scan) {
					got[ev.Fd] |= ev.Flags
				}
			}
			for fd := 0; fd < nfds; fd++ {
				if got[fd] != Readable|Writable {
					t.Errorf("fd %d: reported %v over all waits, want Readable|Writable", fd, got[fd])
				}
			}
			if len(k.queue) != 0 || tab.queued() {
				t.Errorf("left over: kernel %v, queued %v", k.queue, tab.queued())
			}
		})
	}
}

func TestKqMergeNoAllocs(t *testing.T) {
	var tab kqTable
	kernel := make([]kqKevent, 0, 8)
	for fd := 0; fd < 4; fd++ {
		tab.set(fd, Readable|Writable, tab.newGen(), false, true)
		kernel = append(kernel, kqRd(fd))
	}
	for fd := 0; fd < 4; fd++ {
		kernel = append(kernel, kqWr(fd))
	}
	events := make([]Event, 2)
	wait := func() {
		tab.begin()
		n := 0
		if tab.queued() {
			if n = tab.serve(events, kqAllOpen); n == len(events) {
				return
			}
		}
		for _, ev := range kernel[:kqBufLen(len(events)-n)] {
			n = tab.collect(events, n, ev)
		}
	}
	wait() // grows the pending queue once
	if !tab.queued() {
		t.Fatal("the steady state under test should use the pending queue")
	}
	if allocs := testing.AllocsPerRun(100, wait); allocs != 0 {
		t.Fatalf("%v allocations per wait in steady state", allocs)
	}
}

func keys(m map[int]bool) []int {
	var ks []int
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

// A queued result of a fd the caller closed since is not served: close(2) removed the
// fd's knotes, and the kernel would report it no more.
func TestKqServeSkipsClosed(t *testing.T) {
	var tab kqTable
	tab.set(3, Readable, tab.newGen(), false, true)
	tab.set(4, Readable, tab.newGen(), false, true)
	events := make([]Event, 1)
	if got := kqBatch(&tab, events, func(int) []kqKevent { return []kqKevent{kqRd(3), kqRd(4)} }); len(got) != 1 || got[0].Fd != 3 {
		t.Fatalf("first batch: %v", got)
	}
	tab.begin()
	if n := tab.serve(events, func(fd int) bool { return fd != 4 }); n != 0 {
		t.Fatalf("served %v for a closed fd", events[:n])
	}
}
