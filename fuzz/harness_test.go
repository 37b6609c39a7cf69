//go:build linux

package fuzz_test

import (
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawpoll/poller"
	"golang.org/x/sys/unix"
)

// watchdog bounds a Wait that the model says must return (data is ready, or a Wake is
// pending): past it, the harness closes the poller and fails. It only catches hangs, so
// it is far above any scheduling delay.
const watchdog = 10 * time.Second

// maxEvents is the largest events slice a Wait gets; the pool is smaller, so a Wait of
// that size has room for every ready fd.
const maxEvents = 16

// wildFds are fds outside the pool: negative, beyond a C int (on 64-bit architectures),
// at and around FdSetSize. None may be open (the harness skips one that is).
var wildFds = fitInts(
	-1, -2, math.MinInt, math.MinInt32, math.MaxInt32, math.MaxInt32+1, math.MaxInt,
	1<<40, -1<<40, fdSetSize-1, fdSetSize, fdSetSize+1,
	2*fdSetSize, 1<<20, math.MaxUint32, -fdSetSize,
)

// harness drives one real Poller and its model through the same steps and fails at the
// first difference. Slots are the ends of the socketpairs; slot i's peer is i^1.
type harness struct {
	t      testing.TB
	p      *poller.Poller
	m      *model
	fds    []int // by slot; the number stays, the model says whether it is open
	ghosts []int // by slot: the duplicate that keeps a ghost's socket open, or -1
	hidden []int // duplicates of the sockets renew replaced, closed at the end
	events [maxEvents]poller.Event
	buf    [64]byte
	trace  []traceStep
	done   bool
}

// traceStep is one step, for the failure message; formatting waits for a failure.
type traceStep struct {
	op    string
	slot  int   // -1 for none
	arg   int64 // bytes, events, or a wild fd
	flags poller.Flags
	d     time.Duration
}

func (s traceStep) String() string {
	var b strings.Builder
	b.WriteString(s.op)
	if s.slot >= 0 {
		fmt.Fprintf(&b, " slot=%d", s.slot)
	}
	switch s.op {
	case "Add", "Modify", "wild Add", "wild Modify":
		fmt.Fprintf(&b, " flags=%v", s.flags)
	}
	switch s.op {
	case "Wait":
		fmt.Fprintf(&b, " events=%d timeout=%v", s.arg, s.d)
	case "write", "read":
		fmt.Fprintf(&b, " bytes=%d", s.arg)
	case "wild Add", "wild Modify", "wild Delete":
		fmt.Fprintf(&b, " fd=%d", s.arg)
	}
	return b.String()
}

// renewFd is where renew parks a new socketpair before it moves it onto the pool's
// numbers, and parkFd where the harness keeps the duplicates that hold sockets open
// behind closed numbers: both above any number the pool uses, so that a closed pool
// number stays free.
const (
	renewFd = 128
	parkFd  = 256
)

// spreadFd is where a spread pool puts its last pair: far above the others, so that
// the highest fd of select's sets moves a long way when it is deleted.
const spreadFd = 64

// newHarness opens a Poller on b and slots/2 socketpairs, the poller first or last
// (which decides whether its own descriptors sit below or above the pool); spread moves
// the last pair to spreadFd and up.
func newHarness(t testing.TB, b poller.Backend, slots int, pollerFirst, spread bool) *harness {
	h := &harness{t: t, m: newModel(b, slots), trace: make([]traceStep, 0, maxSteps+8)}
	if pollerFirst {
		h.open(b)
	}
	for i := 0; i < slots; i += 2 {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			h.cleanup()
			t.Fatalf("socketpair: %v", err)
		}
		h.fds = append(h.fds, fds[0], fds[1])
		h.ghosts = append(h.ghosts, -1, -1)
	}
	for slot := slots - 2; spread && slot < slots; slot++ {
		fd, err := unix.FcntlInt(uintptr(h.fds[slot]), unix.F_DUPFD_CLOEXEC, spreadFd)
		if err != nil {
			h.cleanup()
			t.Fatalf("F_DUPFD_CLOEXEC: %v", err)
		}
		unix.Close(h.fds[slot])
		h.fds[slot] = fd
	}
	if !pollerFirst {
		h.open(b)
	}
	t.Cleanup(h.cleanup)
	return h
}

