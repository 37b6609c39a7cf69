//go:build linux

// Benchmarks of the Poller against the same work done with golang.org/x/sys/unix directly,
// on the same fds. Every benchmark ends in a pair of sub-benchmarks, impl=raw and
// impl=poller, that differ only in who makes the calls, so that benchstat shows the cost
// of the wrapper as a ratio:
//
//	go install golang.org/x/perf/cmd/benchstat@latest
//	go test -run '^$' -bench . -benchmem -count 10 . > /tmp/bench.txt
//	benchstat -col '/impl@(raw poller)' /tmp/bench.txt
//
// In the poller column, +3% means the Poller takes 3% longer than raw. Besides ns/op, each
// benchmark reports cpu-ns/op, the process's CPU time (user and system) per op: on a
// machine busy with other work, wall time also counts the time spent waiting for a CPU,
// which swamps a difference of a few percent; CPU time does not. With -count, each
// sub-benchmark runs its 10 times back to back; on a busy machine, run the test binary 10
// times instead, so that a change in load hits both columns alike:
//
//	go test -c -o /tmp/poller.test . && for i in $(seq 10); do
//		/tmp/poller.test -test.run '^$' -test.bench . -test.benchmem -test.benchtime 300ms
//	done > /tmp/bench.txt
//	benchstat -col '/impl@(raw poller)' -filter '.unit:cpu-ns/op' /tmp/bench.txt
//
// Wait over N registered fds uses both ends of N/2 socketpairs, N+128 descriptors; the
// benchmark raises RLIMIT_NOFILE itself, and where it cannot it skips, saying why on
// stderr.

package poller_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rawpoll/poller"
	"golang.org/x/sys/unix"
)

// benchEvents is the length of the events slice of every Wait benchmark: at least the
// largest K, the way a caller keeps one fixed buffer.
const benchEvents = 1024

var benchBackends = []poller.Backend{poller.BackendEpoll, poller.BackendPoll, poller.BackendSelect}

// BenchmarkWait measures one level-triggered Wait(events, 0) with N registered
// socketpairs of which K are readable, against the kernel call a user would make on the
// same fds plus the loop that turns its result into (fd, flags) pairs.
func BenchmarkWait(b *testing.B) {
	for _, kind := range benchBackends {
		kind := kind
		b.Run("backend="+kind.String(), func(b *testing.B) {
			for _, n := range []int{1, 1000, 10000} {
				if kind == poller.BackendSelect && n >= poller.FdSetSize {
					continue // select cannot hold N fds
				}
				n := n
				b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) { benchWaitN(b, kind, n) })
			}
		})
	}
}

func benchWaitN(b *testing.B, kind poller.Backend, n int) {
	readers, writers := benchPairs(b, n)
	p := benchOpen(b, kind)
	for _, fd := range readers {
		if err := p.Add(fd, poller.Readable); err != nil {
			b.Fatalf("Add(%d): %v", fd, err)
		}
	}
	// The user's own loop over x/sys: one kernel call with timeout 0, then the
	// translation of its result into events. Both sides are called through a func value.
	var rawWait func(events []poller.Event) (int, error)
	switch kind {
	case poller.BackendEpoll:
		rawWait = newBenchRawEpoll(b, readers).wait
	case poller.BackendPoll:
		rawWait = newBenchRawPoll(readers).wait
	case poller.BackendSelect:
		rawWait = newBenchRawSelect(b, readers).wait
	}
	for _, k := range []int{1, 64, 1024} {
		if k > n {
			continue
		}
		k := k
		b.Run(fmt.Sprintf("K=%d", k), func(b *testing.B) {
			benchMakeReady(b, readers, writers, k)
			events := make([]poller.Event, benchEvents)
			b.Run("impl=raw", func(b *testing.B) { benchWaitLoop(b, k, events, rawWait) })
			b.Run("impl=poller", func(b *testing.B) {
				benchWaitLoop(b, k, events, func(ev []poller.Event) (int, error) { return p.Wait(ev, 0) })
			})
		})
	}
}

