//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package sock_test

import (
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/rawpoll/poller"
	"golang.org/x/sys/unix"
)

// waitFor waits up to 10 s for p to report fd with one of the flags in want, and
// returns what it reported. Other fds' events are ignored.
func waitFor(t testing.TB, p *poller.Poller, fd int, want poller.Flags) poller.Flags {
	t.Helper()
	events := make([]poller.Event, 8)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, err := p.Wait(events, time.Until(deadline))
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		for _, ev := range events[:n] {
			if ev.Fd == fd && ev.Flags&want != 0 {
				return ev.Flags
			}
		}
	}
	t.Fatalf("fd %d: no %v within 10s", fd, want)
	return 0
}

// openPoller opens backend b until the test ends.
func openPoller(t testing.TB, b poller.Backend) *poller.Poller {
	t.Helper()
	p, err := poller.OpenBackend(b)
	if err != nil {
		t.Fatalf("OpenBackend(%v): %v", b, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// closeAtEnd closes fd when the test ends.
func closeAtEnd(t testing.TB, fd int) {
	t.Cleanup(func() { unix.Close(fd) })
}

// checkFlags fails the test unless fd is non-blocking and close-on-exec.
func checkFlags(t testing.TB, what string, fd int) {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatalf("%s: F_GETFL: %v", what, err)
	}
	if fl&unix.O_NONBLOCK == 0 {
		t.Errorf("%s (fd %d) is blocking", what, fd)
	}
	fdfl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatalf("%s: F_GETFD: %v", what, err)
	}
	if fdfl&unix.FD_CLOEXEC == 0 {
		t.Errorf("%s (fd %d) is not close-on-exec", what, fd)
	}
}

// openFds lists the open fd numbers below 4096 (fcntl F_GETFD succeeds on them): the
// same probe on every OS, where /proc/self/fd is Linux's alone.
func openFds() []int {
	var fds []int
	for fd := 0; fd < 4096; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			fds = append(fds, fd)
		}
	}
	return fds
}

// noLeak runs f twice (the first run lets package net and the runtime open what they
// keep, such as the netpoller's epoll fd) and fails the test if the second run left
// any fd open.
func noLeak(t *testing.T, f func()) {
	t.Helper()
	f()
	before := openFds()
	f()
	after := openFds()
	if len(after) != len(before) {
		was := make(map[int]bool)
		for _, fd := range before {
			was[fd] = true
		}
		var leaked []int
		for _, fd := range after {
			if !was[fd] {
				leaked = append(leaked, fd)
			}
		}
		sort.Ints(leaked)
		t.Errorf("fds left open: %v (before %d open, after %d)", leaked, len(before), len(after))
	}
}

// isAgain reports whether err is the EAGAIN of this package: an *os.SyscallError
// that errors.Is unix.EAGAIN.
func isAgain(err error) bool { return errors.Is(err, unix.EAGAIN) }

// needIPv6 skips the test, saying why, where ::1 cannot be bound (a kernel or
// container without IPv6).
func needIPv6(t *testing.T) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM, 0)
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrInet6{Addr: [16]byte{15: 1}})
		unix.Close(fd)
	}
	if err != nil {
		t.Skipf("no IPv6 loopback here (%v): the IPv6 cases cannot run", err)
	}
}