func (h *harness) open(b poller.Backend) {
	p, err := poller.OpenBackend(b)
	if err != nil {
		h.cleanup()
		h.t.Fatalf("OpenBackend(%v): %v", b, err)
	}
	h.p = p
}

// cleanup releases everything, whatever state a failed input left.
func (h *harness) cleanup() {
	if h.done {
		return
	}
	h.done = true
	for slot, fd := range h.fds {
		if h.m.socks[slot].numOpen() {
			unix.Close(fd)
		}
		if h.ghosts[slot] >= 0 {
			unix.Close(h.ghosts[slot])
			h.ghosts[slot] = -1
		}
		h.m.socks[slot] = sock{}
	}
	for _, fd := range h.hidden {
		unix.Close(fd)
	}
	h.hidden = nil
	if h.p != nil && !h.m.closed {
		h.p.Close()
	}
}

// finish closes the pool and the poller and checks Close.
func (h *harness) finish() {
	for slot := range h.fds {
		h.close(slot, false)
	}
	h.closePoller()
	h.cleanup()
}

func (h *harness) log(s traceStep) { h.trace = append(h.trace, s) }

func (h *harness) fatalf(format string, args ...any) {
	h.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%v: ", h.m.backend)
	fmt.Fprintf(&b, format, args...)
	b.WriteString("\nfds by slot:")
	for slot, fd := range h.fds {
		fmt.Fprintf(&b, " %d:%d", slot, fd)
	}
	b.WriteString("\nsteps:")
	for i, s := range h.trace {
		fmt.Fprintf(&b, "\n  %2d %v", i, s)
	}
	h.t.Fatal(b.String())
}

func (h *harness) checkErr(what string, got error, want ...error) {
	h.t.Helper()
	for _, w := range want {
		if errMatches(got, w) {
			return
		}
	}
	h.fatalf("%s = %v, want %v", what, got, want)
}

// mustBeFree skips the input if the process reused a number the pool closed: the
// model assumes nothing else opens descriptors while it runs.
func (h *harness) mustBeFree(fd int) {
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
		h.t.Skipf("fd %d was closed by the pool and reused by the process", fd)
	}
}

func (h *harness) checkClosedSlots() {
	for slot, fd := range h.fds {
		if !h.m.socks[slot].numOpen() {
			h.mustBeFree(fd)
		}
	}
}

func (h *harness) add(slot int, f poller.Flags) {
	h.log(traceStep{op: "Add", slot: slot, flags: f})
	h.checkClosedSlots()
	want := h.m.add(slot, f)
	h.checkErr(fmt.Sprintf("Add(slot %d, %v)", slot, f), h.p.Add(h.fds[slot], f), want)
}

func (h *harness) modify(slot int, f poller.Flags) {
	h.log(traceStep{op: "Modify", slot: slot, flags: f})
	h.checkClosedSlots()
	want := h.m.modify(slot, f)
	h.checkErr(fmt.Sprintf("Modify(slot %d, %v)", slot, f), h.p.Modify(h.fds[slot], f), want)
}

func (h *harness) delete(slot int) {
	h.log(traceStep{op: "Delete", slot: slot})
	want := h.m.delete(slot)
	h.checkErr(fmt.Sprintf("Delete(slot %d)", slot), h.p.Delete(h.fds[slot]), want)
}

