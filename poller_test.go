//go:build aix || darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd || solaris

package poller_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rawpoll/poller"
	"golang.org/x/sys/unix"
)

// behaviours is the contract (CONTRACT.md), one entry (at least) per bullet, run against
// every backend this OS has.
var behaviours = []struct {
	name string
	run  func(t *testing.T, b testBackend)
}{
	// Registration
	{"InvalidFlags", testInvalidFlags},
	{"UnsupportedMode", testUnsupportedMode},
	{"AddExisting", testAddExisting},
	{"NotRegistered", testNotRegistered},
	{"BadFds", testBadFds},
	{"NeverClosesWatchedFds", testNeverClosesWatchedFds},
	{"CloseBeforeDelete", testCloseBeforeDelete},
	{"ClosedFdDoesNotWedge", testClosedFdDoesNotWedge},
	{"ReadyAtAdd", testReadyAtAdd},
	{"ReadyAtModify", testReadyAtModify},
	{"ModifyReplaces", testModifyReplaces},
	{"FailedModify", testFailedModify},
	{"RegularFile", testRegularFile},
	{"ClosePollerHoldingFds", testClosePollerHoldingFds},
	{"OpenOutOfFds", testOpenOutOfFds},
	// Waiting
	{"EmptyEvents", testEmptyEvents},
	{"TimeoutZero", testTimeoutZero},
	{"TimeoutPositive", testTimeoutPositive},
	{"TimeoutSubMillisecond", testTimeoutSubMillisecond},
	{"TimeoutNegativeBlocks", testTimeoutNegativeBlocks},
	{"LevelTriggered", testLevelTriggered},
	{"EdgeTriggered", testEdgeTriggered},
	{"OneShot", testOneShot},
	{"HangupSocketpair", testHangupSocketpair},
	{"HangupPipe", testHangupPipe},
	{"HangupTCP", testHangupTCP},
	{"HalfClose", testHalfClose},
	{"OwnShutdownWrite", testOwnShutdownWrite},
	{"AddWriteBrokenPipe", testAddWriteBrokenPipe},
	{"ErroredPipe", testErroredPipe},
	{"ListenerReadable", testListenerReadable},
	{"ConnectSucceeds", testConnectSucceeds},
	{"ConnectRefused", testConnectRefused},
	{"PriorityAlone", testPriorityAlone},
	{"PriorityAndReadable", testPriorityAndReadable},
	{"PriorityEdgeTriggered", testPriorityEdgeTriggered},
	{"PriorityOneShot", testPriorityOneShot},
	{"PriorityHangup", testPriorityHangup},
	{"OneEventPerFd", testOneEventPerFd},
	{"NoStarvation", testNoStarvation},
	{"NoStarvationModified", testNoStarvationModified},
	{"SignalStorm", testSignalStorm},
	// Concurrency
	{"AddDuringWait", testAddDuringWait},
	{"ModifyDuringWait", testModifyDuringWait},
	{"DeleteDuringWait", testDeleteDuringWait},
	{"DeleteThenSilent", testDeleteThenSilent},
	{"Busy", testBusy},
	{"ConcurrentChanges", testConcurrentChanges},
	// Waking and closing
	{"WakeBlocked", testWakeBlocked},
	{"WakeBeforeWait", testWakeBeforeWait},
	{"WakeCoalesces", testWakeCoalesces},
	{"WakeNeverBlocks", testWakeNeverBlocks},
	{"WakeRounds", testWakeRounds},
	{"CloseDuringWait", testCloseDuringWait},
	{"AfterClose", testAfterClose},
	{"WakeRacingClose", testWakeRacingClose},
	{"NoFdLeak", testNoFdLeak},
	{"ZeroAllocs", testZeroAllocs},
}

func TestBehaviour(t *testing.T) {
	for _, b := range testBackends() {
		b := b
		t.Run(b.String(), func(t *testing.T) {
			for _, tc := range behaviours {
				tc := tc
				t.Run(tc.name, func(t *testing.T) { tc.run(t, b) })
			}
		})
	}
}

func TestBackends(t *testing.T) {
	bs := poller.Backends()
	// AIX has no native backend: poll is its best.
	if len(bs) < 2 || bs[len(bs)-2] != poller.BackendPoll || bs[len(bs)-1] != poller.BackendSelect {
		t.Fatalf("Backends() = %v, want the native one first if any, then poll, then select", bs)
	}
	p, err := poller.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Backend() != bs[0] {
		t.Fatalf("Open() gave %v, want the best backend %v", p.Backend(), bs[0])
	}
	for _, b := range []poller.Backend{0, poller.BackendPort + 1, 255} {
		if _, err := poller.OpenBackend(b); !errors.Is(err, poller.ErrUnsupported) {
			t.Errorf("OpenBackend(%d): %v, want ErrUnsupported", b, err)
		}
	}
	// A backend Backends() does not list is refused (event ports here, outside illumos
	// and Solaris, unless the portmodel_illumos tag lists its model).
	for _, b := range []poller.Backend{poller.BackendEpoll, poller.BackendKqueue, poller.BackendPort} {
		listed := false
		for _, l := range bs {
			listed = listed || l == b
		}
		if p, err := poller.OpenBackend(b); listed != (err == nil) {
			t.Errorf("OpenBackend(%v): %v; Backends() = %v", b, err, bs)
		} else if err == nil {
			p.Close()
		} else if !errors.Is(err, poller.ErrUnsupported) {
			t.Errorf("OpenBackend(%v): %v, want ErrUnsupported", b, err)
		}
	}
}

func TestStrings(t *testing.T) {
	// The values are API: CONTRACT.md fixes Priority as the bit after Errored.
	if poller.Errored != 1<<5 || poller.Priority != 1<<6 {
		t.Errorf("Errored = %#x, Priority = %#x; want 1<<5, 1<<6", uint32(poller.Errored), uint32(poller.Priority))
	}
	for f, want := range map[poller.Flags]string{
		0:                                "0",
		poller.Readable:                  "Readable",
		poller.Readable | poller.Hangup:  "Readable|Hangup",
		poller.Writable | poller.Errored: "Writable|Errored",
		poller.EdgeTriggered | 1<<10:     "EdgeTriggered|0x400",
		poller.OneShot | poller.Readable: "Readable|OneShot",
		poller.Priority:                  "Priority",
		poller.Priority | poller.Errored: "Errored|Priority",
		poller.Priority | 1<<7:           "Priority|0x80",
	} {
		if got := f.String(); got != want {
			t.Errorf("Flags(%#x).String() = %q, want %q", uint32(f), got, want)
		}
	}
	for b, want := range map[poller.Backend]string{
		poller.BackendEpoll: "epoll", poller.BackendKqueue: "kqueue",
		poller.BackendPoll: "poll", poller.BackendSelect: "select", poller.BackendPort: "port",
		9: "Backend(9)",
	} {
		if got := b.String(); got != want {
			t.Errorf("Backend(%d).String() = %q, want %q", b, got, want)
		}
	}
}

// Registration

func testInvalidFlags(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	bad := []poller.Flags{0, poller.Hangup, poller.Errored, poller.Readable | poller.Hangup,
		poller.Writable | poller.Errored, poller.EdgeTriggered, poller.OneShot, poller.Readable | 1<<7,
		poller.Priority | poller.Hangup, poller.EdgeTriggered | poller.OneShot, 1 << 31, ^poller.Flags(0)}
	for _, f := range bad {
		if err := p.Add(sp[0], f); !errors.Is(err, poller.ErrInvalidFlags) {
			t.Errorf("Add(%v): %v, want ErrInvalidFlags", f, err)
		}
	}
	mustAdd(t, p, sp[0], poller.Readable)
	for _, f := range bad {
		if err := p.Modify(sp[0], f); !errors.Is(err, poller.ErrInvalidFlags) {
			t.Errorf("Modify(%v): %v, want ErrInvalidFlags", f, err)
		}
	}
}

func testUnsupportedMode(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	err := p.Add(sp[0], poller.Readable|poller.EdgeTriggered)
	switch b.kind {
	case poller.BackendPoll, poller.BackendSelect, poller.BackendPort:
		if !errors.Is(err, poller.ErrUnsupported) {
			t.Fatalf("edge-triggered Add on %v: %v, want ErrUnsupported", b, err)
		}
	default:
		if err != nil {
			t.Fatalf("edge-triggered Add on %v: %v", b, err)
		}
	}
}

func testAddExisting(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	mustAdd(t, p, sp[0], poller.Readable)
	if err := p.Add(sp[0], poller.Writable); !errors.Is(err, poller.ErrExists) {
		t.Fatalf("second Add: %v, want ErrExists", err)
	}
	if err := p.Delete(sp[0]); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(sp[0], poller.Writable); err != nil {
		t.Fatalf("Add after Delete: %v", err)
	}
}

func testNotRegistered(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	for _, fd := range []int{sp[0], -1, 1 << 20, math.MaxInt} {
		if err := p.Modify(fd, poller.Readable); !errors.Is(err, poller.ErrNotRegistered) {
			t.Errorf("Modify(%d) unregistered: %v, want ErrNotRegistered", fd, err)
		}
		if err := p.Delete(fd); !errors.Is(err, poller.ErrNotRegistered) {
			t.Errorf("Delete(%d) unregistered: %v, want ErrNotRegistered", fd, err)
		}
	}
	mustAdd(t, p, sp[0], poller.Readable)
	if err := p.Delete(sp[0]); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(sp[0]); !errors.Is(err, poller.ErrNotRegistered) {
		t.Errorf("second Delete: %v, want ErrNotRegistered", err)
	}
}

