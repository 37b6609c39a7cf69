//go:build aix || darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd || solaris

package poller_test

import (
	"os"
	"testing"
	"time"

	"github.com/rawpoll/poller"
	"golang.org/x/sys/unix"
)

// slack bounds how late a timed return may be before a test calls it a failure. It is
// generous: CI runs under -race and qemu on a shared 2-core machine.
const slack = 2 * time.Second

// testBackend is one configuration the shared tests run against: a backend this OS has,
// or, on Linux, the kqueue backend's code over one flavour of the kernel model.
type testBackend struct {
	name string // the subtest name: "epoll", "kqueue-netbsd"
	kind poller.Backend
	open func() (*poller.Poller, error)
}

func (b testBackend) String() string { return b.name }

// backendOf is the test configuration of a backend this OS has.
func backendOf(kind poller.Backend) testBackend {
	return testBackend{
		name: kind.String(),
		kind: kind,
		open: func() (*poller.Poller, error) { return poller.OpenBackend(kind) },
	}
}

// parkedOf is the test configuration of a backend this OS has, opened with Park; ok is
// false where the backend cannot park (poll, select).
func parkedOf(kind poller.Backend) (b testBackend, ok bool) {
	cfg := poller.Config{Backend: kind, Park: true}
	p, err := cfg.Open()
	if err != nil {
		return testBackend{}, false
	}
	p.Close()
	return testBackend{name: kind.String() + "-park", kind: kind, open: cfg.Open}, true
}

// testBackends lists every configuration the shared tests run against: the backends
// this OS has, best first, each followed by its parked variant where it has one, then
// the kernel models that stand in for other kernels.
func testBackends() []testBackend {
	var bs []testBackend
	for _, kind := range poller.Backends() {
		bs = append(bs, backendOf(kind))
		if pb, ok := parkedOf(kind); ok {
			bs = append(bs, pb)
		}
	}
	return append(bs, modelBackends()...)
}