// wild applies op (0, 1: Add, 2: Modify, 3: Delete) to an fd outside the pool.
func (h *harness) wild(fd int, op int, f poller.Flags) {
	name := [4]string{"wild Add", "wild Add", "wild Modify", "wild Delete"}[op&3]
	h.log(traceStep{op: name, slot: -1, arg: int64(fd), flags: f})
	if fd >= 0 && fd <= math.MaxInt32 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			return // open in this process after all: not wild
		}
	}
	switch op & 3 {
	case 0, 1:
		h.checkErr(fmt.Sprintf("Add(%d, %v)", fd, f), h.p.Add(fd, f), h.m.wildAdd(fd, f)...)
	case 2:
		h.checkErr(fmt.Sprintf("Modify(%d, %v)", fd, f), h.p.Modify(fd, f), h.m.wildModify(fd, f))
	default:
		h.checkErr(fmt.Sprintf("Delete(%d)", fd), h.p.Delete(fd), h.m.wildDelete(fd))
	}
}

func (h *harness) slotOf(fd int) int {
	for slot, f := range h.fds {
		if f == fd {
			return slot
		}
	}
	return -1
}

// wait is one Wait with room for size events and the given timeout (negative: none,
// used only when the model says Wait must return). It returns the reported slots.
func (h *harness) wait(size int, timeout time.Duration) []int {
	h.t.Helper()
	if h.m.kq != nil {
		return h.waitKq(size, timeout)
	}
	h.checkClosedSlots()
	want := h.m.ready()
	// The Wait right after a Wake may return early with any part of what is ready.
	relaxed := h.m.wake
	if timeout < 0 && len(want) == 0 && !relaxed && !h.m.closed {
		timeout = 0 // would block for good
	}
	h.log(traceStep{op: "Wait", slot: -1, arg: int64(size), d: timeout})
	var fired atomic.Bool
	if timeout != 0 {
		timer := time.AfterFunc(watchdog, func() { fired.Store(true); h.p.Close() })
		defer timer.Stop()
	}
	n, err := h.p.Wait(h.events[:size], timeout)
	if fired.Load() {
		h.m.closed = true
		h.fatalf("Wait(%d, %v) still blocked after %v; the model wants %v", size, timeout, watchdog, h.fmtSet(want))
	}
	if werr := h.m.waitErr(size); werr != nil {
		h.checkErr(fmt.Sprintf("Wait(%d, %v)", size, timeout), err, werr)
		return nil
	}
	if err != nil {
		h.fatalf("Wait(%d, %v) = %d, %v; want %v", size, timeout, n, err, h.fmtSet(want))
	}
	if n < 0 || n > size {
		h.fatalf("Wait(%d, %v) = %d", size, timeout, n)
	}
	slots := make([]int, 0, n)
	for _, ev := range h.events[:n] {
		slot := h.slotOf(ev.Fd)
		wf, ok := want[slot]
		switch {
		case slot < 0:
			h.fatalf("Wait reported fd %d, not in the pool; got %v, want %v", ev.Fd, h.events[:n], h.fmtSet(want))
		case !ok:
			h.fatalf("Wait reported slot %d (%v), not ready; got %v, want %v", slot, ev.Flags, h.events[:n], h.fmtSet(want))
		case ev.Flags != wf:
			h.fatalf("Wait reported slot %d with %v, want %v; got %v, want %v", slot, ev.Flags, wf, h.events[:n], h.fmtSet(want))
		}
		for _, s := range slots {
			if s == slot {
				h.fatalf("Wait reported slot %d twice: %v", slot, h.events[:n])
			}
		}
		slots = append(slots, slot)
	}
	// Every ready fd, or as many as the events slice holds: only the Wait right after a
	// Wake may return fewer.
	if exp := min(size, len(want)); !relaxed && n != exp {
		h.fatalf("Wait(%d, %v) = %d events %v; want %d of %v", size, timeout, n, h.events[:n], exp, h.fmtSet(want))
	}
	h.m.reported(slots)
	return slots
}