func testBadFds(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	for _, fd := range []int{-1, math.MinInt, aboveInt32(0)} {
		if err := p.Add(fd, poller.Readable); !errors.Is(err, unix.EBADF) {
			t.Errorf("Add(%d): %v, want EBADF", fd, err)
		}
	}
	sp := socketPair(t)
	closed := sp[1]
	unix.Close(sp[1])
	sp[1] = -1
	err := p.Add(closed, poller.Readable)
	if !errors.Is(err, unix.EBADF) {
		t.Errorf("Add of a closed fd: %v, want EBADF", err)
	}
	var se *os.SyscallError
	if !errors.As(err, &se) {
		t.Errorf("Add of a closed fd: %T, want *os.SyscallError", err)
	}

	f, err := os.CreateTemp(t.TempDir(), "regular")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("data"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	err = p.Add(int(f.Fd()), poller.Readable)
	switch {
	case b.kind == poller.BackendEpoll:
		if !errors.Is(err, unix.EPERM) {
			t.Errorf("Add of a regular file on epoll: %v, want EPERM", err)
		}
	case err != nil:
		t.Errorf("Add of a regular file on %v: %v", b, err)
	default:
		// poll and select report regular files always ready; kqueue reports them
		// readable while the offset is short of the end (FreeBSD filt_vfsread).
		if f := waitFd(t, p, int(f.Fd())); f&poller.Readable == 0 {
			t.Errorf("regular file reported %v, want Readable", f)
		}
		if b.kind == poller.BackendKqueue {
			drain(t, int(f.Fd()))
			expectSilent(t, p, int(f.Fd()), 20*time.Millisecond)
		}
		p.Delete(int(f.Fd()))
	}

	if b.kind == poller.BackendSelect {
		high := dupAbove(t, sp[0], poller.FdSetSize)
		if err := p.Add(high, poller.Readable); !errors.Is(err, poller.ErrFdTooLarge) {
			t.Errorf("select Add(%d): %v, want ErrFdTooLarge", high, err)
		}
	}
}

// reuseNumber returns a fresh socketpair whose first fd has the number num, which the
// caller closed; the pair's peer is the second result.
func reuseNumber(t *testing.T, num int) (fd, peer int) {
	t.Helper()
	re := socketPair(t)
	if re[1] == num {
		return re[1], re[0]
	}
	if re[0] != num {
		// Something else took the number first: move the socket onto it.
		if _, err := unix.FcntlInt(uintptr(num), unix.F_GETFD, 0); err == nil {
			t.Fatalf("fd %d is unexpectedly open", num)
		}
		moved, err := dupFrom(re[0], num)
		if err != nil || moved != num {
			t.Fatalf("moving fd %d onto %d: got %d, %v", re[0], num, moved, err)
		}
		unix.Close(re[0])
		re[0] = num
	}
	return re[0], re[1]
}

// dupAbove duplicates fd onto a number >= min, raising RLIMIT_NOFILE if it must.
func dupAbove(t *testing.T, fd, min int) int {
	t.Helper()
	raiseNofile(t, uint64(min)+16)
	high, err := dupFrom(fd, min)
	if err != nil {
		t.Fatalf("F_DUPFD to %d or above: %v (RLIMIT_NOFILE too low?)", min, err)
	}
	closeOnce(t, &high)
	return high
}

func testNeverClosesWatchedFds(t *testing.T, b testBackend) {
	p, err := b.open()
	if err != nil {
		t.Fatal(err)
	}
	sp := socketPair(t)
	mustAdd(t, p, sp[0], poller.Readable)
	p.Close()
	if _, err := unix.FcntlInt(uintptr(sp[0]), unix.F_GETFD, 0); err != nil {
		t.Fatalf("Close closed a watched fd: %v", err)
	}
}

// testCloseBeforeDelete breaks the ownership rule on purpose: the fd is closed while
// registered. The poller must go on serving the other fds, Delete must free the slot,
// and the reused number must be addable again.
func testCloseBeforeDelete(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	a, other := socketPair(t), socketPair(t)
	for _, fd := range []int{a[0], other[0]} {
		mustAdd(t, p, fd, poller.Readable)
	}
	num := a[0]
	unix.Close(a[0])
	a[0] = -1
	write(t, other[1], "x")
	if f := waitFd(t, p, other[0]); f&poller.Readable == 0 {
		t.Fatalf("other fd reported %v, want Readable", f)
	}
	if err := p.Delete(num); err != nil {
		t.Fatalf("Delete of a closed registered fd: %v, want nil", err)
	}
	// The number is reused by the next socket; it must be addable and work.
	fd, peer := reuseNumber(t, num)
	if err := p.Add(fd, poller.Readable); err != nil {
		t.Fatalf("Add of the reused number %d: %v", fd, err)
	}
	expectSilent(t, p, fd, 20*time.Millisecond)
	write(t, peer, "y")
	if f := waitFd(t, p, fd); f&poller.Readable == 0 {
		t.Fatalf("reused fd reported %v, want Readable", f)
	}
}

// testClosedFdDoesNotWedge: a registered fd closed without Delete must not make every
// later Wait fail (select fails whole calls with EBADF; poll reports POLLNVAL). poll and
// select report it Errored until Delete; epoll and kqueue drop it.
func testClosedFdDoesNotWedge(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	a, other := socketPair(t), socketPair(t)
	for _, fd := range []int{a[0], other[0]} {
		mustAdd(t, p, fd, poller.Readable)
	}
	ready := socketPair(t) // ready from the start: reported by the very Wait that finds a[0] closed
	mustAdd(t, p, ready[0], poller.Writable)
	num := a[0]
	unix.Close(a[0])
	a[0] = -1
	for i := 0; i < 3; i++ {
		got := waitMap(t, p, 16, 20*time.Millisecond)
		if got[ready[0]] != poller.Writable {
			t.Fatalf("wait %d: a ready fd reported %v, want Writable", i, got[ready[0]])
		}
		switch b.kind {
		case poller.BackendPoll, poller.BackendSelect:
			if got[num] != poller.Errored|poller.Readable {
				t.Fatalf("wait %d: closed fd reported %v, want Readable|Errored", i, got[num])
			}
		default:
			if f, ok := got[num]; ok {
				t.Fatalf("wait %d: closed fd reported %v, want nothing", i, f)
			}
		}
		if _, ok := got[other[0]]; ok {
			t.Fatalf("wait %d: idle fd reported", i)
		}
	}
	write(t, other[1], "x")
	if f := waitFd(t, p, other[0]); f != poller.Readable {
		t.Fatalf("other fd reported %v, want Readable", f)
	}
	if err := p.Delete(num); err != nil {
		t.Fatal(err)
	}
	expectSilent(t, p, num, 20*time.Millisecond)
}

// Waiting

func testEmptyEvents(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	for _, events := range [][]poller.Event{nil, {}} {
		if _, err := p.Wait(events, 0); !errors.Is(err, unix.EINVAL) {
			t.Errorf("Wait(%v): %v, want EINVAL", events, err)
		}
	}
}

func testTimeoutZero(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	mustAdd(t, p, sp[0], poller.Readable)
	start := time.Now()
	n, err := p.Wait(make([]poller.Event, 4), 0)
	if err != nil || n != 0 {
		t.Fatalf("Wait(0) = %d, %v", n, err)
	}
	if d := time.Since(start); d > slack {
		t.Fatalf("Wait(0) took %v", d)
	}
}

func testTimeoutPositive(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	for _, d := range []time.Duration{time.Millisecond, 30 * time.Millisecond, 1500 * time.Microsecond} {
		start := time.Now()
		n, err := p.Wait(make([]poller.Event, 4), d)
		el := time.Since(start)
		if err != nil || n != 0 {
			t.Fatalf("Wait(%v) = %d, %v", d, n, err)
		}
		if el < d {
			t.Errorf("Wait(%v) returned after %v: rounded down", d, el)
		}
		if el > d+slack {
			t.Errorf("Wait(%v) returned after %v", d, el)
		}
	}
}

// testTimeoutSubMillisecond: a timeout below the backend's resolution is rounded up and
// waited in the kernel, not turned into a loop of zero-timeout calls. The loop count is
// seen through the CPU time spent: a 50 ms run of 100 µs waits sleeps nearly all of it.
func testTimeoutSubMillisecond(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	events := make([]poller.Event, 4)
	var before, after unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &before)
	start := time.Now()
	waits := 0
	for time.Since(start) < 50*time.Millisecond {
		t0 := time.Now()
		if n, err := p.Wait(events, 100*time.Microsecond); err != nil || n != 0 {
			t.Fatalf("Wait(100µs) = %d, %v", n, err)
		}
		if el := time.Since(t0); el < 100*time.Microsecond {
			t.Fatalf("Wait(100µs) returned after %v", el)
		}
		waits++
	}
	unix.Getrusage(unix.RUSAGE_SELF, &after)
	wall := time.Since(start)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	t.Logf("%d waits of 100µs in %v wall, %v CPU", waits, wall, cpu)
	// Spinning would burn about the whole wall time; waiting burns a small part. Other
	// goroutines and the race detector count too, so the bound is loose.
	if cpu > wall*3/4+10*time.Millisecond {
		t.Errorf("sub-millisecond waits burnt %v CPU in %v: a busy loop?", cpu, wall)
	}
}

