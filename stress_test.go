//go:build aix || darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd || solaris

package poller_test

import (
	"errors"
	"math"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rawpoll/poller"
	"golang.org/x/sys/unix"
)

// TestManyFds registers 10,000 fds, makes 100 of them ready, and expects Wait to report
// exactly those. select stops at FdSetSize and is left out.
func TestManyFds(t *testing.T) {
	const pairs, ready = 5000, 100
	raiseNofile(t, 2*pairs+256)
	for _, b := range testBackends() {
		if b.kind == poller.BackendSelect {
			continue
		}
		t.Run(b.String(), func(t *testing.T) {
			p := openPoller(t, b)
			all := make([]*[2]int, pairs)
			for i := range all {
				all[i] = socketPair(t)
				for _, fd := range all[i] {
					if err := p.Add(fd, poller.Readable); err != nil {
						t.Fatalf("Add #%d: %v", 2*i, err)
					}
				}
			}
			want := map[int]bool{}
			for i := 0; i < ready; i++ {
				sp := all[i*pairs/ready+i%2] // spread across the table
				write(t, sp[1], "x")
				want[sp[0]] = true
			}
			got := waitMap(t, p, 4*ready, slack)
			if len(got) != ready {
				t.Fatalf("Wait reported %d fds, want %d", len(got), ready)
			}
			for fd, f := range got {
				if !want[fd] || f != poller.Readable {
					t.Fatalf("Wait reported fd %d %v, which is not one of the ready ones", fd, f)
				}
			}
		})
	}
}

// TestChurn has 8 goroutines Add, Modify and Delete their own fds while one goroutine
// Waits. Fds that stay registered and ready must be in every Wait's result, and no call
// may fail.
func TestChurn(t *testing.T) {
	d := 2 * time.Second
	if testing.Short() {
		d = 300 * time.Millisecond
	}
	for _, b := range testBackends() {
		t.Run(b.String(), func(t *testing.T) {
			p := openPoller(t, b)
			var stay []int
			for i := 0; i < 4; i++ {
				sp := socketPair(t)
				mustAdd(t, p, sp[0], poller.Readable)
				write(t, sp[1], "x")
				stay = append(stay, sp[0])
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for g := 0; g < 8; g++ {
				sp := socketPair(t)
				wg.Add(1)
				go func(fd int) {
					defer wg.Done()
					modes := []poller.Flags{poller.Readable, poller.Writable, poller.Readable | poller.Writable | poller.OneShot}
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						err := p.Add(fd, poller.Writable)
						if err == nil {
							err = p.Modify(fd, modes[i%len(modes)])
						}
						if err == nil {
							err = p.Delete(fd)
						}
						if err != nil {
							errs <- err
							return
						}
					}
				}(sp[0])
			}
			events := make([]poller.Event, 32)
			waits := 0
			for deadline := time.Now().Add(d); time.Now().Before(deadline); waits++ {
				n, err := p.Wait(events, slack)
				if err != nil {
					t.Fatal(err)
				}
				seen := map[int]bool{}
				for _, ev := range events[:n] {
					if seen[ev.Fd] {
						t.Fatalf("fd %d twice in one Wait", ev.Fd)
					}
					seen[ev.Fd] = true
				}
				for _, fd := range stay {
					if !seen[fd] {
						t.Fatalf("Wait #%d = %v: registered, ready fd %d missing", waits, events[:n], fd)
					}
				}
			}
			close(stop)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			t.Logf("%d Waits under churn", waits)
		})
	}
}

