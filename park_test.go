//go:build aix || darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd || solaris

package poller_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawpoll/poller"
	"golang.org/x/sys/unix"
)

func TestConfig(t *testing.T) {
	bs := poller.Backends()
	p, err := poller.Config{}.Open()
	if err != nil {
		t.Fatal(err)
	}
	if p.Backend() != bs[0] {
		t.Errorf("Config{}.Open() gave %v, want %v", p.Backend(), bs[0])
	}
	p.Close()
	for _, kind := range bs {
		p, err := poller.Config{Backend: kind}.Open()
		if err != nil {
			t.Fatalf("Config{Backend: %v}.Open(): %v", kind, err)
		}
		if p.Backend() != kind {
			t.Errorf("Config{Backend: %v}.Open() gave %v", kind, p.Backend())
		}
		p.Close()
	}
	// Park needs one pollable descriptor: poll and select have none, and an unknown
	// backend is unsupported whether parked or not. A refusal leaks no descriptor.
	before := openFds(t)
	for _, cfg := range []poller.Config{
		{Backend: poller.BackendPoll, Park: true},
		{Backend: poller.BackendSelect, Park: true},
		{Backend: 99, Park: true},
		{Backend: 99},
	} {
		if p, err := cfg.Open(); !errors.Is(err, poller.ErrUnsupported) {
			t.Errorf("%+v.Open() = %v, %v; want ErrUnsupported", cfg, p, err)
		}
	}
	if after := openFds(t); after != before {
		t.Errorf("open fds: %d before the refused Opens, %d after", before, after)
	}
	if isLinux {
		// The best backend parks here: epoll, or the kqueue model a kqmodel_* tag puts first.
		p, err := poller.Config{Park: true}.Open()
		if err != nil {
			t.Fatalf("Config{Park: true}.Open() on Linux: %v", err)
		}
		if p.Backend() != bs[0] {
			t.Errorf("Config{Park: true}.Open() gave %v, want %v", p.Backend(), bs[0])
		}
		p.Close()
	}
}

// TestParkCloseOnExec: every descriptor a parked Poller opens (its duplicate for the
// runtime poller too) is close-on-exec, so a child process inherits none of them.
func TestParkCloseOnExec(t *testing.T) {
	for _, b := range parkedBackends(t) {
		t.Run(b.String(), func(t *testing.T) {
			before := fdSet(t)
			p := openPoller(t, b)
			p.Wait(make([]poller.Event, 1), time.Millisecond) // parks once
			opened := 0
			for fd := range fdSet(t) {
				if before[fd] {
					continue
				}
				flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
				if err != nil {
					continue // the directory listing's own fd, closed by now
				}
				opened++
				if flags&unix.FD_CLOEXEC == 0 {
					t.Errorf("fd %d, opened by a parked Poller, is not close-on-exec", fd)
				}
			}
			if opened < 2 {
				t.Errorf("a parked Poller opened %d descriptors; want its own and the duplicate at least", opened)
			}
		})
	}
}

// parkedBackends is the parked configurations among testBackends, or a skip saying why
// there is none.
func parkedBackends(t *testing.T) []testBackend {
	var bs []testBackend
	for _, b := range testBackends() {
		if strings.HasSuffix(b.name, "-park") {
			bs = append(bs, b)
		}
	}
	if len(bs) == 0 {
		if isLinux {
			t.Fatal("no parked configuration on Linux")
		}
		t.Skipf("no backend of %s parks yet", runtime.GOOS)
	}
	return bs
}

// fdSet returns this process's open descriptors.
func fdSet(t testing.TB) map[int]bool {
	t.Helper()
	dir := "/proc/self/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		dir = "/dev/fd"
		ents, err = os.ReadDir(dir)
	}
	if err != nil {
		t.Fatalf("listing open fds: %v", err)
	}
	fds := map[int]bool{}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil {
			fds[fd] = true
		}
	}
	return fds
}

// idleWaiters is how many idle Waits TestParkThreads holds at once.
const idleWaiters = 300

// idleEnv names what a child process started by idleThreads measures.
const idleEnv = "POLLER_TEST_IDLE_THREADS"

// TestParkThreads holds 300 idle Waits, parked and then blocking, and counts the OS
// threads the process has while they wait. Each mode runs in a fresh child process: Go
// keeps idle threads for reuse, so in this process threads left over by earlier tests
// would hide blocking Waits that took them. Parked, the count may grow by a few; the
// blocking count is printed for comparison.
func TestParkThreads(t *testing.T) {
	if spec := os.Getenv(idleEnv); spec != "" {
		idleChild(t, spec)
		return
	}
	kind := parkedBackends(t)[0].kind
	park := idleThreads(t, "park", kind, idleWaiters)
	block := idleThreads(t, "block", kind, idleWaiters)
	t.Logf("%d idle Waits on %v: parked %d -> %d OS threads (+%d); blocking %d -> %d (+%d)", idleWaiters, kind,
		park[0], park[1], park[1]-park[0], block[0], block[1], block[1]-block[0])
	if grew := park[1] - park[0]; grew > 8 {
		t.Errorf("%d parked idle Waits added %d OS threads; want a few at most", idleWaiters, grew)
	}
	if grew := block[1] - block[0]; grew < idleWaiters/2 {
		t.Errorf("%d blocking idle Waits added only %d OS threads: the count does not see held threads", idleWaiters, grew)
	}
}