// benchWaitLoop times wait, which must report k events each time. The first call, before
// the timer starts, checks that and lets each side size its buffers.
func benchWaitLoop(b *testing.B, k int, events []poller.Event, wait func([]poller.Event) (int, error)) {
	if n, err := wait(events); n != k || err != nil {
		b.Fatalf("wait = %d, %v; want %d ready", n, err, k)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchCPU(b)
	for i := 0; i < b.N; i++ {
		n, err := wait(events)
		if n != k || err != nil {
			b.Fatalf("wait = %d, %v; want %d ready", n, err, k)
		}
	}
	cpu()
}

// benchRawEpoll has its own epoll fd with the same fds registered as the Poller's.
type benchRawEpoll struct {
	epfd int
	buf  []unix.EpollEvent
}

func newBenchRawEpoll(b *testing.B, fds []int) *benchRawEpoll {
	epfd := benchEpollCreate(b)
	for _, fd := range fds {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			b.Fatalf("epoll_ctl ADD %d: %v", fd, err)
		}
	}
	return &benchRawEpoll{epfd: epfd, buf: make([]unix.EpollEvent, benchEvents)}
}

func (r *benchRawEpoll) wait(events []poller.Event) (int, error) {
	buf := r.buf
	if len(buf) > len(events) {
		buf = buf[:len(events)]
	}
	n, err := unix.EpollWait(r.epfd, buf, 0)
	if err != nil {
		return 0, err
	}
	for i := range buf[:n] {
		ev := &buf[i]
		events[i] = poller.Event{Fd: int(ev.Fd), Flags: benchEpollFlags(ev.Events)}
	}
	return n, nil
}

func benchEpollFlags(ev uint32) poller.Flags {
	var f poller.Flags
	if ev&unix.EPOLLIN != 0 {
		f |= poller.Readable
	}
	if ev&unix.EPOLLOUT != 0 {
		f |= poller.Writable
	}
	if ev&(unix.EPOLLHUP|unix.EPOLLRDHUP) != 0 {
		f |= poller.Hangup
	}
	if ev&unix.EPOLLERR != 0 {
		f |= poller.Errored
	}
	return f
}

// benchRawPoll keeps its own []PollFd, in the Poller's registration order, and scans the
// revents until it has seen as many as poll counted.
type benchRawPoll struct {
	pfds []unix.PollFd
}

func newBenchRawPoll(fds []int) *benchRawPoll {
	r := &benchRawPoll{}
	for _, fd := range fds {
		r.pfds = append(r.pfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN | unix.POLLRDHUP})
	}
	return r
}

func (r *benchRawPoll) wait(events []poller.Event) (int, error) {
	n, err := unix.Poll(r.pfds, 0)
	if err != nil {
		return 0, err
	}
	k := 0
	for i := 0; i < len(r.pfds) && k < n && k < len(events); i++ {
		pfd := &r.pfds[i]
		if pfd.Revents == 0 {
			continue
		}
		var f poller.Flags
		if pfd.Revents&unix.POLLIN != 0 {
			f |= poller.Readable
		}
		if pfd.Revents&unix.POLLOUT != 0 {
			f |= poller.Writable
		}
		if pfd.Revents&(unix.POLLHUP|unix.POLLRDHUP) != 0 {
			f |= poller.Hangup
		}
		if pfd.Revents&(unix.POLLERR|unix.POLLNVAL) != 0 {
			f |= poller.Errored
		}
		events[k] = poller.Event{Fd: int(pfd.Fd), Flags: f}
		k++
	}
	return k, nil
}

// benchRawSelect keeps the interest set and copies it into each call, as select(2)
// overwrites it, then scans the bits until it has seen as many as select counted.
type benchRawSelect struct {
	rset unix.FdSet
	nfd  int
}

func newBenchRawSelect(b *testing.B, fds []int) *benchRawSelect {
	r := &benchRawSelect{}
	for _, fd := range fds {
		if fd >= poller.FdSetSize {
			benchSkipf(b, "fd %d does not fit in an fd_set (FdSetSize %d)", fd, poller.FdSetSize)
		}
		r.rset.Set(fd)
		if fd >= r.nfd {
			r.nfd = fd + 1
		}
	}
	return r
}

func (r *benchRawSelect) wait(events []poller.Event) (int, error) {
	rs := r.rset
	var tv unix.Timeval
	n, err := unix.Select(r.nfd, &rs, nil, nil, &tv)
	if err != nil {
		return 0, err
	}
	k := 0
	for fd := 0; fd < r.nfd && k < n && k < len(events); fd++ {
		if rs.IsSet(fd) {
			events[k] = poller.Event{Fd: fd, Flags: poller.Readable}
			k++
		}
	}
	return k, nil
}