// TestCloseRacingWait: 1,000 rounds of Close against a Wait about to block or blocked.
// Every Wait returns ErrClosed; no fd and no goroutine outlives the rounds.
func TestCloseRacingWait(t *testing.T) {
	rounds := 1000
	if testing.Short() {
		rounds = 100
	}
	for _, b := range testBackends() {
		t.Run(b.String(), func(t *testing.T) {
			fdsBefore := openFds(t)
			goroutinesBefore := runtime.NumGoroutine()
			for i := 0; i < rounds; i++ {
				p, err := b.open()
				if err != nil {
					t.Fatal(err)
				}
				ch := blockedWait(p, -1)
				if i%2 == 1 {
					runtime.Gosched()
				}
				if err := p.Close(); err != nil {
					t.Fatalf("round %d: Close: %v", i, err)
				}
				select {
				case r := <-ch:
					if !errors.Is(r.err, poller.ErrClosed) {
						t.Fatalf("round %d: Wait = %v, want ErrClosed", i, r.err)
					}
				case <-time.After(slack):
					t.Fatalf("round %d: Wait did not return after Close", i)
				}
			}
			if after := openFds(t); after != fdsBefore {
				t.Errorf("open fds: %d before, %d after", fdsBefore, after)
			}
			// Goroutines that have sent their result may take a moment to exit.
			deadline := time.Now().Add(slack)
			for runtime.NumGoroutine() > goroutinesBefore && time.Now().Before(deadline) {
				runtime.Gosched()
				time.Sleep(time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > goroutinesBefore {
				t.Errorf("goroutines: %d before, %d after", goroutinesBefore, n)
			}
		})
	}
}

// TestBadInput calls every method with bad input. Each row names the error it wants;
// none may panic, and the poller stays usable after every row.
func TestBadInput(t *testing.T) {
	type env struct {
		p      *poller.Poller
		b      testBackend
		fd     int // a registered socket
		idle   int // an open, unregistered socket
		closed int // a number just closed
		file   int // a regular file
	}
	rows := []struct {
		name string
		call func(e env) error
		want func(b testBackend) error // nil: success
	}{
		{"Add negative", func(e env) error { return e.p.Add(-1, poller.Readable) }, always(unix.EBADF)},
		{"Add MinInt", func(e env) error { return e.p.Add(math.MinInt, poller.Readable) }, always(unix.EBADF)},
		{"Add above int32", func(e env) error { return e.p.Add(aboveInt32(e.idle), poller.Readable) }, always(unix.EBADF)},
		{"Add huge unopened", func(e env) error { return e.p.Add(1<<30, poller.Readable) }, tooLargeOr(unix.EBADF)},
		{"Add closed", func(e env) error { return e.p.Add(e.closed, poller.Readable) }, always(unix.EBADF)},
		{"Add regular file", func(e env) error { return e.p.Add(e.file, poller.Readable) }, onEpoll(unix.EPERM)},
		{"Add registered", func(e env) error { return e.p.Add(e.fd, poller.Writable) }, always(poller.ErrExists)},
		{"Add no interest", func(e env) error { return e.p.Add(e.idle, poller.OneShot) }, always(poller.ErrInvalidFlags)},
		{"Add Hangup", func(e env) error { return e.p.Add(e.idle, poller.Readable|poller.Hangup) }, always(poller.ErrInvalidFlags)},
		{"Add unknown bit", func(e env) error { return e.p.Add(e.idle, poller.Readable|1<<20) }, always(poller.ErrInvalidFlags)},
		{"Add edge", func(e env) error {
			err := e.p.Add(e.idle, poller.Readable|poller.EdgeTriggered)
			if err == nil {
				e.p.Delete(e.idle)
			}
			return err
		}, edgeUnsupported},
		{"Add Priority alone", func(e env) error {
			err := e.p.Add(e.idle, poller.Priority)
			if err == nil {
				e.p.Delete(e.idle)
			}
			return err
		}, priorityOr(nil)},
		{"Add Priority closed", func(e env) error { return e.p.Add(e.closed, poller.Priority) }, priorityOr(unix.EBADF)},
		{"Add Priority negative", func(e env) error { return e.p.Add(-1, poller.Priority|poller.OneShot) }, priorityOr(unix.EBADF)},
		{"Add Priority|Hangup", func(e env) error { return e.p.Add(e.idle, poller.Priority|poller.Hangup) }, always(poller.ErrInvalidFlags)},
		{"Add Priority|Errored", func(e env) error { return e.p.Add(e.idle, poller.Priority|poller.Errored) }, always(poller.ErrInvalidFlags)},
		{"Add bit after Priority", func(e env) error { return e.p.Add(e.idle, poller.Priority|1<<7) }, always(poller.ErrInvalidFlags)},
		{"Modify to Priority and back", func(e env) error {
			err := e.p.Modify(e.fd, poller.Priority|poller.Readable)
			if err == nil {
				err = e.p.Modify(e.fd, poller.Readable)
			}
			return err
		}, priorityOr(nil)},
		{"Modify Priority unregistered", func(e env) error { return e.p.Modify(e.idle, poller.Priority) }, priorityOr(poller.ErrNotRegistered)},
		{"Modify negative", func(e env) error { return e.p.Modify(-1, poller.Readable) }, always(poller.ErrNotRegistered)},
		{"Modify unregistered", func(e env) error { return e.p.Modify(e.idle, poller.Readable) }, always(poller.ErrNotRegistered)},
		{"Modify huge", func(e env) error { return e.p.Modify(math.MaxInt, poller.Readable) }, always(poller.ErrNotRegistered)},
		{"Modify Errored", func(e env) error { return e.p.Modify(e.fd, poller.Errored) }, always(poller.ErrInvalidFlags)},
		{"Delete negative", func(e env) error { return e.p.Delete(-5) }, always(poller.ErrNotRegistered)},
		{"Delete unregistered", func(e env) error { return e.p.Delete(e.idle) }, always(poller.ErrNotRegistered)},
		{"Delete huge", func(e env) error { return e.p.Delete(math.MaxInt) }, always(poller.ErrNotRegistered)},
		{"Wait nil", func(e env) error { _, err := e.p.Wait(nil, 0); return err }, always(unix.EINVAL)},
		{"Wait empty", func(e env) error { _, err := e.p.Wait([]poller.Event{}, -1); return err }, always(unix.EINVAL)},
		{"Wait MinInt64 timeout", func(e env) error {
			e.p.Wake()
			_, err := e.p.Wait(make([]poller.Event, 1), -1<<63)
			return err
		}, always(nil)},
		{"Wait MaxInt64 timeout", func(e env) error {
			e.p.Wake()
			_, err := e.p.Wait(make([]poller.Event, 1), 1<<63-1)
			return err
		}, always(nil)},
	}
	for _, b := range testBackends() {
		t.Run(b.String(), func(t *testing.T) {
			for _, row := range rows {
				t.Run(row.name, func(t *testing.T) {
					p := openPoller(t, b)
					sp, idle := socketPair(t), socketPair(t)
					mustAdd(t, p, sp[0], poller.Readable)
					f, err := os.CreateTemp(t.TempDir(), "regular")
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					gone := socketPair(t) // closed last, so nothing reuses its number
					closed := gone[1]
					unix.Close(gone[1])
					gone[1] = -1
					e := env{p: p, b: b, fd: sp[0], idle: idle[0], closed: closed, file: int(f.Fd())}
					err = row.call(e)
					if want := row.want(b); want == nil {
						if err != nil {
							t.Fatalf("got %v, want success", err)
						}
					} else if !errors.Is(err, want) {
						t.Fatalf("got %v, want %v", err, want)
					}
					// Still usable.
					write(t, sp[1], "x")
					if f := waitFd(t, p, sp[0]); f&poller.Readable == 0 {
						t.Fatalf("after the row, registered fd reported %v", f)
					}
				})
			}
		})
	}
	t.Run("FdSet", func(t *testing.T) {
		var s poller.FdSet
		for _, fd := range []int{-1, math.MinInt, poller.FdSetSize, poller.FdSetSize + 1, math.MaxInt} {
			err := s.Set(fd)
			if fd < 0 && !errors.Is(err, unix.EBADF) || fd >= 0 && !errors.Is(err, poller.ErrFdTooLarge) {
				t.Errorf("Set(%d) = %v", fd, err)
			}
			s.Clear(fd)
			if s.IsSet(fd) {
				t.Errorf("IsSet(%d) = true", fd)
			}
		}
		if s.Count() != 0 {
			t.Errorf("Count after failed Sets = %d", s.Count())
		}
		if err := s.Set(poller.FdSetSize - 1); err != nil || !s.IsSet(poller.FdSetSize-1) || s.Count() != 1 {
			t.Errorf("Set(FdSetSize-1) = %v, IsSet %v, Count %d", err, s.IsSet(poller.FdSetSize-1), s.Count())
		}
		if _, err := poller.Select(poller.FdSetSize+1, &s, nil, nil, 0); !errors.Is(err, poller.ErrFdTooLarge) {
			t.Errorf("Select(FdSetSize+1) = %v, want ErrFdTooLarge", err)
		}
		if _, err := poller.Select(-1, nil, nil, nil, 0); !errors.Is(err, unix.EINVAL) {
			t.Errorf("Select(-1) = %v, want EINVAL", err)
		}
	})
}

func always(err error) func(testBackend) error {
	return func(testBackend) error { return err }
}

func onEpoll(err error) func(testBackend) error {
	return func(b testBackend) error {
		if b.kind == poller.BackendEpoll {
			return err
		}
		return nil
	}
}

func tooLargeOr(err error) func(testBackend) error {
	return func(b testBackend) error {
		if b.kind == poller.BackendSelect {
			return poller.ErrFdTooLarge
		}
		return err
	}
}

// priorityOr is err where b can wait for Priority, and ErrUnsupported where it cannot:
// flags are checked before the fd. kqueue can where the kernel has EVFILT_EXCEPT with
// NOTE_OOB firing for out-of-band data alone (OpenBSD, DragonFly).
func priorityOr(err error) func(testBackend) error {
	return func(b testBackend) error {
		if !canPriority(b) {
			return poller.ErrUnsupported
		}
		return err
	}
}

func edgeUnsupported(b testBackend) error {
	if b.kind == poller.BackendPoll || b.kind == poller.BackendSelect || b.kind == poller.BackendPort {
		return poller.ErrUnsupported
	}
	return nil
}

// aboveInt32 returns fd plus 2^32: a number the kernel would truncate back to fd if the
// poller passed it on. Where int has 32 bits no such number exists, and it returns -1.
func aboveInt32(fd int) int {
	if strconv.IntSize == 32 {
		return -1
	}
	return int(uint64(fd) + 1<<32)
}

// TestSelectSignalStorm: Select retries EINTR, and a timeout reached after a retry still
// empties the sets, as select(2) does: no fd may look ready when n == 0.
func TestSelectSignalStorm(t *testing.T) {
	pp := pipePair(t) // never readable
	ready := make(chan func(unix.Signal) error)
	done := make(chan error, 1)
	go func() {
		signal, unlock := waiterThread()
		defer unlock()
		ready <- signal
		for i := 0; i < 2000; i++ {
			var r poller.FdSet
			r.Set(pp[0])
			n, err := poller.Select(pp[0]+1, &r, nil, nil, 50*time.Microsecond)
			if err != nil {
				done <- err
				return
			}
			if n == 0 && r.IsSet(pp[0]) {
				done <- errors.New("Select timed out but left the idle fd in the read set")
				return
			}
		}
		done <- nil
	}()
	signal := <-ready
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
			signal(unix.SIGURG)
		}
	}
}
