//go:build linux

package kqmodel

import (
	"net"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// forEach runs f as a subtest for every flavour that passes keep (nil: all).
func forEach(t *testing.T, keep func(Flavour) bool, f func(t *testing.T, k *Kernel, kq int)) {
	t.Helper()
	for _, fl := range Flavours() {
		fl := fl
		if keep != nil && !keep(fl) {
			continue
		}
		t.Run(fl.String(), func(t *testing.T) {
			k := New(fl)
			kq, err := k.Kqueue()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { k.Close(kq) })
			f(t, k, kq)
		})
	}
}

var zero = &unix.Timespec{}

func rd(k *Kernel) int32 { return k.sys.FiltRead }
func wr(k *Kernel) int32 { return k.sys.FiltWrite }

func change(ident int, filter int32, flags uint32) Kevent {
	return Kevent{Ident: uint64(ident), Filter: filter, Flags: flags}
}

// apply applies changes with no event list and fails the test on error.
func apply(t *testing.T, k *Kernel, kq int, changes ...Kevent) {
	t.Helper()
	if n, err := k.Kevent(kq, changes, nil, nil); n != 0 || err != nil {
		t.Fatalf("kevent(changes %+v) = %d, %v", changes, n, err)
	}
}

// poll collects events without waiting.
func poll(t *testing.T, k *Kernel, kq int, size int) []Kevent {
	t.Helper()
	evs := make([]Kevent, size)
	n, err := k.Kevent(kq, nil, evs, zero)
	if err != nil {
		t.Fatalf("kevent poll: %v", err)
	}
	return evs[:n]
}

// waitEvents waits up to 5 s (retrying EINTR) for at least one event.
func waitEvents(t *testing.T, k *Kernel, kq int, size int) []Kevent {
	t.Helper()
	evs := make([]Kevent, size)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		ts := unix.NsecToTimespec(int64(100 * time.Millisecond))
		n, err := k.Kevent(kq, nil, evs, &ts)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("kevent: %v", err)
		}
		if n > 0 {
			return evs[:n]
		}
	}
	t.Fatal("no event within 5s")
	return nil
}

// find returns the event for (ident, filter), if any.
func find(evs []Kevent, ident int, filter int32) (Kevent, bool) {
	for _, e := range evs {
		if e.Ident == uint64(ident) && e.Filter == filter {
			return e, true
		}
	}
	return Kevent{}, false
}

func mustFind(t *testing.T, evs []Kevent, ident int, filter int32) Kevent {
	t.Helper()
	e, ok := find(evs, ident, filter)
	if !ok {
		t.Fatalf("no event for ident %d filter %d in %+v", ident, filter, evs)
	}
	return e
}

func mustNotFind(t *testing.T, evs []Kevent, ident int, filter int32) {
	t.Helper()
	if e, ok := find(evs, ident, filter); ok {
		t.Fatalf("unexpected event %+v", e)
	}
}

func closeLater(t *testing.T, fds ...int) {
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
}

func pipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	closeLater(t, p[0], p[1])
	return p[0], p[1]
}

func socketpair(t *testing.T, typ int) (a, b int) {
	t.Helper()
	p, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, p[0], p[1])
	return p[0], p[1]
}

// tcpPair returns a connected TCP pair over 127.0.0.1: the client end and the accepted end.
func tcpPair(t *testing.T) (c, s int) {
	t.Helper()
	ln := tcpListen(t)
	sa, _ := unix.Getsockname(ln)
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, c)
	if err := unix.Connect(c, sa); err != nil {
		t.Fatal(err)
	}
	s, _, err = unix.Accept4(ln, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, s)
	if err := unix.SetNonblock(c, true); err != nil {
		t.Fatal(err)
	}
	return c, s
}

func tcpListen(t *testing.T) int {
	t.Helper()
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(ln, 8); err != nil {
		t.Fatal(err)
	}
	return ln
}

func write(t *testing.T, fd int, s string) {
	t.Helper()
	if _, err := unix.Write(fd, []byte(s)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func drain(fd int) {
	var buf [4096]byte
	for {
		if n, err := unix.Read(fd, buf[:]); n <= 0 || err != nil {
			return
		}
	}
}

// freePort returns a UDP port on 127.0.0.1 nothing listens on (bound, then closed).
func freeUDPAddr(t *testing.T) *net.UDPAddr {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	a := c.LocalAddr().(*net.UDPAddr)
	c.Close()
	return a
}

// readable reports whether fd polls readable now.
func readable(fd int) bool {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, _ := unix.Poll(p, 0)
	return n == 1 && p[0].Revents&unix.POLLIN != 0
}

// waitBlocked waits (bounded) until a Kevent call is asleep on kq, so that what the test does
// next happens while it sleeps.
func waitBlocked(t *testing.T, k *Kernel, kq int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		k.mu.Lock()
		q := k.queues[kq]
		blocked := q != nil && q.waiters > 0
		k.mu.Unlock()
		if blocked {
			return
		}
		runtime.Gosched()
	}
	t.Fatal("no Kevent call went to sleep within 5s")
}
