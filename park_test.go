//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

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
		p, err := poller.Config{Park: true}.Open()
		if err != nil {
			t.Fatalf("Config{Park: true}.Open() on Linux: %v", err)
		}
		if p.Backend() != poller.BackendEpoll {
			t.Errorf("Config{Park: true}.Open() gave %v", p.Backend())
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

// threadsEnv names the mode a child process of TestParkThreads measures.
const threadsEnv = "POLLER_TEST_IDLE_THREADS"

// TestParkThreads holds 300 idle Waits, parked and then blocking, and counts the OS
// threads the process has while they wait. Each mode runs in a fresh child process: Go
// keeps idle threads for reuse, so in this process threads left over by earlier tests
// would hide blocking Waits that took them. Parked, the count may grow by a few; the
// blocking count is printed for comparison.
func TestParkThreads(t *testing.T) {
	if mode := os.Getenv(threadsEnv); mode != "" {
		threadsChild(t, mode)
		return
	}
	parked := parkedBackends(t)[0]
	results := map[string][2]int{}
	for _, mode := range []string{"park", "block"} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestParkThreads$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), threadsEnv+"="+mode+":"+strconv.Itoa(int(parked.kind)))
		out, err := cmd.CombinedOutput()
		cancel()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			// qemu-user without binfmt_misc cannot exec a binary of its guest architecture.
			t.Skipf("cannot start the test binary as a child process, which this test needs: %v", err)
		}
		if err != nil {
			t.Fatalf("child (%s): %v\n%s", mode, err, out)
		}
		r, ok := parseThreads(out)
		if !ok {
			t.Fatalf("child (%s) printed no result:\n%s", mode, out)
		}
		results[mode] = r
	}
	park, block := results["park"], results["block"]
	t.Logf("%d idle Waits: parked %d -> %d OS threads (+%d); blocking %d -> %d (+%d)",
		idleWaiters, park[0], park[1], park[1]-park[0], block[0], block[1], block[1]-block[0])
	if grew := park[1] - park[0]; grew > 8 {
		t.Errorf("%d parked idle Waits added %d OS threads; want a few at most", idleWaiters, grew)
	}
	if grew := block[1] - block[0]; grew < idleWaiters/2 {
		t.Errorf("%d blocking idle Waits added only %d OS threads: the count does not see held threads", idleWaiters, grew)
	}
}

// threadsChild is TestParkThreads in the child process: it opens the pollers, starts one
// Wait(-1) on each, and prints the thread count before and the highest count while they
// wait.
func threadsChild(t *testing.T, mode string) {
	name, kindStr, _ := strings.Cut(mode, ":")
	kind, err := strconv.Atoi(kindStr)
	if err != nil {
		t.Fatalf("bad %s=%q", threadsEnv, mode)
	}
	cfg := poller.Config{Backend: poller.Backend(kind), Park: name == "park"}
	raiseNofile(t, 4*idleWaiters+256)
	before := osThreads(t)
	ps := make([]*poller.Poller, idleWaiters)
	for i := range ps {
		p, err := cfg.Open()
		if err != nil {
			t.Fatalf("%+v.Open(): %v", cfg, err)
		}
		ps[i] = p
	}
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func(p *poller.Poller) {
			defer wg.Done()
			for {
				// This Wait may lose the poller to a probe below, and then tries again.
				_, err := p.Wait(make([]poller.Event, 1), -1)
				if errors.Is(err, poller.ErrBusy) {
					continue
				}
				if !errors.Is(err, poller.ErrClosed) {
					t.Errorf("idle Wait: %v, want ErrClosed", err)
				}
				return
			}
		}(p)
	}
	// Every Wait holds its poller (a second Wait says ErrBusy) before the count.
	deadline := time.Now().Add(30 * time.Second)
	probe := make([]poller.Event, 1)
	for _, p := range ps {
		for {
			if _, err := p.Wait(probe, 0); errors.Is(err, poller.ErrBusy) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the idle Waits did not all start within 30s")
			}
			runtime.Gosched()
		}
	}
	// A blocking Wait takes its thread once it is in the kernel and the scheduler has
	// handed its P on; sample for a while and keep the highest count.
	during := 0
	for i := 0; i < 20; i++ {
		if n := osThreads(t); n > during {
			during = n
		}
		time.Sleep(5 * time.Millisecond) // pacing the samples, not synchronising
	}
	for _, p := range ps {
		p.Close()
	}
	wg.Wait()
	fmt.Printf("idle-threads %d %d\n", before, during)
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