// idleThreads starts this test binary again, as a child that holds n idle waiters of
// mode on backend kind ("park" and "block": Pollers with and without Config.Park; "raw"
// variants: their x/sys twins, where bench_test.go has them), and returns the child's
// thread count before the waiters and the highest count while they wait.
func idleThreads(tb testing.TB, mode string, kind poller.Backend, n int) [2]int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestParkThreads$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d:%d", idleEnv, mode, kind, n))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		// qemu-user without binfmt_misc cannot exec a binary of its guest architecture.
		tb.Skipf("cannot start the test binary as a child process, which this needs: %v", err)
	}
	if err != nil {
		tb.Fatalf("child (%s): %v\n%s", mode, err, out)
	}
	r, ok := parseThreads(out)
	if !ok {
		tb.Fatalf("child (%s) printed no result:\n%s", mode, out)
	}
	return r
}

// idleChild is the child process of idleThreads: it starts the waiters, and once all
// have entered their wait, samples the thread count for 100 ms, then ends the waits and
// prints the counts.
func idleChild(t *testing.T, spec string) {
	var mode string
	var kind, n int
	parts := strings.Split(spec, ":")
	if len(parts) == 3 {
		mode = parts[0]
		kind, _ = strconv.Atoi(parts[1])
		n, _ = strconv.Atoi(parts[2])
	}
	if n <= 0 {
		t.Fatalf("bad %s=%q", idleEnv, spec)
	}
	raiseNofile(t, uint64(4*n+256))
	before := osThreads(t)
	var waits []func()
	var wake, cleanup func()
	switch mode {
	case "park", "block":
		waits, wake = pollerIdleWaiters(t, poller.Config{Backend: poller.Backend(kind), Park: mode == "park"}, n)
	default:
		var err error
		if waits, wake, cleanup, err = rawIdleWaiters(mode, n); err != nil {
			t.Fatal(err)
		}
	}
	var entered atomic.Int32
	var wg sync.WaitGroup
	for _, w := range waits {
		wg.Add(1)
		go func(w func()) {
			defer wg.Done()
			entered.Add(1)
			w()
		}(w)
	}
	deadline := time.Now().Add(30 * time.Second)
	for int(entered.Load()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d idle waiters started within 30s", entered.Load(), n)
		}
		runtime.Gosched()
	}
	// A blocking wait takes its thread once it is in the kernel and the scheduler has
	// handed its P on; sample for a while and keep the highest count.
	during := 0
	for i := 0; i < 20; i++ {
		if k := osThreads(t); k > during {
			during = k
		}
		time.Sleep(5 * time.Millisecond) // pacing the samples, not synchronising
	}
	wake()
	wg.Wait()
	if cleanup != nil {
		cleanup()
	}
	fmt.Printf("idle-threads %d %d\n", before, during)
}

// pollerIdleWaiters opens n Pollers with cfg and returns a Wait(-1) on each, and the
// function that ends them all (Close).
func pollerIdleWaiters(t *testing.T, cfg poller.Config, n int) (waits []func(), wake func()) {
	ps := make([]*poller.Poller, n)
	for i := range ps {
		p, err := cfg.Open()
		if err != nil {
			t.Fatalf("%+v.Open(): %v", cfg, err)
		}
		ps[i] = p
		waits = append(waits, func() {
			if _, err := p.Wait(make([]poller.Event, 1), -1); !errors.Is(err, poller.ErrClosed) {
				t.Errorf("idle Wait: %v, want ErrClosed", err)
			}
		})
	}
	return waits, func() {
		for _, p := range ps {
			p.Close()
		}
	}
}

func parseThreads(out []byte) ([2]int, bool) {
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var r [2]int
		if n, _ := fmt.Sscanf(sc.Text(), "idle-threads %d %d", &r[0], &r[1]); n == 2 {
			return r, true
		}
	}
	return [2]int{}, false
}

// osThreads is the number of OS threads of this process: the kernel's count where /proc
// has it, else the threads the Go runtime created (it rarely ends one).
func osThreads(t testing.TB) int {
	t.Helper()
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "Threads:"); ok {
				if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
					return n
				}
			}
		}
	}
	return pprof.Lookup("threadcreate").Count()
}