func testTimeoutNegativeBlocks(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	mustAdd(t, p, sp[0], poller.Readable)
	done := make(chan poller.Flags, 1)
	go func() {
		events := make([]poller.Event, 4)
		n, err := p.Wait(events, -1)
		if err != nil || n != 1 {
			done <- 0
			return
		}
		done <- events[0].Flags
	}()
	select {
	case <-done:
		t.Fatal("Wait(-1) returned with nothing ready")
	case <-time.After(50 * time.Millisecond):
	}
	write(t, sp[1], "x")
	select {
	case f := <-done:
		if f != poller.Readable {
			t.Fatalf("Wait(-1) reported %v", f)
		}
	case <-time.After(slack):
		t.Fatal("Wait(-1) did not return on readiness")
	}
}

func testLevelTriggered(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	mustAdd(t, p, sp[0], poller.Readable)
	expectSilent(t, p, sp[0], 0)
	write(t, sp[1], "hello")
	for i := 0; i < 3; i++ {
		if f := waitFd(t, p, sp[0]); f != poller.Readable {
			t.Fatalf("wait %d: %v, want Readable", i, f)
		}
	}
	drain(t, sp[0])
	expectSilent(t, p, sp[0], 10*time.Millisecond)
	if err := p.Modify(sp[0], poller.Writable); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if f := waitFd(t, p, sp[0]); f != poller.Writable {
			t.Fatalf("after Modify(Writable), wait %d: %v", i, f)
		}
	}
}

func testEdgeTriggered(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	if err := p.Add(sp[0], poller.Readable|poller.EdgeTriggered); err != nil {
		if errors.Is(err, poller.ErrUnsupported) {
			t.Skipf("%v has no edge-triggered mode (CONTRACT.md); ErrUnsupported is checked by UnsupportedMode", b)
		}
		t.Fatal(err)
	}
	write(t, sp[1], "a")
	if f := waitFd(t, p, sp[0]); f != poller.Readable {
		t.Fatalf("first edge: %v", f)
	}
	// Not drained, but no new edge: silent.
	expectSilent(t, p, sp[0], 20*time.Millisecond)
	write(t, sp[1], "b")
	if f := waitFd(t, p, sp[0]); f != poller.Readable {
		t.Fatalf("second edge: %v", f)
	}
	if got := drain(t, sp[0]); got != "ab" {
		t.Fatalf("drained %q", got)
	}
	expectSilent(t, p, sp[0], 20*time.Millisecond)
}

func testOneShot(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	mustAdd(t, p, sp[0], poller.Readable|poller.OneShot)
	write(t, sp[1], "a")
	if f := waitFd(t, p, sp[0]); f != poller.Readable {
		t.Fatalf("one-shot report: %v", f)
	}
	expectSilent(t, p, sp[0], 20*time.Millisecond) // still readable, but disarmed
	if err := p.Add(sp[0], poller.Readable); !errors.Is(err, poller.ErrExists) {
		t.Fatalf("Add of a disarmed one-shot fd: %v, want ErrExists", err)
	}
	if err := p.Modify(sp[0], poller.Readable|poller.OneShot); err != nil {
		t.Fatal(err)
	}
	if f := waitFd(t, p, sp[0]); f != poller.Readable {
		t.Fatalf("re-armed report: %v", f)
	}
	expectSilent(t, p, sp[0], 20*time.Millisecond)
	if err := p.Delete(sp[0]); err != nil {
		t.Fatalf("Delete of a disarmed one-shot fd: %v", err)
	}
}

// wantHangup is what a reader registered with interest sees once its peer closed:
// Readable|Hangup, or plain Readable where the backend cannot tell.
func wantHangup(b testBackend, interest poller.Flags) poller.Flags {
	if !hasHangup(b) {
		return interest
	}
	return interest | poller.Hangup
}

func testHangupSocketpair(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	mustAdd(t, p, sp[0], poller.Readable)
	unix.Close(sp[1])
	sp[1] = -1
	for i := 0; i < 2; i++ { // level-triggered: repeated
		if f := waitFd(t, p, sp[0]); f != wantHangup(b, poller.Readable) {
			t.Fatalf("wait %d: %v, want %v", i, f, wantHangup(b, poller.Readable))
		}
	}
	if n, err := unix.Read(sp[0], make([]byte, 8)); n != 0 || err != nil {
		t.Fatalf("read after hangup = %d, %v; want 0, nil", n, err)
	}
}

func testHangupPipe(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	pp := pipePair(t)
	mustAdd(t, p, pp[0], poller.Readable)
	write(t, pp[1], "last")
	unix.Close(pp[1])
	pp[1] = -1
	if f := waitFd(t, p, pp[0]); f&poller.Readable == 0 {
		t.Fatalf("pipe with data then EOF: %v", f)
	}
	drain(t, pp[0])
	// A drained pipe whose writer is gone: epoll says EPOLLHUP without EPOLLIN, and it
	// must still come out Readable so the caller reaches the read that returns 0.
	if f := waitFd(t, p, pp[0]); f != wantHangup(b, poller.Readable) {
		t.Fatalf("drained pipe, writer gone: %v, want %v", f, wantHangup(b, poller.Readable))
	}
}

func testHangupTCP(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	tp := tcpPair(t)
	mustAdd(t, p, tp[0], poller.Readable)
	expectSilent(t, p, tp[0], 10*time.Millisecond)
	unix.Close(tp[1])
	tp[1] = -1
	if f := waitFd(t, p, tp[0]); f&poller.Readable == 0 || (hasHangup(b) && f&poller.Hangup == 0) {
		t.Fatalf("TCP peer closed: %v, want %v", f, wantHangup(b, poller.Readable))
	}
}