// BenchmarkSelect measures the package's Select against unix.Select, both on a copy of
// the same read set of N=1000 socketpairs of which K are readable, scanning for the ready
// bits the way a caller must.
func BenchmarkSelect(b *testing.B) {
	const n = 1000
	readers, writers := benchPairs(b, n)
	var base poller.FdSet
	var rawBase unix.FdSet
	nfd := 0
	for _, fd := range readers {
		if err := base.Set(fd); err != nil {
			benchSkipf(b, "fd %d does not fit in an fd_set: %v", fd, err)
		}
		rawBase.Set(fd)
		if fd >= nfd {
			nfd = fd + 1
		}
	}
	for _, k := range []int{1, 64} {
		k := k
		b.Run(fmt.Sprintf("N=%d/K=%d", n, k), func(b *testing.B) {
			benchMakeReady(b, readers, writers, k)
			b.Run("impl=raw", func(b *testing.B) {
				b.ReportAllocs()
				cpu := benchCPU(b)
				for i := 0; i < b.N; i++ {
					rs := rawBase
					var tv unix.Timeval
					got, err := unix.Select(nfd, &rs, nil, nil, &tv)
					if got != k || err != nil {
						b.Fatalf("unix.Select = %d, %v; want %d", got, err, k)
					}
					seen := 0
					for fd := 0; fd < nfd && seen < got; fd++ {
						if rs.IsSet(fd) {
							seen++
						}
					}
				}
				cpu()
			})
			b.Run("impl=poller", func(b *testing.B) {
				b.ReportAllocs()
				cpu := benchCPU(b)
				for i := 0; i < b.N; i++ {
					rs := base
					got, err := poller.Select(nfd, &rs, nil, nil, 0)
					if got != k || err != nil {
						b.Fatalf("Select = %d, %v; want %d", got, err, k)
					}
					seen := 0
					for fd := 0; fd < nfd && seen < got; fd++ {
						if rs.IsSet(fd) {
							seen++
						}
					}
				}
				cpu()
			})
		})
	}
}

// BenchmarkWaitTimeout measures Wait with a 50µs timeout and nothing ready. epoll_wait
// counts in milliseconds, so a raw caller must round up to 1ms (0 would spin); the Poller
// sleeps 50µs with epoll_pwait2 (Linux 5.11+), else it rounds up the same way.
func BenchmarkWaitTimeout(b *testing.B) {
	const timeout = 50 * time.Microsecond
	b.Run("backend=epoll/timeout=50us", func(b *testing.B) {
		readers, _ := benchPairs(b, 1)
		p := benchOpen(b, poller.BackendEpoll)
		if err := p.Add(readers[0], poller.Readable); err != nil {
			b.Fatal(err)
		}
		raw := newBenchRawEpoll(b, readers)
		events := make([]poller.Event, 1)
		b.Run("impl=raw", func(b *testing.B) {
			msec := int((timeout + time.Millisecond - 1) / time.Millisecond)
			b.ReportAllocs()
			cpu := benchCPU(b)
			for i := 0; i < b.N; i++ {
				n, err := unix.EpollWait(raw.epfd, raw.buf[:1], msec)
				for err == unix.EINTR {
					n, err = unix.EpollWait(raw.epfd, raw.buf[:1], msec)
				}
				if n != 0 || err != nil {
					b.Fatalf("EpollWait = %d, %v", n, err)
				}
			}
			cpu()
		})
		b.Run("impl=poller", func(b *testing.B) {
			b.ReportAllocs()
			cpu := benchCPU(b)
			for i := 0; i < b.N; i++ {
				if n, err := p.Wait(events, timeout); n != 0 || err != nil {
					b.Fatalf("Wait = %d, %v", n, err)
				}
			}
			cpu()
		})
	})
}