// canPriority reports whether b can wait for Priority, by asking it.
func canPriority(b testBackend) bool {
	p, err := b.open()
	if err != nil {
		return false
	}
	defer p.Close()
	var fds [2]int
	if err := unix.Pipe(fds[:]); err != nil {
		return false
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	return p.Add(fds[0], poller.Priority) != poller.ErrUnsupported
}

func openPoller(t testing.TB, b testBackend) *poller.Poller {
	t.Helper()
	p, err := b.open()
	if err != nil {
		t.Fatalf("open %v: %v", b, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// closeOnce closes fd at cleanup unless the test closed it already and said so by
// setting *fd to -1.
func closeOnce(t testing.TB, fd *int) {
	t.Cleanup(func() {
		if *fd >= 0 {
			unix.Close(*fd)
		}
	})
}

// dupFrom duplicates fd onto the lowest free number >= min. F_DUPFD and then close-on-exec,
// since AIX has no F_DUPFD_CLOEXEC; the tests start no child that could inherit it.
func dupFrom(fd, min int) (int, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD, min)
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	return nfd, err
}

// socketPair returns a connected, non-blocking AF_UNIX stream pair, closed at cleanup
// unless the test set an element to -1 after closing it.
func socketPair(t testing.TB) *[2]int {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	pair := &[2]int{fds[0], fds[1]}
	nonblock(t, pair[:]...)
	closeOnce(t, &pair[0])
	closeOnce(t, &pair[1])
	return pair
}

// pipePair returns a non-blocking pipe: [0] reads, [1] writes.
func pipePair(t testing.TB) *[2]int {
	t.Helper()
	var fds [2]int
	if err := unix.Pipe(fds[:]); err != nil {
		t.Fatalf("pipe: %v", err)
	}
	pair := &[2]int{fds[0], fds[1]}
	nonblock(t, pair[:]...)
	closeOnce(t, &pair[0])
	closeOnce(t, &pair[1])
	return pair
}

// tcpListener returns a non-blocking listening socket on 127.0.0.1 and its port.
func tcpListener(t testing.TB) (fd, port int) {
	t.Helper()
	fd = newSocket(t)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		t.Fatalf("listen: %v", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	return fd, sa.(*unix.SockaddrInet4).Port
}

// tcpConnect starts a non-blocking connect to 127.0.0.1:port and returns the socket.
func tcpConnect(t testing.TB, port int) int {
	t.Helper()
	fd := newSocket(t)
	err := unix.Connect(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port})
	if err != nil && err != unix.EINPROGRESS {
		t.Fatalf("connect: %v", err)
	}
	return fd
}

// tcpPair returns both ends of an established TCP connection on 127.0.0.1, non-blocking.
func tcpPair(t testing.TB) *[2]int {
	t.Helper()
	lfd, port := tcpListener(t)
	cfd := tcpConnect(t, port)
	deadline := time.Now().Add(slack)
	for {
		nfd, _, err := unix.Accept(lfd)
		if err == nil {
			pair := &[2]int{cfd, nfd}
			closeOnce(t, &pair[1])
			nonblock(t, nfd)
			// Wait for the connect to complete on the client side, too.
			pfd := []unix.PollFd{{Fd: int32(cfd), Events: unix.POLLOUT}}
			unix.Poll(pfd, int(slack/time.Millisecond))
			return pair
		}
		if err != unix.EAGAIN || time.Now().After(deadline) {
			t.Fatalf("accept: %v", err)
		}
		pfd := []unix.PollFd{{Fd: int32(lfd), Events: unix.POLLIN}}
		unix.Poll(pfd, 100)
	}
}

func write(t testing.TB, fd int, s string) {
	t.Helper()
	if n, err := unix.Write(fd, []byte(s)); err != nil || n != len(s) {
		t.Fatalf("write(%d): n=%d err=%v", fd, n, err)
	}
}

// drain reads fd until EAGAIN or EOF and returns what it read.
func drain(t testing.TB, fd int) string {
	t.Helper()
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if n > 0 {
			out = append(out, buf[:n]...)
			continue
		}
		if err != nil && err != unix.EAGAIN {
			t.Fatalf("read(%d): %v", fd, err)
		}
		return string(out)
	}
}

// waitMap makes one Wait and returns its events by fd, failing on a duplicate fd.
func waitMap(t testing.TB, p *poller.Poller, n int, timeout time.Duration) map[int]poller.Flags {
	t.Helper()
	events := make([]poller.Event, n)
	k, err := p.Wait(events, timeout)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	got := make(map[int]poller.Flags, k)
	for _, ev := range events[:k] {
		if _, dup := got[ev.Fd]; dup {
			t.Fatalf("Wait reported fd %d twice in one batch: %v", ev.Fd, events[:k])
		}
		got[ev.Fd] = ev.Flags
	}
	return got
}

// waitFd waits until fd is reported (or the slack runs out) and returns its flags.
func waitFd(t testing.TB, p *poller.Poller, fd int) poller.Flags {
	t.Helper()
	deadline := time.Now().Add(slack)
	for time.Now().Before(deadline) {
		if f, ok := waitMap(t, p, 16, 100*time.Millisecond)[fd]; ok {
			return f
		}
	}
	t.Fatalf("fd %d was not reported within %v", fd, slack)
	return 0
}

// expectSilent asserts that a Wait of d reports nothing for fd.
func expectSilent(t testing.TB, p *poller.Poller, fd int, d time.Duration) {
	t.Helper()
	if f, ok := waitMap(t, p, 16, d)[fd]; ok {
		t.Fatalf("fd %d reported %v, want nothing", fd, f)
	}
}

// hasHangup reports whether backend b can tell a hangup from plain readiness.
func hasHangup(b testBackend) bool { return b.kind != poller.BackendSelect }

// openFds counts this process's open descriptors.
func openFds(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		ents, err = os.ReadDir("/dev/fd") // the BSDs and macOS
	}
	if err != nil {
		t.Fatalf("listing open fds: %v", err)
	}
	return len(ents)
}

// nonblock makes fds non-blocking and close-on-exec.
func nonblock(t testing.TB, fds ...int) {
	t.Helper()
	for _, fd := range fds {
		if err := unix.SetNonblock(fd, true); err != nil {
			t.Fatalf("set non-blocking: %v", err)
		}
		unix.CloseOnExec(fd)
	}
}

// newSocket returns a non-blocking IPv4 TCP socket, closed at cleanup.
func newSocket(t testing.TB) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	fdp := new(int)
	*fdp = fd
	closeOnce(t, fdp)
	nonblock(t, fd)
	return fd
}

// raiseNofile lifts RLIMIT_NOFILE to at least n for the test, or skips with the reason.
func raiseNofile(t *testing.T, n uint64) {
	t.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if uint64(lim.Cur) >= n {
		return
	}
	raised := lim
	setRlim(&raised.Cur, n)
	if uint64(raised.Max) < n {
		setRlim(&raised.Max, n) // allowed as root
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &raised); err != nil {
		t.Skipf("cannot raise RLIMIT_NOFILE from %d/%d to %d: %v", lim.Cur, lim.Max, n, err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &lim) })
}

// setRlim stores v in an Rlimit field, which is uint64 on Linux and int64 on some BSDs.
func setRlim[T int64 | uint64](field *T, v uint64) { *field = T(v) }

// mustAdd registers fd or fails the test.
func mustAdd(t testing.TB, p *poller.Poller, fd int, flags poller.Flags) {
	t.Helper()
	if err := p.Add(fd, flags); err != nil {
		t.Fatalf("Add(%d, %v): %v", fd, flags, err)
	}
}