// testHalfClose: a peer that shuts down only its writing side is a hangup to a reader.
func testHalfClose(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	tp := tcpPair(t)
	mustAdd(t, p, tp[0], poller.Readable)
	if err := unix.Shutdown(tp[1], unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	f := waitFd(t, p, tp[0])
	if f&poller.Readable == 0 {
		t.Fatalf("half-closed peer: %v, want Readable", f)
	}
	if hasHangup(b) && b.kind != poller.BackendPoll && f&poller.Hangup == 0 {
		t.Fatalf("half-closed peer: %v, want Hangup", f)
	}
	if b.kind == poller.BackendPoll && isLinux && f&poller.Hangup == 0 {
		t.Fatalf("half-closed peer on Linux poll (POLLRDHUP): %v, want Hangup", f)
	}
	// The connection still carries data the other way.
	write(t, tp[0], "still open")
}

// testOwnShutdownWrite: the fd's own shutdown(SHUT_WR) is not a hangup. A client that
// sends a request, half-closes and waits for the answer must not look gone: BSD kernels
// raise EV_EOF on the write filter then, which must stay plain Writable (issue 9).
func testOwnShutdownWrite(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	tp := tcpPair(t)
	mustAdd(t, p, tp[0], poller.Readable|poller.Writable)
	if err := unix.Shutdown(tp[0], unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	// The peer sees the end of the request, and only then answers.
	pfd := []unix.PollFd{{Fd: int32(tp[1]), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, int(slack/time.Millisecond)); n != 1 || err != nil {
		t.Fatalf("peer never saw the request end: %d, %v", n, err)
	}
	var buf [8]byte
	if n, err := unix.Read(tp[1], buf[:]); n != 0 || err != nil {
		t.Fatalf("peer read %d, %v; want EOF", n, err)
	}
	for i := 0; i < 2; i++ {
		if f := waitFd(t, p, tp[0]); f != poller.Writable {
			t.Fatalf("Wait %d after own SHUT_WR: %v, want Writable alone", i, f)
		}
	}
	write(t, tp[1], "answer")
	f := waitFd(t, p, tp[0])
	if f&poller.Readable == 0 || f&(poller.Hangup|poller.Errored) != 0 {
		t.Fatalf("answer after own SHUT_WR: %v, want Readable without Hangup or Errored", f)
	}
	if got := drain(t, tp[0]); got != "answer" {
		t.Fatalf("read %q, want the answer", got)
	}
}

// testAddWriteBrokenPipe: write interest in a pipe whose reader is already gone is
// accepted and reported writable (the write then fails with EPIPE), on every backend.
// FreeBSD and DragonFly refuse the EVFILT_WRITE knote with EPIPE (sys_pipe.c
// pipe_kqfilter); the kqueue backend reports it as epoll does, as mio does (tokio-rs/mio#582).
func testAddWriteBrokenPipe(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	for _, flags := range []poller.Flags{poller.Writable, poller.Readable | poller.Writable} {
		pp := pipePair(t)
		unix.Close(pp[0])
		pp[0] = -1
		mustAdd(t, p, pp[1], flags)
		for i := 0; i < 2; i++ {
			if f := waitFd(t, p, pp[1]); f&poller.Writable == 0 {
				t.Fatalf("%v, Wait %d: %v, want Writable", flags, i, f)
			}
		}
		if err := p.Modify(pp[1], flags|poller.OneShot); err != nil {
			t.Fatalf("Modify to one-shot: %v", err)
		}
		if f := waitFd(t, p, pp[1]); f&poller.Writable == 0 {
			t.Fatalf("%v|OneShot: %v, want Writable", flags, f)
		}
		expectSilent(t, p, pp[1], 20*time.Millisecond)
		if err := p.Delete(pp[1]); err != nil {
			t.Fatal(err)
		}
		if _, err := unix.Write(pp[1], []byte("x")); err != unix.EPIPE {
			t.Fatalf("write: %v, want EPIPE", err)
		}
	}
}

func testErroredPipe(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	pp := pipePair(t)
	mustAdd(t, p, pp[1], poller.Writable)
	unix.Close(pp[0])
	pp[0] = -1
	f := waitFd(t, p, pp[1])
	if f&poller.Writable == 0 {
		t.Fatalf("pipe whose reader is gone: %v, want Writable", f)
	}
	if b.kind == poller.BackendEpoll || b.kind == poller.BackendPoll && isLinux {
		if f&poller.Errored == 0 {
			t.Fatalf("pipe whose reader is gone: %v, want Errored", f)
		}
	}
	if _, err := unix.Write(pp[1], []byte("x")); err != unix.EPIPE {
		t.Fatalf("write after Writable: %v, want EPIPE", err)
	}
}

func testListenerReadable(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	lfd, port := tcpListener(t)
	mustAdd(t, p, lfd, poller.Readable)
	expectSilent(t, p, lfd, 10*time.Millisecond)
	tcpConnect(t, port)
	for i := 0; i < 2; i++ { // level-triggered until accepted
		if f := waitFd(t, p, lfd); f != poller.Readable {
			t.Fatalf("listener with a pending connection: %v", f)
		}
	}
	nfd, _, err := unix.Accept(lfd)
	if err != nil {
		t.Fatalf("accept after Readable: %v", err)
	}
	unix.Close(nfd)
	expectSilent(t, p, lfd, 10*time.Millisecond)
}

func testConnectSucceeds(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	_, port := tcpListener(t)
	fd := tcpConnect(t, port)
	mustAdd(t, p, fd, poller.Writable)
	if f := waitFd(t, p, fd); f != poller.Writable {
		t.Fatalf("connected socket: %v, want Writable", f)
	}
	if soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soerr != 0 {
		t.Fatalf("SO_ERROR after connect = %d, %v", soerr, err)
	}
}

func testConnectRefused(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	// A port nobody listens on: take one from a listener, then close it.
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	sa, _ := unix.Getsockname(lfd)
	unix.Close(lfd)
	fd := tcpConnect(t, sa.(*unix.SockaddrInet4).Port)
	mustAdd(t, p, fd, poller.Writable)
	f := waitFd(t, p, fd)
	if f&poller.Writable == 0 {
		t.Fatalf("refused connect: %v, want Writable", f)
	}
	if b.kind == poller.BackendEpoll && f&poller.Errored == 0 {
		t.Fatalf("refused connect on epoll: %v, want Errored", f)
	}
	soerr, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if runtime.GOARCH == "mips64" && soerr == 111 {
		// qemu-user passes SO_ERROR through untranslated: 111 is the host's ECONNREFUSED,
		// MIPS numbers it 146. Real MIPS kernels return 146.
		soerr = int(unix.ECONNREFUSED)
	}
	if unix.Errno(soerr) != unix.ECONNREFUSED {
		t.Fatalf("SO_ERROR = %v, want ECONNREFUSED", unix.Errno(soerr))
	}
}

// Priority, with TCP urgent data (SO_OOBINLINE off, the default): the receiver's
// tcp_poll raises EPOLLPRI while an urgent byte is unread (TCP_URG_VALID), and a lone
// urgent byte is not readable data (net/ipv4/tcp.c: tcp_poll).

// addPriority registers fd with flags, which include Priority, or skips the test with
// the reason when b refuses Priority with ErrUnsupported (CONTRACT.md); any other error fails.
func addPriority(t *testing.T, b testBackend, p *poller.Poller, fd int, flags poller.Flags) {
	t.Helper()
	err := p.Add(fd, flags)
	if errors.Is(err, poller.ErrUnsupported) {
		t.Skipf("%v gives ErrUnsupported for Add(%v): it cannot wait for Priority (CONTRACT.md)", b, flags)
	}
	if err != nil {
		t.Fatalf("Add(%d, %v): %v", fd, flags, err)
	}
}

// sendUrgent sends one byte of TCP urgent data from fd.
func sendUrgent(t testing.TB, fd int, c byte) {
	t.Helper()
	if err := unix.Send(fd, []byte{c}, unix.MSG_OOB); err != nil {
		t.Fatalf("send MSG_OOB: %v", err)
	}
}

// recvUrgent reads the pending urgent byte of fd and fails unless it is c.
func recvUrgent(t testing.TB, fd int, c byte) {
	t.Helper()
	var buf [1]byte
	n, _, err := unix.Recvfrom(fd, buf[:], unix.MSG_OOB)
	if err != nil || n != 1 || buf[0] != c {
		t.Fatalf("recv MSG_OOB = %q, %v; want %q", buf[:n], err, c)
	}
}

// arrived waits, with poll(2) directly, until fd is readable, so that a test knows the
// kernel has what the peer sent before it asserts silence. (POLLIN alone: PollFd's fields
// are int16 on most systems and uint16 on AIX.)
func arrived(t testing.TB, fd int) {
	t.Helper()
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, int(slack/time.Millisecond)); n != 1 || err != nil {
		t.Fatalf("poll(%d, POLLIN) = %d, %v: what the peer sent did not arrive", fd, n, err)
	}
}

// testPriorityAlone: an fd registered for Priority only is not woken by plain data,
// is woken by urgent data, level-triggered until the urgent byte is read.
func testPriorityAlone(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	tp := tcpPair(t)
	addPriority(t, b, p, tp[0], poller.Priority)
	expectSilent(t, p, tp[0], 0)
	write(t, tp[1], "plain")
	arrived(t, tp[0])
	expectSilent(t, p, tp[0], 20*time.Millisecond) // readable, but nothing urgent
	sendUrgent(t, tp[1], '!')
	for i := 0; i < 3; i++ { // level-triggered: on every Wait while the byte is unread
		if f := waitFd(t, p, tp[0]); f != poller.Priority {
			t.Fatalf("urgent data, wait %d: %v, want Priority", i, f)
		}
	}
	events := make([]poller.Event, 8)
	if a := testing.AllocsPerRun(20, func() {
		if n, err := p.Wait(events, 0); n != 1 || err != nil || events[0].Flags != poller.Priority {
			t.Fatalf("Wait = %d, %v, %v", n, err, events[:max(n, 0)])
		}
	}); a != 0 { // select's except set too
		t.Errorf("Wait with a Priority registration allocates %v times per call", a)
	}
	recvUrgent(t, tp[0], '!')
	if isLinux {
		// Linux clears TCP_URG_VALID when the byte is read (tcp_recv_urg); the BSDs keep
		// POLLPRI while the stream is at the mark.
		expectSilent(t, p, tp[0], 20*time.Millisecond)
	}
	if got := drain(t, tp[0]); got != "plain" {
		t.Fatalf("the stream around the urgent byte: %q, want %q", got, "plain")
	}
}

// testPriorityAndReadable: with both interests, plain data is Readable, a lone urgent
// byte is Priority alone (Linux: it is not in the stream with SO_OOBINLINE off), and both
// pending give both bits.
func testPriorityAndReadable(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	tp := tcpPair(t)
	addPriority(t, b, p, tp[0], poller.Readable|poller.Priority)
	expectSilent(t, p, tp[0], 0)
	sendUrgent(t, tp[1], '!')
	if f := waitFd(t, p, tp[0]); f != poller.Priority && (isLinux || f&poller.Priority == 0) {
		t.Fatalf("a lone urgent byte: %v, want Priority", f)
	}
	recvUrgent(t, tp[0], '!')
	write(t, tp[1], "abc")
	if f := waitFd(t, p, tp[0]); f&poller.Readable == 0 || isLinux && f != poller.Readable {
		t.Fatalf("plain data after the urgent byte was read: %v, want Readable", f)
	}
	sendUrgent(t, tp[1], '?')
	// The urgent byte follows the plain data on the wire: once Priority shows, so must
	// Readable, in the same event, on every Wait.
	deadline := time.Now().Add(slack)
	for f := waitFd(t, p, tp[0]); f&poller.Priority == 0; f = waitFd(t, p, tp[0]) {
		if f != poller.Readable || time.Now().After(deadline) {
			t.Fatalf("plain then urgent data: %v, want Readable, then Readable|Priority", f)
		}
	}
	for i := 0; i < 2; i++ {
		if f := waitFd(t, p, tp[0]); f != poller.Readable|poller.Priority {
			t.Fatalf("plain and urgent data, wait %d: %v, want Readable|Priority", i, f)
		}
	}
	recvUrgent(t, tp[0], '?')
	if f := waitFd(t, p, tp[0]); f&poller.Readable == 0 || isLinux && f != poller.Readable {
		t.Fatalf("urgent byte read, plain data left: %v, want Readable", f)
	}
	if got := drain(t, tp[0]); got != "abc" {
		t.Fatalf("the stream: %q, want %q", got, "abc")
	}
	expectSilent(t, p, tp[0], 20*time.Millisecond)
}

// testPriorityEdgeTriggered: each urgent byte is one edge; plain data alone is none.
func testPriorityEdgeTriggered(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	tp := tcpPair(t)
	err := p.Add(tp[0], poller.Priority|poller.EdgeTriggered)
	if errors.Is(err, poller.ErrUnsupported) {
		t.Skipf("%v gives ErrUnsupported for Priority|EdgeTriggered: no edge-triggered mode or no Priority (CONTRACT.md)", b)
	}
	if err != nil {
		t.Fatal(err)
	}
	sendUrgent(t, tp[1], '!')
	if f := waitFd(t, p, tp[0]); f != poller.Priority {
		t.Fatalf("first urgent byte: %v, want Priority", f)
	}
	expectSilent(t, p, tp[0], 20*time.Millisecond) // unread, but no new edge
	// Any data that arrives while the urgent byte is unread is an edge: TCP wakes the
	// socket's waiters with EPOLLIN|EPOLLPRI for all data (sock_def_readable), epoll
	// then polls the socket and finds the urgent byte still there, as it finds unread
	// data again on each new arrival for Readable.
	write(t, tp[1], "a")
	if f := waitFd(t, p, tp[0]); f != poller.Priority {
		t.Fatalf("plain data with the urgent byte unread: %v, want Priority", f)
	}
	recvUrgent(t, tp[0], '!')
	write(t, tp[1], "b")
	arrived(t, tp[0])
	expectSilent(t, p, tp[0], 20*time.Millisecond) // plain data alone is no Priority edge
	sendUrgent(t, tp[1], '?')
	if f := waitFd(t, p, tp[0]); f != poller.Priority {
		t.Fatalf("second urgent byte: %v, want Priority", f)
	}
	expectSilent(t, p, tp[0], 20*time.Millisecond)
	recvUrgent(t, tp[0], '?')
}

// testPriorityOneShot: reported once, silent while unread, and re-armed by Modify.
func testPriorityOneShot(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	tp := tcpPair(t)
	addPriority(t, b, p, tp[0], poller.Priority|poller.OneShot)
	sendUrgent(t, tp[1], '!')
	if f := waitFd(t, p, tp[0]); f != poller.Priority {
		t.Fatalf("one-shot report: %v, want Priority", f)
	}
	expectSilent(t, p, tp[0], 20*time.Millisecond) // still unread, but disarmed
	if err := p.Modify(tp[0], poller.Priority|poller.OneShot); err != nil {
		t.Fatal(err)
	}
	if f := waitFd(t, p, tp[0]); f != poller.Priority {
		t.Fatalf("re-armed, byte still unread: %v, want Priority", f)
	}
	recvUrgent(t, tp[0], '!')
	if err := p.Modify(tp[0], poller.Priority|poller.OneShot); err != nil {
		t.Fatal(err)
	}
	if isLinux {
		expectSilent(t, p, tp[0], 20*time.Millisecond)
	}
}

// testPriorityHangup: Hangup and Errored set the Priority interest bit, as they set
// Readable and Writable, so a loop that only looks at Priority (a GPIO line) reaches its
// read and learns of the hangup. select cannot: its except set is POLLPRI alone, so an
// fd registered for Priority alone sees no hangup there.
func testPriorityHangup(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	addPriority(t, b, p, sp[0], poller.Priority)
	unix.Close(sp[1])
	sp[1] = -1
	if b.kind == poller.BackendSelect || b.kind == poller.BackendKqueue {
		// select's except set carries no hangup, and neither does EVFILT_EXCEPT, which
		// fires for out-of-band data alone (OpenBSD filt_soexcept; filt_dead delivers
		// EV_EOF on it only for poll(2)'s own knotes).
		arrived(t, sp[0])
		expectSilent(t, p, sp[0], 20*time.Millisecond)
		if b.kind == poller.BackendKqueue {
			if err := p.Modify(sp[0], poller.Readable|poller.Priority); err != nil {
				t.Fatal(err)
			}
			if f := waitFd(t, p, sp[0]); f != poller.Readable|poller.Priority|poller.Hangup {
				t.Fatalf("Readable|Priority, peer closed: %v, want Readable|Priority|Hangup", f)
			}
		}
		return
	}
	for i := 0; i < 2; i++ { // level-triggered: repeated
		if f := waitFd(t, p, sp[0]); f != poller.Priority|poller.Hangup {
			t.Fatalf("Priority only, peer closed, wait %d: %v, want Priority|Hangup", i, f)
		}
	}
	if err := p.Modify(sp[0], poller.Readable|poller.Priority); err != nil {
		t.Fatal(err)
	}
	if f := waitFd(t, p, sp[0]); f != poller.Readable|poller.Priority|poller.Hangup {
		t.Fatalf("Readable|Priority, peer closed: %v, want Readable|Priority|Hangup", f)
	}
}

func testOneEventPerFd(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	mustAdd(t, p, sp[0], poller.Readable|poller.Writable)
	write(t, sp[1], "x")
	for _, n := range []int{1, 2, 4} {
		// A pending Wake takes a slot of the kernel's answer on some backends; the
		// poller's second look for that room must not report the fd again.
		p.Wake()
		events := make([]poller.Event, n)
		k, err := p.Wait(events, slack)
		if err != nil || k != 1 {
			t.Fatalf("Wait(len %d) = %d, %v", n, k, err)
		}
		if events[0].Fd != sp[0] || events[0].Flags != poller.Readable|poller.Writable {
			t.Fatalf("Wait(len %d) = %+v, want one event Readable|Writable", n, events[0])
		}
	}
}

// testNoStarvationModified: a fd the caller modifies before every Wait still gets its
// turn when more fds are ready than events has room for. (kqueue keeps an active knote
// where it is in the kernel's queue, so its result kept for a later Wait must survive
// the Modify: found by FuzzOps over the kernel model.)
func testNoStarvationModified(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	var fds [3]int
	for i := range fds {
		fds[i] = socketPair(t)[0]
		mustAdd(t, p, fds[i], poller.Writable)
	}
	seen := map[int]int{}
	events := make([]poller.Event, 1)
	const rounds = 30
	for i := 0; i < rounds; i++ {
		n, err := p.Wait(events, slack)
		if err != nil || n != 1 {
			t.Fatalf("Wait %d: %d, %v", i, n, err)
		}
		seen[events[0].Fd]++
		if err := p.Modify(fds[2], poller.Writable); err != nil {
			t.Fatal(err)
		}
	}
	for _, fd := range fds {
		if seen[fd] < rounds/len(fds)/2 {
			t.Fatalf("reports per fd over %d Waits of one slot: %v; fd %d starved", rounds, seen, fd)
		}
	}
}

func testNoStarvation(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	const ready = 10
	want := map[int]bool{}
	for i := 0; i < ready; i++ {
		sp := socketPair(t)
		mustAdd(t, p, sp[0], poller.Readable)
		write(t, sp[1], "x")
		want[sp[0]] = true
	}
	seen := map[int]bool{}
	events := make([]poller.Event, 3)
	for i := 0; i < 4*ready && len(seen) < ready; i++ {
		n, err := p.Wait(events, slack)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events[:n] {
			if !want[ev.Fd] {
				t.Fatalf("reported fd %d, not a ready one", ev.Fd)
			}
			seen[ev.Fd] = true
		}
	}
	if len(seen) != ready {
		t.Fatalf("after %d Waits of 3 slots, saw %d of %d ready fds", 4*ready, len(seen), ready)
	}
}

// Concurrency

// blockedWait starts a Wait(-1) in a goroutine and returns a channel with its result.
type waitResult struct {
	events []poller.Event
	err    error
}

func blockedWait(p *poller.Poller, timeout time.Duration) <-chan waitResult {
	ch := make(chan waitResult, 1)
	go func() {
		events := make([]poller.Event, 16)
		n, err := p.Wait(events, timeout)
		ch <- waitResult{events[:n], err}
	}()
	return ch
}

// waitBlocked gives the goroutine time to enter the kernel. A Wait that has not yet
// entered is fine too: the change then lands before the snapshot. So this pause is not
// a synchronisation the tests rely on, only a way to exercise the blocked path.
func waitBlocked() { time.Sleep(20 * time.Millisecond) }

func testAddDuringWait(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	write(t, sp[1], "x")
	ch := blockedWait(p, -1)
	waitBlocked()
	mustAdd(t, p, sp[0], poller.Readable)
	select {
	case r := <-ch:
		if r.err != nil || len(r.events) != 1 || r.events[0].Fd != sp[0] {
			t.Fatalf("Wait = %v, %v; want the added fd", r.events, r.err)
		}
	case <-time.After(slack):
		p.Wake()
		t.Fatal("an Add during a blocked Wait did not take effect in it")
	}
}

func testModifyDuringWait(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	mustAdd(t, p, sp[0], poller.Readable)
	ch := blockedWait(p, -1)
	waitBlocked()
	if err := p.Modify(sp[0], poller.Writable); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		if r.err != nil || len(r.events) != 1 || r.events[0].Flags != poller.Writable {
			t.Fatalf("Wait = %v, %v; want the fd Writable", r.events, r.err)
		}
	case <-time.After(slack):
		p.Wake()
		t.Fatal("a Modify during a blocked Wait did not take effect in it")
	}
}

func testDeleteDuringWait(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	mustAdd(t, p, sp[0], poller.Readable)
	ch := blockedWait(p, 200*time.Millisecond)
	waitBlocked()
	if err := p.Delete(sp[0]); err != nil {
		t.Fatal(err)
	}
	write(t, sp[1], "x")
	r := <-ch
	if r.err != nil || len(r.events) != 0 {
		t.Fatalf("Wait = %v, %v; want nothing after Delete", r.events, r.err)
	}
}

func testDeleteThenSilent(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	mustAdd(t, p, sp[0], poller.Readable)
	write(t, sp[1], "x")
	if err := p.Delete(sp[0]); err != nil {
		t.Fatal(err)
	}
	expectSilent(t, p, sp[0], 20*time.Millisecond)
}

func testBusy(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	ch := make(chan error, 1)
	go func() {
		for {
			// This Wait may itself lose the race for the poller to one of the probes below.
			_, err := p.Wait(make([]poller.Event, 1), -1)
			if !errors.Is(err, poller.ErrBusy) {
				ch <- err
				return
			}
		}
	}()
	// Poll until the first Wait holds the poller: a second one must then get ErrBusy.
	deadline := time.Now().Add(slack)
	var err error
	for time.Now().Before(deadline) {
		if _, err = p.Wait(make([]poller.Event, 1), 0); errors.Is(err, poller.ErrBusy) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(err, poller.ErrBusy) {
		t.Fatalf("concurrent Wait: %v, want ErrBusy", err)
	}
	p.Wake()
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(make([]poller.Event, 1), 0); err != nil {
		t.Fatalf("Wait after the other returned: %v", err)
	}
}

// testConcurrentChanges: goroutines churn their own fds while one goroutine waits; fds
// that stay registered and ready are still reported.
func testConcurrentChanges(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	stay := socketPair(t)
	mustAdd(t, p, stay[0], poller.Readable)
	write(t, stay[1], "x")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 4; g++ {
		sp := socketPair(t)
		wg.Add(1)
		go func(fd int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := p.Add(fd, poller.Readable); err != nil {
					errs <- err
					return
				}
				if err := p.Modify(fd, poller.Readable|poller.Writable); err != nil {
					errs <- err
					return
				}
				if err := p.Delete(fd); err != nil {
					errs <- err
					return
				}
			}
		}(sp[0])
	}
	events := make([]poller.Event, 8)
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		n, err := p.Wait(events, slack)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, ev := range events[:n] {
			found = found || ev.Fd == stay[0]
		}
		if !found && n < len(events) {
			t.Fatalf("Wait = %v: the registered, ready fd %d is missing", events[:n], stay[0])
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Waking and closing

func testWakeBlocked(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	ch := blockedWait(p, -1)
	waitBlocked()
	if err := p.Wake(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		if r.err != nil || len(r.events) != 0 {
			t.Fatalf("woken Wait = %v, %v", r.events, r.err)
		}
	case <-time.After(slack):
		t.Fatal("Wake did not end a blocked Wait")
	}
}

func testWakeBeforeWait(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	if err := p.Wake(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, err := p.Wait(make([]poller.Event, 4), -1)
	if err != nil || n != 0 {
		t.Fatalf("Wait after Wake = %d, %v", n, err)
	}
	if el := time.Since(start); el > slack {
		t.Fatalf("Wait after Wake took %v", el)
	}
}

func testWakeCoalesces(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	for i := 0; i < 100; i++ {
		if err := p.Wake(); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := p.Wait(make([]poller.Event, 4), -1); err != nil || n != 0 {
		t.Fatalf("Wait after Wakes = %d, %v", n, err)
	}
	// The hundred Wakes were one: the next Wait runs to its timeout.
	start := time.Now()
	if n, err := p.Wait(make([]poller.Event, 4), 30*time.Millisecond); err != nil || n != 0 {
		t.Fatalf("second Wait = %d, %v", n, err)
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Fatalf("second Wait returned after %v: Wakes did not coalesce", el)
	}
	// Served Wakes are cleared: a new Wake must reach a new blocked Wait.
	for i := 0; i < 3; i++ {
		ch := blockedWait(p, -1)
		waitBlocked()
		if err := p.Wake(); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatal(r.err)
			}
		case <-time.After(slack):
			t.Fatalf("Wake %d after served Wakes did not end a blocked Wait", i)
		}
	}
}

func testWakeNeverBlocks(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// More than a pipe holds, with Waits that drain in between now and then.
		for i := 0; i < 200000; i++ {
			if err := p.Wake(); err != nil {
				t.Error(err)
				return
			}
			if i%50000 == 0 {
				p.Wait(make([]poller.Event, 1), 0)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Wake blocked")
	}
}

// testWakeRounds: 1,000 rounds of Wake from one goroutine to another in Wait(-1), each
// waiting for the Wait to return before the next Wake. With no fd registered, each Wait
// returns for exactly one Wake: a lost wakeup leaves a round hanging, and a spurious
// return makes a later round's Wait return twice.
func testWakeRounds(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	returned := make(chan error, 2)
	go func() {
		events := make([]poller.Event, 4)
		for {
			n, err := p.Wait(events, -1)
			if errors.Is(err, poller.ErrClosed) {
				return
			}
			if err == nil && n != 0 {
				err = errors.New("an event with no fd registered")
			}
			returned <- err
		}
	}()
	rounds := 1000
	if testing.Short() {
		rounds = 200
	}
	for i := 0; i < rounds; i++ {
		if err := p.Wake(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-returned:
			if err != nil {
				t.Fatalf("round %d: Wait: %v", i, err)
			}
		case <-time.After(slack):
			t.Fatalf("round %d: Wake did not end the Wait", i)
		}
	}
	// One Wait is now blocked again, and no return is outstanding.
	select {
	case err := <-returned:
		t.Fatalf("a Wait returned with no Wake: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	p.Close()
}

func testCloseDuringWait(t *testing.T, b testBackend) {
	p, err := b.open()
	if err != nil {
		t.Fatal(err)
	}
	sp := socketPair(t)
	mustAdd(t, p, sp[0], poller.Readable)
	ch := blockedWait(p, -1)
	waitBlocked()
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(slack):
		t.Fatal("Close did not return while a Wait was blocked")
	}
	select {
	case r := <-ch:
		if !errors.Is(r.err, poller.ErrClosed) {
			t.Fatalf("Wait during Close: %v, want ErrClosed", r.err)
		}
	case <-time.After(slack):
		t.Fatal("Close did not end a blocked Wait")
	}
}

func testAfterClose(t *testing.T, b testBackend) {
	p, err := b.open()
	if err != nil {
		t.Fatal(err)
	}
	sp := socketPair(t)
	mustAdd(t, p, sp[0], poller.Readable)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]error{
		"Add":    p.Add(sp[1], poller.Readable),
		"Modify": p.Modify(sp[0], poller.Writable),
		"Delete": p.Delete(sp[0]),
		"Wake":   p.Wake(),
		"Close":  p.Close(),
	}
	_, calls["Wait"] = p.Wait(make([]poller.Event, 1), 0)
	// Closed wins over every other complaint about the arguments.
	calls["Add(-1, Hangup)"] = p.Add(-1, poller.Hangup)
	calls["Modify(-1, 0)"] = p.Modify(-1, 0)
	calls["Delete(-1)"] = p.Delete(-1)
	_, calls["Wait(nil)"] = p.Wait(nil, 0)
	for name, err := range calls {
		if !errors.Is(err, poller.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if p.Backend() != b.kind {
		t.Errorf("Backend after Close = %v", p.Backend())
	}
}

// testWakeRacingClose: Wake and Close race; a Wake that loses must never write into a
// descriptor number Close released and the process reused. Each round opens pipes right
// after Close (reusing the released numbers) and checks they stay empty.
func testWakeRacingClose(t *testing.T, b testBackend) {
	for round := 0; round < 100; round++ {
		p, err := b.open()
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; i < 20; i++ {
					if err := p.Wake(); err != nil && !errors.Is(err, poller.ErrClosed) {
						t.Error(err)
					}
					p.Wait(make([]poller.Event, 1), 0)
				}
			}()
		}
		close(start)
		p.Close()
		reused := [2]*[2]int{pipePair(t), pipePair(t)}
		wg.Wait()
		for _, pp := range reused {
			if n, err := unix.Read(pp[0], make([]byte, 8)); n > 0 || err != unix.EAGAIN {
				t.Fatalf("round %d: a pipe opened after Close holds data (%d, %v): a Wake wrote to a reused fd", round, n, err)
			}
		}
	}
}

func testNoFdLeak(t *testing.T, b testBackend) {
	before := openFds(t)
	for i := 0; i < 50; i++ {
		p, err := b.open()
		if err != nil {
			t.Fatal(err)
		}
		p.Wake()
		if i%2 == 0 {
			ch := blockedWait(p, -1)
			p.Close()
			<-ch
		} else {
			p.Close()
		}
	}
	if after := openFds(t); after != before {
		t.Fatalf("open fds: %d before, %d after 50 Open/Close", before, after)
	}
}

func testZeroAllocs(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	mustAdd(t, p, sp[0], poller.Readable)
	write(t, sp[1], "x")
	events := make([]poller.Event, 8)
	p.Wait(events, 0) // let the backend size its buffers
	if a := testing.AllocsPerRun(100, func() {
		if n, err := p.Wait(events, 0); n != 1 || err != nil {
			t.Fatalf("Wait = %d, %v", n, err)
		}
	}); a != 0 {
		t.Errorf("Wait allocates %v times per call", a)
	}
	if a := testing.AllocsPerRun(100, func() {
		p.Wake()
		p.Wait(events, time.Millisecond)
	}); a != 0 {
		t.Errorf("Wake+Wait allocates %v times per call", a)
	}
	// With nothing ready: a Wait that blocks (or parks) until it times out, and one that
	// another goroutine wakes, the paths a parked Wait takes through the runtime poller.
	if err := p.Delete(sp[0]); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(20, func() {
		if n, err := p.Wait(events, 50*time.Microsecond); n != 0 || err != nil {
			t.Fatalf("Wait = %d, %v", n, err)
		}
	}); a != 0 {
		t.Errorf("a Wait that times out allocates %v times per call", a)
	}
	kick, stop := make(chan struct{}), make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-kick:
				p.Wake()
			case <-stop:
				return
			}
		}
	}()
	if a := testing.AllocsPerRun(100, func() {
		kick <- struct{}{}
		if n, err := p.Wait(events, -1); n != 0 || err != nil {
			t.Fatalf("Wait = %d, %v", n, err)
		}
	}); a != 0 {
		t.Errorf("a Wait woken by another goroutine allocates %v times per call", a)
	}
	mustAdd(t, p, sp[0], poller.Readable)
	if a := testing.AllocsPerRun(100, func() {
		p.Modify(sp[0], poller.Readable|poller.Writable)
		p.Modify(sp[0], poller.Readable)
	}); a != 0 {
		t.Errorf("Modify allocates %v times per call", a)
	}
}

// testSignalStorm aims signals at the thread blocked in Wait. Go's own preemption
// signal (SIGURG) makes EINTR common; none may reach the caller, and the timeout must
// still end on time.
func testSignalStorm(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	// A storm too thin to prove anything (the sender starved on a loaded machine) is
	// tried again, a few times, rather than counted either way.
	for attempt := 1; ; attempt++ {
		sent := signalStormRound(t, p)
		if sent >= 10 {
			return
		}
		if attempt == 5 {
			t.Fatalf("only %d signals were sent during the Wait, %d times", sent, attempt)
		}
		t.Logf("attempt %d: only %d signals were sent during the Wait; again", attempt, sent)
	}
}

// signalStormRound signals the thread blocked in one Wait of 200ms until it returns, checks
// the Wait, and returns how many signals were sent.
func signalStormRound(t *testing.T, p *poller.Poller) int {
	type result struct {
		n       int
		err     error
		elapsed time.Duration
	}
	ready := make(chan func(unix.Signal) error)
	done := make(chan result, 1)
	const timeout = 200 * time.Millisecond
	go func() {
		signal, unlock := waiterThread()
		defer unlock()
		ready <- signal
		start := time.Now()
		n, err := p.Wait(make([]poller.Event, 4), timeout)
		done <- result{n, err, time.Since(start)}
	}()
	signal := <-ready
	sent := 0
	for {
		select {
		case r := <-done:
			if r.err != nil || r.n != 0 {
				t.Fatalf("Wait under %d signals = %d, %v", sent, r.n, r.err)
			}
			if r.elapsed < timeout || r.elapsed > timeout+slack {
				t.Fatalf("Wait(%v) under %d signals took %v", timeout, sent, r.elapsed)
			}
			return sent
		default:
		}
		if err := signal(unix.SIGURG); err != nil {
			t.Fatalf("signal: %v", err)
		}
		sent++
		time.Sleep(100 * time.Microsecond) // pacing the storm, not synchronising
	}
}

// Readiness at registration, Modify's replacement rule, failed Modify, regular files,
// Close with fds held, and Open out of descriptors (CONTRACT.md, "Registering",
// "Regular files", "Who owns the descriptors", "Running out of resources").

// edgeOK reports whether b offers EdgeTriggered (poll and select give ErrUnsupported).
func edgeOK(t *testing.T, b testBackend) bool {
	t.Helper()
	p := openPoller(t, b)
	sp := socketPair(t)
	err := p.Add(sp[0], poller.Readable|poller.EdgeTriggered)
	if err != nil && !errors.Is(err, poller.ErrUnsupported) {
		t.Fatalf("Add(Readable|EdgeTriggered) on %v: %v", b, err)
	}
	return err == nil
}

// modesOf lists the modes b offers: level-triggered (0), OneShot, and EdgeTriggered where
// the backend has it.
func modesOf(t *testing.T, b testBackend) []poller.Flags {
	t.Helper()
	ms := []poller.Flags{0, poller.OneShot}
	if edgeOK(t, b) {
		ms = append(ms, poller.EdgeTriggered)
	}
	return ms
}

func modeName(mode poller.Flags) string {
	if mode == 0 {
		return "level-triggered"
	}
	return mode.String()
}

// testReadyAtAdd: readiness that already holds when Add returns is reported by the very
// next Wait, even Wait(0), in every mode: registering counts as an edge.
func testReadyAtAdd(t *testing.T, b testBackend) {
	for _, mode := range modesOf(t, b) {
		p := openPoller(t, b)
		sp := socketPair(t)
		write(t, sp[1], "waiting before Add")
		mustAdd(t, p, sp[0], poller.Readable|mode) // unread data
		mustAdd(t, p, sp[1], poller.Writable|mode) // room in the send buffer
		got := waitMap(t, p, 16, 0)
		if got[sp[0]] != poller.Readable || got[sp[1]] != poller.Writable {
			t.Errorf("%s: first Wait(0) after Add reported %v; want fd %d Readable (data waited) and fd %d Writable (room)",
				modeName(mode), got, sp[0], sp[1])
		}
	}
}

// testReadyAtModify: Modify counts as an edge too. A socket registered for Readable, with
// room to write all along, is reported Writable by the next Wait after
// Modify(Readable|Writable|mode), in every mode (the README's write backlog relies on
// it); and once that report is consumed (edge-triggered, one-shot), a Modify with the
// same flags reports it again while the room is still there.
func testReadyAtModify(t *testing.T, b testBackend) {
	for _, mode := range modesOf(t, b) {
		p := openPoller(t, b)
		sp := socketPair(t)
		mustAdd(t, p, sp[0], poller.Readable|mode)
		expectSilent(t, p, sp[0], 0)
		for round := 0; round < 2; round++ {
			if err := p.Modify(sp[0], poller.Readable|poller.Writable|mode); err != nil {
				t.Fatalf("%s: Modify: %v", modeName(mode), err)
			}
			if got := waitMap(t, p, 16, 0); got[sp[0]] != poller.Writable {
				t.Fatalf("%s, Modify %d: first Wait(0) after Modify(Readable|Writable|%s) reported %v, want fd %d Writable",
					modeName(mode), round, modeName(mode), got, sp[0])
			}
			if mode == 0 {
				break
			}
			expectSilent(t, p, sp[0], 0) // consumed: no new edge, or disarmed
		}
	}
}

// testModifyReplaces: Modify sets interest and mode to exactly what it passes. An
// edge-triggered or one-shot fd modified without its mode bit becomes level-triggered,
// reported on every Wait; interest not passed again is dropped.
func testModifyReplaces(t *testing.T, b testBackend) {
	for _, mode := range modesOf(t, b) {
		if mode == 0 {
			continue
		}
		p := openPoller(t, b)
		sp := socketPair(t)
		write(t, sp[1], "x")
		mustAdd(t, p, sp[0], poller.Readable|mode)
		if got := waitMap(t, p, 16, 0)[sp[0]]; got != poller.Readable {
			t.Fatalf("%s: reported %v, want Readable", modeName(mode), got)
		}
		expectSilent(t, p, sp[0], 0)
		if err := p.Modify(sp[0], poller.Readable); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if got := waitMap(t, p, 16, 0)[sp[0]]; got != poller.Readable {
				t.Fatalf("%s, then Modify(Readable): Wait %d reported %v; want Readable on every Wait (level-triggered: the mode is not kept)",
					modeName(mode), i, got)
			}
		}
	}
	p := openPoller(t, b)
	sp := socketPair(t)
	write(t, sp[1], "x")
	mustAdd(t, p, sp[0], poller.Readable|poller.Writable)
	if got := waitMap(t, p, 16, 0)[sp[0]]; got != poller.Readable|poller.Writable {
		t.Fatalf("reported %v, want Readable|Writable", got)
	}
	if err := p.Modify(sp[0], poller.Writable); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if got := waitMap(t, p, 16, 0)[sp[0]]; got != poller.Writable {
			t.Fatalf("after Modify(Writable), Wait %d reported %v; want Writable only (data waits, but Readable was not passed again)", i, got)
		}
	}
}