// BenchmarkAddDelete measures registering and unregistering one socket.
func BenchmarkAddDelete(b *testing.B) {
	b.Run("backend=epoll", func(b *testing.B) {
		readers, _ := benchPairs(b, 1)
		fd := readers[0]
		p := benchOpen(b, poller.BackendEpoll)
		epfd := benchEpollCreate(b)
		b.Run("impl=raw", func(b *testing.B) {
			b.ReportAllocs()
			cpu := benchCPU(b)
			for i := 0; i < b.N; i++ {
				ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}
				if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
					b.Fatal(err)
				}
				if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, fd, &ev); err != nil {
					b.Fatal(err)
				}
			}
			cpu()
		})
		b.Run("impl=poller", func(b *testing.B) {
			b.ReportAllocs()
			cpu := benchCPU(b)
			for i := 0; i < b.N; i++ {
				if err := p.Add(fd, poller.Readable); err != nil {
					b.Fatal(err)
				}
				if err := p.Delete(fd); err != nil {
					b.Fatal(err)
				}
			}
			cpu()
		})
	})
}

// BenchmarkModify measures changing one socket's interest, alternating between Readable
// and Readable|Writable so that every call changes something.
func BenchmarkModify(b *testing.B) {
	b.Run("backend=epoll", func(b *testing.B) {
		readers, _ := benchPairs(b, 1)
		fd := readers[0]
		p := benchOpen(b, poller.BackendEpoll)
		if err := p.Add(fd, poller.Readable); err != nil {
			b.Fatal(err)
		}
		raw := newBenchRawEpoll(b, readers)
		b.Run("impl=raw", func(b *testing.B) {
			b.ReportAllocs()
			cpu := benchCPU(b)
			for i := 0; i < b.N; i++ {
				ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}
				if i&1 != 0 {
					ev.Events |= unix.EPOLLOUT
				}
				if err := unix.EpollCtl(raw.epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
					b.Fatal(err)
				}
			}
			cpu()
		})
		b.Run("impl=poller", func(b *testing.B) {
			b.ReportAllocs()
			cpu := benchCPU(b)
			for i := 0; i < b.N; i++ {
				flags := poller.Readable
				if i&1 != 0 {
					flags |= poller.Writable
				}
				if err := p.Modify(fd, flags); err != nil {
					b.Fatal(err)
				}
			}
			cpu()
		})
	})
}

// BenchmarkWakeRoundTrip measures a wakeup there and back between two goroutines, each
// in a wait with no timeout: this goroutine wakes ping and waits on pong, an echo
// goroutine waits on ping and wakes pong. The raw twin does the same with two epoll fds
// and two eventfds: write, epoll_wait, read the counter back to zero. events is the
// length of the events slice each side waits with: 1 is the case where the wake event
// alone fills the kernel's answer. wait=park opens the Pollers with Config.Park; its raw
// twin parks in the runtime poller on a duplicate of each epoll fd, through
// SyscallConn().Read with a non-blocking epoll_wait. thread=locked runs both goroutines
// locked to their threads (runtime.LockOSThread), as a pinned event loop is.
//
// The target, parked at most half of blocking between ordinary goroutines:
//
//	go test -run '^$' -bench 'WakeRoundTrip' -count 10 -cpu 2 . | tee /tmp/w.txt
//	benchstat -col '/wait@(block park)' /tmp/w.txt
func BenchmarkWakeRoundTrip(b *testing.B) {
	type config struct {
		events int
		park   bool
		locked bool
	}
	configs := []config{{1, false, false}}
	for _, park := range []bool{false, true} {
		for _, locked := range []bool{false, true} {
			configs = append(configs, config{64, park, locked})
		}
	}
	for _, c := range configs {
		c := c
		name := fmt.Sprintf("backend=epoll/events=%d/wait=%s/thread=%s", c.events,
			map[bool]string{false: "block", true: "park"}[c.park],
			map[bool]string{false: "free", true: "locked"}[c.locked])
		b.Run(name+"/impl=raw", func(b *testing.B) {
			ping, pong := newBenchRawWake(b, c.events, c.park), newBenchRawWake(b, c.events, c.park)
			benchPingPong(b, c.locked, ping.wake, ping.wait, pong.wake, pong.wait, func() error {
				pong.stop.Store(true) // the echo goroutine's next wake of pong ends it
				return ping.wake()
			})
		})
		b.Run(name+"/impl=poller", func(b *testing.B) {
			cfg := poller.Config{Backend: poller.BackendEpoll, Park: c.park}
			ping, pong := benchOpenConfig(b, cfg), benchOpenConfig(b, cfg)
			pingEvents, pongEvents := make([]poller.Event, c.events), make([]poller.Event, c.events)
			benchPingPong(b, c.locked,
				ping.Wake, func() error { _, err := ping.Wait(pingEvents, -1); return err },
				pong.Wake, func() error { _, err := pong.Wait(pongEvents, -1); return err },
				ping.Close)
		})
	}
}