// burst makes successive Waits with room for size events and nothing between them: a
// fd ready at the start must be reported within ceil(ready/size) of them (one more if a
// Wake is pending: that Wait may return early), or it was starved. kqueue's bound is
// looser (kqBurstRounds).
func (h *harness) burst(size int) {
	want := h.m.ready()
	rounds := (len(want) + size - 1) / size
	if h.m.wake {
		rounds++
	}
	if h.m.kq != nil {
		rounds = h.m.kqBurstRounds(size, len(want))
	}
	seen := make(map[int]bool, len(want))
	for i := 0; i < rounds && !h.m.closed; i++ {
		for _, slot := range h.wait(size, 0) {
			seen[slot] = true
		}
	}
	if h.m.closed {
		return
	}
	for slot := range want {
		if !seen[slot] {
			h.fatalf("slot %d was ready for %d Waits of %d events and never reported (ready: %v)", slot, rounds, size, h.fmtSet(want))
		}
	}
}

func (h *harness) fmtSet(set map[int]poller.Flags) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, slot := range sortedSlots(set) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "slot %d (fd %d): %v", slot, h.fds[slot], set[slot])
	}
	b.WriteByte('}')
	return b.String()
}

// write sends n bytes from slot to its peer, if the model says the write can succeed.
func (h *harness) write(slot, n int) {
	if !h.m.write(slot, n) {
		return
	}
	h.log(traceStep{op: "write", slot: slot, arg: int64(n)})
	// MSG_NOSIGNAL: should the model be wrong about a closed peer, fail, don't SIGPIPE.
	if err := unix.Sendto(h.ioFd(slot), h.buf[:n], unix.MSG_NOSIGNAL, nil); err != nil {
		h.fatalf("write(slot %d, %d bytes): %v", slot, n, err)
	}
}

// read makes one read of up to n bytes on slot and checks what it gets against the
// model; it returns the bytes read, and whether the read cleared an error.
func (h *harness) read(slot, n int) (int, bool) {
	s := &h.m.socks[slot]
	eof := s.rcvShut
	got, reset := h.m.read(slot, n)
	r, err := unix.Read(h.ioFd(slot), h.buf[:n])
	switch {
	case reset:
		if err != unix.ECONNRESET {
			h.fatalf("read(slot %d) = %d, %v; the model wants ECONNRESET", slot, r, err)
		}
	case got > 0:
		if r != got || err != nil {
			h.fatalf("read(slot %d, %d) = %d, %v; the model wants %d bytes", slot, n, r, err, got)
		}
	case eof:
		if r != 0 || err != nil {
			h.fatalf("read(slot %d) = %d, %v; the model wants EOF", slot, r, err)
		}
	default:
		if err != unix.EAGAIN {
			h.fatalf("read(slot %d) = %d, %v; the model wants EAGAIN", slot, r, err)
		}
	}
	return got, reset
}

func (h *harness) readOnce(slot, n int) {
	if !h.m.socks[slot].open {
		return
	}
	h.log(traceStep{op: "read", slot: slot, arg: int64(n)})
	h.read(slot, n)
}

// drain reads slot until the model says it is empty and its error is cleared.
func (h *harness) drain(slot int) {
	if !h.m.socks[slot].open {
		return
	}
	h.log(traceStep{op: "drain", slot: slot})
	for {
		got, reset := h.read(slot, len(h.buf))
		if got == 0 && !reset {
			return
		}
	}
}

func (h *harness) shutdown(slot int) {
	if !h.m.socks[slot].open {
		return
	}
	h.log(traceStep{op: "shutdown(SHUT_WR)", slot: slot})
	h.m.shutdown(slot)
	if err := unix.Shutdown(h.ioFd(slot), unix.SHUT_WR); err != nil {
		h.fatalf("shutdown(slot %d): %v", slot, err)
	}
}

// ioFd is the descriptor for I/O on slot's socket: its number, or the duplicate of a
// ghost.
func (h *harness) ioFd(slot int) int {
	if h.ghosts[slot] >= 0 {
		return h.ghosts[slot]
	}
	return h.fds[slot]
}