// testFailedModify: a Modify that fails leaves the registration as it was. Every backend
// refuses bad flags before it changes anything, and refuses a number that was closed
// (EBADF: epoll_ctl and kevent say so; poll and select, which hand nothing to the kernel
// until Wait, check with fcntl). epoll also refuses a number that now names a regular
// file (EPERM, epoll_ctl(2)). After each refusal the fd is still held, and once the
// number names the socket again it is reported with its old interest and mode:
// level-triggered Readable, not Writable. kqueue drops an fd's notes when the number is
// closed (kqueue(2)), so there the registration survives as held only.
func testFailedModify(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	sp := socketPair(t)
	write(t, sp[1], "x")
	num := sp[0]
	mustAdd(t, p, num, poller.Readable)
	asBefore := func(after string) {
		t.Helper()
		for i := 0; i < 2; i++ {
			if got := waitMap(t, p, 16, 0)[num]; got != poller.Readable {
				t.Fatalf("after %s, Wait %d reported %v; want Readable, as registered (level-triggered, Readable only)", after, i, got)
			}
		}
	}
	for _, f := range []poller.Flags{0, poller.Writable | poller.Hangup, poller.Writable | 1<<10} {
		if err := p.Modify(num, f); !errors.Is(err, poller.ErrInvalidFlags) {
			t.Fatalf("Modify(%v): %v, want ErrInvalidFlags", f, err)
		}
	}
	if !edgeOK(t, b) {
		if err := p.Modify(num, poller.Writable|poller.EdgeTriggered); !errors.Is(err, poller.ErrUnsupported) {
			t.Fatalf("Modify(Writable|EdgeTriggered) on %v: %v, want ErrUnsupported", b, err)
		}
	}
	asBefore("Modifys refused for their flags")

	keep, err := dupFrom(num, 0) // keeps the socket open
	if err != nil {
		t.Fatal(err)
	}
	closeOnce(t, &keep)
	// onNum puts a duplicate of fd on the number num, which is free.
	onNum := func(fd int) {
		t.Helper()
		if got, err := dupFrom(fd, num); err != nil || got != num {
			t.Fatalf("duplicating fd %d onto %d: got %d, %v", fd, num, got, err)
		}
	}
	file := regularFile(t, "not pollable") // opened now, so that it does not take num
	unix.Close(num)
	err = p.Modify(num, poller.Writable)
	var se *os.SyscallError
	if !errors.Is(err, unix.EBADF) || !errors.As(err, &se) {
		t.Fatalf("Modify of a closed number: %v (%T), want an *os.SyscallError wrapping EBADF", err, err)
	}
	if b.kind == poller.BackendEpoll {
		onNum(file)
		if err := p.Modify(num, poller.Writable); !errors.Is(err, unix.EPERM) {
			t.Fatalf("Modify of a number now naming a regular file: %v, want EPERM", err)
		}
		unix.Close(num)
	}
	onNum(keep) // the socket is back on its number
	if err := p.Add(num, poller.Readable); !errors.Is(err, poller.ErrExists) {
		t.Fatalf("Add after the refused Modifys: %v, want ErrExists (still held)", err)
	}
	if b.kind == poller.BackendKqueue {
		if err := p.Delete(num); err != nil {
			t.Fatalf("Delete after the refused Modifys: %v", err)
		}
		return
	}
	asBefore("Modifys refused by the kernel")
}