// benchPingPong times b.N round trips: wake ping, wait pong, while an echo goroutine
// waits ping and wakes pong. stop ends the echo goroutine, whose wait on ping must then
// return nil or poller.ErrClosed.
func benchPingPong(b *testing.B, locked bool, wakePing, waitPing, wakePong, waitPong, stop func() error) {
	if locked {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	done := make(chan error, 1)
	go func() {
		if locked {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		for {
			if err := waitPing(); err != nil {
				if err == poller.ErrClosed {
					err = nil
				}
				done <- err
				return
			}
			if err := wakePong(); err != nil {
				if err == errBenchStopped {
					err = nil
				}
				done <- err
				return
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchCPU(b)
	for i := 0; i < b.N; i++ {
		if err := wakePing(); err != nil {
			b.Fatal(err)
		}
		if err := waitPong(); err != nil {
			b.Fatal(err)
		}
	}
	cpu()
	b.StopTimer()
	if err := stop(); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// errBenchStopped is what a raw twin's wake returns once its stop flag is set.
var errBenchStopped = errors.New("stopped")

// benchRawWake is an epoll fd with a non-blocking eventfd registered: what the Poller's
// Wake and a woken Wait(-1) do underneath. With park, it is what a Poller opened with
// Config.Park does: wait parks in the runtime poller on a non-blocking duplicate of the
// epoll fd, and wake sets a flag and a past read deadline on it, which readies the
// parked goroutine without a syscall.
type benchRawWake struct {
	epfd, efd int
	one, buf  [8]byte
	events    []unix.EpollEvent
	stop      atomic.Bool // set at the end: wake then says errBenchStopped

	file    *os.File // park only, from here on
	rc      syscall.RawConn
	tryFn   func(uintptr) bool
	pending atomic.Bool
	stale   bool // the deadline is a wake's past one
}

func newBenchRawWake(b *testing.B, evLen int, park bool) *benchRawWake {
	w := &benchRawWake{epfd: benchEpollCreate(b), events: make([]unix.EpollEvent, evLen)}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		b.Fatalf("eventfd: %v", err)
	}
	b.Cleanup(func() { unix.Close(efd) })
	w.efd = efd
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		b.Fatalf("epoll_ctl ADD eventfd: %v", err)
	}
	binary.NativeEndian.PutUint64(w.one[:], 1)
	if park {
		w.file = benchParkFile(b, w.epfd)
		if w.rc, err = w.file.SyscallConn(); err != nil {
			b.Fatal(err)
		}
		w.tryFn = w.try
	}
	return w
}

// benchParkFile returns an *os.File over a non-blocking, close-on-exec duplicate of
// epfd, which os.NewFile registers with the runtime poller; it is closed when b ends.
func benchParkFile(tb testing.TB, epfd int) *os.File {
	dup, err := unix.FcntlInt(uintptr(epfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		tb.Fatalf("F_DUPFD_CLOEXEC: %v", err)
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		tb.Fatalf("O_NONBLOCK: %v", err)
	}
	f := os.NewFile(uintptr(dup), "epoll")
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		tb.Fatalf("the runtime poller refused the epoll fd: %v", err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

func (w *benchRawWake) wake() error {
	var err error
	if w.file != nil {
		if w.pending.CompareAndSwap(false, true) {
			w.file.SetReadDeadline(time.Unix(1, 0))
		}
	} else if _, err = unix.Write(w.efd, w.one[:]); err == unix.EAGAIN {
		err = nil
	}
	if err == nil && w.stop.Load() {
		err = errBenchStopped
	}
	return err
}

func (w *benchRawWake) wait() error {
	for w.file != nil {
		if w.stale {
			if err := w.file.SetReadDeadline(time.Time{}); err != nil {
				return err
			}
			w.stale = false
		}
		err := w.rc.Read(w.tryFn)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			w.stale = true
		} else if err != nil {
			return err
		}
		if w.pending.Swap(false) {
			return nil
		}
	}
	for {
		_, err := unix.EpollWait(w.epfd, w.events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if _, err := unix.Read(w.efd, w.buf[:]); err != nil && err != unix.EAGAIN {
			return err
		}
		return nil
	}
}

// try is the parked wait's RawConn.Read callback: a non-blocking epoll_wait (which the
// Poller makes for the fds it watches; here none is ready), and the wake flag.
func (w *benchRawWake) try(uintptr) bool {
	n, _ := unix.EpollWait(w.epfd, w.events, 0)
	return n > 0 || w.pending.Load()
}

// BenchmarkIdleThreads holds N idle waits with no timeout, blocking or parked, and
// reports the OS threads they add to the process (threads, per N waits). Each run is a
// fresh child process (see TestParkThreads): Go keeps idle threads for reuse, so in this
// process the threads of one run would serve the next. The raw twins wait in epoll_wait
// (block) and in the runtime poller on a duplicate of the epoll fd (park).
func BenchmarkIdleThreads(b *testing.B) {
	for _, n := range []int{100, 1000} {
		for _, mode := range []string{"block", "park"} {
			for _, impl := range []string{"raw", "poller"} {
				n, mode, impl := n, mode, impl
				b.Run(fmt.Sprintf("N=%d/wait=%s/impl=%s", n, mode, impl), func(b *testing.B) {
					child := mode
					if impl == "raw" {
						child = "raw" + mode
					}
					threads := 0
					for i := 0; i < b.N; i++ {
						r := idleThreads(b, child, poller.BackendEpoll, n)
						threads += r[1] - r[0]
					}
					b.ReportMetric(float64(threads)/float64(b.N), "threads")
				})
			}
		}
	}
}

// rawIdleWaiters returns n idle waits on epoll fds done with x/sys (mode "rawblock":
// epoll_wait with no timeout; "rawpark": parked in the runtime poller), the function that
// ends them through an eventfd each, and the one that closes the descriptors after.
func rawIdleWaiters(mode string, n int) (waits []func(), wake, cleanup func(), err error) {
	var fds []int
	var files []*os.File
	wake = func() {
		one := make([]byte, 8)
		binary.NativeEndian.PutUint64(one, 1)
		for i := 1; i < len(fds); i += 2 {
			unix.Write(fds[i], one)
		}
	}
	cleanup = func() {
		for _, f := range files {
			f.Close()
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	for i := 0; i < n; i++ {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			cleanup()
			return nil, nil, nil, err
		}
		efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			unix.Close(epfd)
			cleanup()
			return nil, nil, nil, err
		}
		fds = append(fds, epfd, efd)
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
			cleanup()
			return nil, nil, nil, err
		}
		events := make([]unix.EpollEvent, 1)
		switch mode {
		case "rawblock":
			waits = append(waits, func() {
				for {
					if n, err := unix.EpollWait(epfd, events, -1); n > 0 || err != nil && err != unix.EINTR {
						return
					}
				}
			})
		case "rawpark":
			dup, err := unix.FcntlInt(uintptr(epfd), unix.F_DUPFD_CLOEXEC, 0)
			if err == nil {
				err = unix.SetNonblock(dup, true)
				files = append(files, os.NewFile(uintptr(dup), "epoll"))
			}
			if err != nil {
				cleanup()
				return nil, nil, nil, err
			}
			rc, err := files[len(files)-1].SyscallConn()
			if err != nil {
				cleanup()
				return nil, nil, nil, err
			}
			waits = append(waits, func() {
				rc.Read(func(uintptr) bool {
					n, _ := unix.EpollWait(epfd, events, 0)
					return n > 0
				})
			})
		default:
			cleanup()
			return nil, nil, nil, errors.New("no raw idle waiter " + mode)
		}
	}
	return waits, wake, cleanup, nil
}

// benchCPU starts counting the process's CPU time, user and system, and returns the
// function that reports it per op as cpu-ns/op, to call when the timed loop is done.
// Wall time (ns/op) also counts the time the process waited for a CPU, which swamps the
// difference between raw and poller on a machine busy with other work; CPU time does not.
func benchCPU(b *testing.B) (stop func()) {
	start := benchProcessCPU(b)
	return func() {
		b.ReportMetric(float64(benchProcessCPU(b)-start)/float64(b.N), "cpu-ns/op")
	}
}

func benchProcessCPU(b *testing.B) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		b.Fatalf("clock_gettime(CLOCK_PROCESS_CPUTIME_ID): %v", err)
	}
	return ts.Nano()
}

// benchOpenConfig opens a Poller with cfg and closes it when b ends.
func benchOpenConfig(b *testing.B, cfg poller.Config) *poller.Poller {
	p, err := cfg.Open()
	if err != nil {
		b.Fatalf("%+v.Open(): %v", cfg, err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

// benchOpen opens a Poller on kind and closes it when b ends.
func benchOpen(b *testing.B, kind poller.Backend) *poller.Poller {
	p, err := poller.OpenBackend(kind)
	if err != nil {
		b.Fatalf("OpenBackend(%v): %v", kind, err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

func benchEpollCreate(b *testing.B) int {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		b.Fatalf("epoll_create1: %v", err)
	}
	b.Cleanup(func() { unix.Close(epfd) })
	return epfd
}

// benchFdSlack is room for the descriptors that are not socketpairs: stdio, the runtime's,
// the Pollers' and the raw twins'.
const benchFdSlack = 128

// benchPairs returns n non-blocking socket ends to register (readers) and, for each, the
// end that makes it readable (writers[i] is readers[i]'s peer). Both ends of each
// socketpair are readers, so n registered fds cost n descriptors (10,000 fit under a
// hard RLIMIT_NOFILE of 20,000), and they hold the lowest free numbers, densely, so that
// 1000 of them fit in an fd_set. All are closed when b ends.
func benchPairs(b *testing.B, n int) (readers, writers []int) {
	benchNofile(b, uint64(n+1+benchFdSlack))
	readers = make([]int, 0, n)
	writers = make([]int, 0, n)
	b.Cleanup(func() {
		for _, fd := range readers {
			unix.Close(fd)
		}
		if n%2 == 1 { // the last pair's second end is a writer only
			unix.Close(writers[n-1])
		}
	})
	for len(readers) < n {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatalf("socketpair for fd %d of %d: %v", len(readers)+1, n, err)
		}
		readers, writers = append(readers, fds[0]), append(writers, fds[1])
		if len(readers) < n {
			readers, writers = append(readers, fds[1]), append(writers, fds[0])
		}
	}
	return readers, writers
}

// benchNofile makes RLIMIT_NOFILE at least need until b ends, raising the hard limit
// too where the process may (CAP_SYS_RESOURCE), and skips b where it cannot.
func benchNofile(b *testing.B, need uint64) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		benchSkipf(b, "getrlimit(RLIMIT_NOFILE): %v", err)
	}
	if old.Cur >= need {
		return
	}
	lim := unix.Rlimit{Cur: need, Max: old.Max}
	if lim.Max < need {
		lim.Max = need
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		benchSkipf(b, "needs RLIMIT_NOFILE >= %d, have %d (hard %d), and setrlimit failed: %v",
			need, old.Cur, old.Max, err)
	}
	b.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &old) })
}

// benchSkipf skips b and says why on stderr too: go test shows a benchmark's skip
// message only with -v. The line starts with "---", which benchstat ignores.
func benchSkipf(b *testing.B, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(os.Stderr, "--- SKIP: %s: %s\n", b.Name(), msg)
	b.Skip(msg)
}

// benchMakeReady makes k of the readers readable, spread evenly with the last one
// last, so that a scan stopping at the last ready entry still scans the whole table;
// it drains them when b ends.
func benchMakeReady(b *testing.B, readers, writers []int, k int) {
	n := len(readers)
	var ready []int
	b.Cleanup(func() {
		var buf [1]byte
		for _, i := range ready {
			if _, err := unix.Read(readers[i], buf[:]); err != nil {
				b.Errorf("drain %d: %v", readers[i], err)
			}
		}
	})
	for j := 0; j < k; j++ {
		i := (j+1)*n/k - 1
		if _, err := unix.Write(writers[i], []byte{1}); err != nil {
			b.Fatalf("write %d: %v", writers[i], err)
		}
		ready = append(ready, i)
	}
}