// close closes slot's socket; with keep, it closes the number only, and a duplicate
// keeps the socket open (a ghost: see sock.ghost).
func (h *harness) close(slot int, keep bool) {
	s := &h.m.socks[slot]
	if !s.open || keep && s.ghost {
		return
	}
	if keep {
		h.log(traceStep{op: "close, a dup kept", slot: slot})
		g, err := unix.FcntlInt(uintptr(h.fds[slot]), unix.F_DUPFD_CLOEXEC, parkFd)
		if err != nil {
			h.fatalf("F_DUPFD_CLOEXEC: %v", err)
		}
		h.ghosts[slot] = g
		h.m.closeNum(slot)
		if err := unix.Close(h.fds[slot]); err != nil {
			h.fatalf("close(slot %d): %v", slot, err)
		}
		return
	}
	h.log(traceStep{op: "close", slot: slot})
	fd := h.ioFd(slot)
	h.ghosts[slot] = -1
	h.m.close(slot)
	if err := unix.Close(fd); err != nil {
		h.fatalf("close(slot %d): %v", slot, err)
	}
}

// renew puts a new socketpair on the numbers of slot, a ghost, and its peer, neither
// of them registered, and keeps the old sockets open out of sight (see model.renew).
func (h *harness) renew(slot int) {
	p := peer(slot)
	if !h.m.socks[slot].ghost || h.m.regs[slot] != nil || h.m.regs[p] != nil {
		return
	}
	h.mustBeFree(h.fds[slot])
	if !h.m.socks[p].numOpen() {
		h.mustBeFree(h.fds[p])
	}
	h.log(traceStep{op: "renew pair", slot: slot})
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		h.fatalf("socketpair: %v", err)
	}
	// Out of the way first: the kernel hands out the lowest free numbers, the targets.
	for k := range fds {
		high, err := unix.FcntlInt(uintptr(fds[k]), unix.F_DUPFD_CLOEXEC, renewFd)
		unix.Close(fds[k])
		if err != nil {
			h.fatalf("F_DUPFD_CLOEXEC: %v", err)
		}
		fds[k] = high
	}
	for k, i := range [2]int{slot, p} {
		switch {
		case h.ghosts[i] >= 0:
			h.hidden = append(h.hidden, h.ghosts[i])
			h.ghosts[i] = -1
		case h.m.socks[i].open:
			old, err := unix.FcntlInt(uintptr(h.fds[i]), unix.F_DUPFD_CLOEXEC, parkFd)
			if err != nil {
				h.fatalf("F_DUPFD_CLOEXEC: %v", err)
			}
			h.hidden = append(h.hidden, old)
		}
		if err := unix.Dup3(fds[k], h.fds[i], unix.O_CLOEXEC); err != nil {
			h.fatalf("dup3: %v", err)
		}
		unix.Close(fds[k])
	}
	h.m.renew(slot)
}

// reopen puts a ghost's socket back on its number (dup3) when the poller does not hold
// the number: the same file on the same number, which epoll may still hold.
func (h *harness) reopen(slot int) {
	if !h.m.socks[slot].ghost || h.m.regs[slot] != nil {
		return
	}
	h.mustBeFree(h.fds[slot])
	h.log(traceStep{op: "dup3 back", slot: slot})
	if err := unix.Dup3(h.ghosts[slot], h.fds[slot], unix.O_CLOEXEC); err != nil {
		h.fatalf("dup3: %v", err)
	}
	unix.Close(h.ghosts[slot])
	h.ghosts[slot] = -1
	h.m.reopen(slot)
}

func (h *harness) wake(times int) {
	for i := 0; i < times; i++ {
		h.log(traceStep{op: "Wake", slot: -1})
		if h.m.closed {
			h.checkErr("Wake after Close", h.p.Wake(), poller.ErrClosed)
			continue
		}
		h.checkErr("Wake", h.p.Wake(), nil)
		if h.m.kq != nil && !h.m.wake {
			h.m.kqTrigger() // a Wake while one is pending makes no syscall
		}
		h.m.wake = true
	}
}

func (h *harness) closePoller() {
	h.log(traceStep{op: "Close", slot: -1})
	if h.m.closed {
		h.checkErr("second Close", h.p.Close(), poller.ErrClosed)
		return
	}
	h.m.closed = true
	h.checkErr("Close", h.p.Close(), nil)
}