// regularFile returns a read-write descriptor of a new regular file holding content,
// closed at cleanup.
func regularFile(t *testing.T, content string) int {
	t.Helper()
	path := filepath.Join(t.TempDir(), "regular")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	closeOnce(t, &fd)
	return fd
}

// testRegularFile: what each kernel does with a regular file (CONTRACT.md, "Regular
// files"). epoll refuses it with EPERM (epoll_ctl(2)) and holds nothing; poll and select
// report it Readable and Writable on every Wait, at end-of-file too (POSIX: regular files
// always poll ready); kqueue reports it Readable while the offset is before end-of-file
// and Writable always (the vnode filters, kqueue(2)).
func testRegularFile(t *testing.T, b testBackend) {
	p := openPoller(t, b)
	fd := regularFile(t, "some bytes")
	err := p.Add(fd, poller.Readable|poller.Writable)
	if b.kind == poller.BackendEpoll {
		var se *os.SyscallError
		if !errors.Is(err, unix.EPERM) || !errors.As(err, &se) {
			t.Fatalf("Add of a regular file on epoll: %v (%T), want an *os.SyscallError wrapping EPERM", err, err)
		}
		if err := p.Modify(fd, poller.Readable); !errors.Is(err, poller.ErrNotRegistered) {
			t.Fatalf("Modify of the refused file: %v, want ErrNotRegistered", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Add of a regular file on %v: %v", b, err)
	}
	atEOF := poller.Readable | poller.Writable
	if b.kind == poller.BackendKqueue {
		atEOF = poller.Writable
	}
	for _, c := range []struct {
		where string
		want  poller.Flags
	}{{"at offset 0", poller.Readable | poller.Writable}, {"at end-of-file", atEOF}} {
		for i := 0; i < 2; i++ {
			if got := waitMap(t, p, 16, 0)[fd]; got != c.want {
				t.Fatalf("regular file %s, Wait %d: reported %v, want %v", c.where, i, got, c.want)
			}
		}
		if _, err := unix.Seek(fd, 0, 2 /* SEEK_END */); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Delete(fd); err != nil {
		t.Fatal(err)
	}
}

// testClosePollerHoldingFds: closing a Poller that still holds fds, in every mode, armed
// or disarmed, ready or not, releases its own descriptors only: the watched fds stay
// open and usable, and another Poller can take them over.
func testClosePollerHoldingFds(t *testing.T, b testBackend) {
	ms := modesOf(t, b)
	pairs := make([]*[2]int, len(ms))
	for i := range pairs {
		pairs[i] = socketPair(t)
	}
	withoutPoller := openFds(t)
	p, err := b.open()
	if err != nil {
		t.Fatal(err)
	}
	for i, mode := range ms {
		mustAdd(t, p, pairs[i][0], poller.Readable|mode)
		write(t, pairs[i][1], "a")
	}
	waitMap(t, p, 16, 0) // the one-shot fd is now disarmed, the edge consumed
	if err := p.Close(); err != nil {
		t.Fatalf("Close of a Poller holding %d fds: %v", len(ms), err)
	}
	if n := openFds(t); n != withoutPoller {
		t.Fatalf("after Close: %d descriptors open, want %d (every watched fd, none of the Poller's)", n, withoutPoller)
	}
	q := openPoller(t, b)
	for i, mode := range ms {
		pr := pairs[i]
		write(t, pr[1], "b")
		if got := drain(t, pr[0]); got != "ab" {
			t.Fatalf("%s fd after Close: read %q, want \"ab\"", modeName(mode), got)
		}
		write(t, pr[0], "c") // and the other way
		if got := drain(t, pr[1]); got != "c" {
			t.Fatalf("%s fd after Close: peer read %q, want \"c\"", modeName(mode), got)
		}
		write(t, pr[1], "d")
		mustAdd(t, q, pr[0], poller.Readable|mode)
		if got := waitMap(t, q, 16, 0)[pr[0]]; got != poller.Readable {
			t.Fatalf("%s fd on a second Poller: reported %v, want Readable", modeName(mode), got)
		}
	}
}

// testOpenOutOfFds: opening a Poller when the process runs out of descriptors, at each
// step of Open. The test lowers its own soft RLIMIT_NOFILE (never a machine-wide
// setting) and fills the table with duplicates so that exactly k numbers are free, for
// k = 0, 1, ... up to the number of descriptors an open Poller holds (epoll: the epoll
// fd, then the eventfd; poll and select: the two ends of the wake pipe, which pipe(2)
// makes at once). Each Open short of that must fail with an *os.SyscallError wrapping
// EMFILE and leave the k numbers free (it closed what it had made); then Open succeeds,
// and Close frees them again.
func testOpenOutOfFds(t *testing.T, b testBackend) {
	before := openFds(t)
	p, err := b.open()
	if err != nil {
		t.Fatal(err)
	}
	need := openFds(t) - before
	p.Close()
	if need <= 0 {
		t.Skipf("%v opens no descriptor of its own: nothing to run out of", b)
	}
	t.Logf("an open %v holds %d descriptors", b, need)
	var src [2]int
	if err := unix.Pipe(src[:]); err != nil {
		t.Fatal(err)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lowered := lim
	setRlim(&lowered.Cur, uint64(before+32))
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	var fillers []int
	defer func() {
		closeFds(fillers...)
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
		closeFds(src[0], src[1])
		if after := openFds(t); after != before {
			t.Errorf("open descriptors: %d before, %d after", before, after)
		}
	}()
	dup := func() (int, error) { return dupFrom(src[0], 0) }
	for {
		fd, err := dup()
		if err == unix.EMFILE {
			break
		}
		if err != nil || len(fillers) > 64 {
			t.Fatalf("filling the descriptor table under a limit of %d: %v after %d", before+32, err, len(fillers))
		}
		fillers = append(fillers, fd)
	}
	// free checks that exactly k numbers are free.
	free := func(k int, after string) {
		t.Helper()
		var got []int
		defer func() { closeFds(got...) }()
		for i := 0; i <= k; i++ {
			fd, err := dup()
			if i < k && err != nil {
				t.Fatalf("after %s: only %d descriptors free, want %d (leaked %d)", after, i, k, k-i)
			}
			if i == k && err != unix.EMFILE {
				t.Fatalf("after %s: more than %d descriptors free (%v)", after, k, err)
			}
			if err == nil {
				got = append(got, fd)
			}
		}
	}
	for k := 0; k <= need; k++ {
		if k > 0 {
			unix.Close(fillers[len(fillers)-1])
			fillers = fillers[:len(fillers)-1]
		}
		p, err := b.open()
		if k < need {
			var se *os.SyscallError
			if !errors.Is(err, unix.EMFILE) || !errors.As(err, &se) {
				if p != nil {
					p.Close()
				}
				t.Fatalf("Open with %d of its %d descriptors free: %v, want an *os.SyscallError wrapping EMFILE", k, need, err)
			}
			free(k, fmt.Sprintf("the Open that failed with %d free", k))
			continue
		}
		if err != nil {
			t.Fatalf("Open with its %d descriptors free: %v", need, err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		free(k, "Open and Close")
	}
}

// closeFds closes every fd in fds.
func closeFds(fds ...int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
