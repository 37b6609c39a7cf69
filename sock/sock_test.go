//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package sock_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/rawpoll/poller"
	"github.com/rawpoll/poller/sock"
	"golang.org/x/sys/unix"
)

// place is one kind of listener and the addresses its clients dial.
type place struct {
	name    string
	network string
	address func(t *testing.T) string
	// dial returns the network and address a client uses, given the listener's.
	dial []func(bound net.Addr) (string, string)
	// family is the socket address family Accept reports.
	family int
}

func tcpPort(a net.Addr) string { return strconv.Itoa(a.(*net.TCPAddr).Port) }

func places() []place {
	fixed := func(s string) func(*testing.T) string { return func(*testing.T) string { return s } }
	return []place{
		{"tcp4", "tcp4", fixed("127.0.0.1:0"), []func(net.Addr) (string, string){
			func(a net.Addr) (string, string) { return "tcp4", a.String() },
			func(a net.Addr) (string, string) { return "tcp", "localhost:" + tcpPort(a) },
		}, unix.AF_INET},
		{"tcp6", "tcp6", fixed("[::1]:0"), []func(net.Addr) (string, string){
			func(a net.Addr) (string, string) { return "tcp6", a.String() },
		}, unix.AF_INET6},
		{"tcp-any", "tcp", fixed(":0"), []func(net.Addr) (string, string){ // dual stack
			func(a net.Addr) (string, string) { return "tcp", "127.0.0.1:" + tcpPort(a) },
			func(a net.Addr) (string, string) { return "tcp", "[::1]:" + tcpPort(a) },
			func(a net.Addr) (string, string) { return "tcp", ":" + tcpPort(a) },
		}, unix.AF_INET6},
		{"unix", "unix", func(t *testing.T) string { return filepath.Join(t.TempDir(), "s") }, []func(net.Addr) (string, string){
			func(a net.Addr) (string, string) { return "unix", a.String() },
		}, unix.AF_UNIX},
	}
}

// TestRoundTrip listens, dials, accepts and exchanges bytes on every network, every
// backend, every address form, waiting for each step with the poller as a user would.
func TestRoundTrip(t *testing.T) {
	for _, b := range poller.Backends() {
		for _, pl := range places() {
			b, pl := b, pl
			t.Run(b.String()+"/"+pl.name, func(t *testing.T) {
				if pl.family == unix.AF_INET6 {
					needIPv6(t)
				}
				p := openPoller(t, b)
				lfd, err := sock.Listen(pl.network, pl.address(t))
				if err != nil {
					t.Fatal(err)
				}
				closeAtEnd(t, lfd)
				checkFlags(t, "listener", lfd)
				bound, err := sock.LocalAddr(lfd)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := sock.Accept(lfd); !isAgain(err) {
					t.Fatalf("Accept with nothing queued: %v; want EAGAIN", err)
				}
				if err := p.Add(lfd, poller.Readable); err != nil {
					t.Fatal(err)
				}
				for _, dial := range pl.dial {
					network, address := dial(bound)
					t.Logf("%s listening on %s; dial %s %s", pl.network, bound, network, address)
					roundTrip(t, p, lfd, network, address, pl.family)
				}
			})
		}
	}
}

func roundTrip(t *testing.T, p *poller.Poller, lfd int, network, address string, family int) {
	t.Helper()
	cfd, err := sock.Dial(network, address)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(cfd)
	checkFlags(t, "dialed socket", cfd)
	if err := p.Add(cfd, poller.Writable); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, cfd, poller.Writable)
	if err := sock.Error(cfd); err != nil {
		t.Fatalf("Error after Writable: %v; want nil (connected)", err)
	}

	waitFor(t, p, lfd, poller.Readable)
	nfd, sa, err := sock.Accept(lfd)
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	defer unix.Close(nfd)
	checkFlags(t, "accepted socket", nfd)
	got := map[int]string{unix.AF_INET: "*unix.SockaddrInet4", unix.AF_INET6: "*unix.SockaddrInet6", unix.AF_UNIX: "*unix.SockaddrUnix"}[family]
	if typ := typeName(sa); typ != got {
		t.Errorf("Accept's address is a %s; want %s", typ, got)
	}
	if family != unix.AF_UNIX && sock.Addr(sa) == nil {
		t.Errorf("Addr(%#v) = nil", sa)
	}
	if _, _, err := sock.Accept(lfd); !isAgain(err) {
		t.Errorf("second Accept: %v; want EAGAIN", err)
	}

	if n, err := sock.Write(cfd, []byte("ping")); n != 4 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if err := p.Modify(cfd, poller.Readable); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(nfd, poller.Readable); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, nfd, poller.Readable)
	buf := make([]byte, 16)
	if n, err := sock.Read(nfd, buf); string(buf[:n]) != "ping" || err != nil {
		t.Fatalf("Read: %q, %v; want ping", buf[:n], err)
	}
	if n, err := sock.Read(nfd, buf); n != 0 || !isAgain(err) {
		t.Fatalf("Read of an empty socket: %d, %v; want 0, EAGAIN", n, err)
	}
	// The client hangs up: the server reads 0, nil.
	if err := p.Delete(cfd); err != nil {
		t.Fatal(err)
	}
	unix.Close(cfd)
	cfd = -1
	waitFor(t, p, nfd, poller.Readable)
	if n, err := sock.Read(nfd, buf); n != 0 || err != nil {
		t.Fatalf("Read after the peer closed: %d, %v; want 0, nil", n, err)
	}
	if err := p.Delete(nfd); err != nil {
		t.Fatal(err)
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *unix.SockaddrInet4:
		return "*unix.SockaddrInet4"
	case *unix.SockaddrInet6:
		return "*unix.SockaddrInet6"
	case *unix.SockaddrUnix:
		return "*unix.SockaddrUnix"
	case nil:
		return "nil"
	}
	return "another type"
}

// TestDualStack: a "tcp" listener on the wildcard address takes IPv4 and IPv6, as
// net.Listen's does, and "tcp6" takes IPv6 only.
func TestDualStack(t *testing.T) {
	needIPv6(t)
	lfd, err := sock.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	a, err := sock.LocalAddr(lfd)
	if err != nil {
		t.Fatal(err)
	}
	if ip := a.(*net.TCPAddr).IP; !ip.Equal(net.IPv6unspecified) {
		t.Errorf("tcp :0 listens on %s; want [::] (this machine has IPv6)", a)
	}
	// The dual-stack listener holds the IPv4 port too.
	if fd, err := sock.Listen("tcp4", "127.0.0.1:"+tcpPort(a)); !errors.Is(err, unix.EADDRINUSE) {
		if err == nil {
			unix.Close(fd)
		}
		t.Errorf("tcp4 on the port of a dual-stack listener: %v; want EADDRINUSE", err)
	}

	v6, err := sock.Listen("tcp6", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(v6)
	a, err = sock.LocalAddr(v6)
	if err != nil {
		t.Fatal(err)
	}
	port := tcpPort(a)
	// An IPv4 connection to a v6-only listener is refused; to be sure, bind the port
	// on 127.0.0.1 too, which a dual-stack listener would have prevented.
	v4, err := sock.Listen("tcp4", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("tcp4 on the port of a tcp6 listener: %v; want it free (IPV6_V6ONLY)", err)
	}
	unix.Close(v4)
}

// TestDialRefused: a refused TCP connection is reported through Error after
// Writable; a unix socket with no listener is refused by Dial itself.
func TestDialRefused(t *testing.T) {
	for _, b := range poller.Backends() {
		b := b
		t.Run(b.String(), func(t *testing.T) {
			p := openPoller(t, b)
			port := freePort(t)
			fd, err := sock.Dial("tcp4", "127.0.0.1:"+port)
			if err != nil {
				if runtime.GOOS == "linux" {
					t.Fatalf("Dial: %v; want the refusal through Error (Linux connects loopback asynchronously)", err)
				}
				if !errors.Is(err, unix.ECONNREFUSED) {
					t.Fatalf("Dial: %v; want ECONNREFUSED", err)
				}
				return
			}
			defer unix.Close(fd)
			if err := p.Add(fd, poller.Writable); err != nil {
				t.Fatal(err)
			}
			waitFor(t, p, fd, poller.Writable|poller.Errored)
			err = sock.Error(fd)
			var se *os.SyscallError
			if !errors.Is(err, unix.ECONNREFUSED) || !errors.As(err, &se) {
				t.Fatalf("Error: %v; want an *os.SyscallError wrapping ECONNREFUSED", err)
			}
			if err := sock.Error(fd); err != nil {
				t.Errorf("second Error: %v; want nil (reading SO_ERROR clears it)", err)
			}
			p.Delete(fd)
		})
	}
	t.Run("unix", func(t *testing.T) {
		dir := t.TempDir()
		noLeak(t, func() {
			if _, err := sock.Dial("unix", filepath.Join(dir, "none")); !errors.Is(err, unix.ENOENT) {
				t.Errorf("Dial to a missing path: %v; want ENOENT", err)
			}
		})
		// A socket file whose listener is gone.
		path := filepath.Join(dir, "stale")
		lfd, err := sock.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(lfd)
		noLeak(t, func() {
			if _, err := sock.Dial("unix", path); !errors.Is(err, unix.ECONNREFUSED) {
				t.Errorf("Dial to a stale socket file: %v; want ECONNREFUSED", err)
			}
		})
	})
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	fd, err := sock.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	a, err := sock.LocalAddr(fd)
	if err != nil {
		t.Fatal(err)
	}
	return tcpPort(a)
}

// TestBadInput: every bad network, address and option gives its sentinel inside a
// *net.OpError, and leaves no fd open.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		network, address string
		want             error
	}{
		{"udp", "127.0.0.1:0", sock.ErrUnknownNetwork},
		{"", "127.0.0.1:0", sock.ErrUnknownNetwork},
		{"TCP", "127.0.0.1:0", sock.ErrUnknownNetwork},
		{"unixgram", filepath.Join(dir, "g"), sock.ErrUnknownNetwork},
		{"tcp", "127.0.0.1", sock.ErrAddress},
		{"tcp", "127.0.0.1:99999", sock.ErrAddress},
		{"tcp", "127.0.0.1:-1", sock.ErrAddress},
		{"tcp4", "[::1]:0", sock.ErrAddress},
		{"tcp6", "127.0.0.1:0", sock.ErrAddress},
		{"tcp6", "[::1%no-such-interface]:0", sock.ErrAddress},
		{"unix", "", sock.ErrAddress},
		{"unix", filepath.Join(dir, strings.Repeat("x", 200)), unix.EINVAL}, // longer than sun_path
	}
	for _, c := range cases {
		c := c
		for _, op := range []string{"listen", "dial"} {
			f := sock.Listen
			if op == "dial" {
				f = sock.Dial
			}
			noLeak(t, func() {
				fd, err := f(c.network, c.address)
				if err == nil {
					unix.Close(fd)
				}
				checkOpError(t, op, c.network, c.address, err, c.want)
			})
		}
	}
	noLeak(t, func() {
		_, err := sock.ListenConfig{ReusePort: true}.Listen("unix", filepath.Join(dir, "r"))
		checkOpError(t, "listen", "unix", "ReusePort", err, sock.ErrUnsupported)
	})
}

func checkOpError(t *testing.T, op, network, address string, err, want error) {
	t.Helper()
	var oe *net.OpError
	switch {
	case !errors.Is(err, want):
		t.Errorf("%s %q %q: %v; want %v", op, network, address, err, want)
	case !errors.As(err, &oe) || oe.Op != op || oe.Net != network:
		t.Errorf("%s %q %q: %#v; want a *net.OpError with Op %q, Net %q", op, network, address, err, op, network)
	}
	if want == sock.ErrAddress && strings.Contains(address, ":") && !strings.Contains(address, "%") {
		var ae *net.AddrError
		if !errors.As(err, &ae) {
			t.Errorf("%s %q %q: %v; want package net's *net.AddrError inside", op, network, address, err)
		}
	}
}

// TestAddrInUse: a second listener on a bound address fails with EADDRINUSE and
// leaves nothing open; with ReusePort on both, both listen and share the connections.
func TestAddrInUse(t *testing.T) {
	lfd, err := sock.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	a, err := sock.LocalAddr(lfd)
	if err != nil {
		t.Fatal(err)
	}
	noLeak(t, func() {
		_, err := sock.Listen("tcp4", a.String())
		if !errors.Is(err, unix.EADDRINUSE) {
			t.Errorf("Listen on a bound address: %v; want EADDRINUSE", err)
		}
		var se *os.SyscallError
		if !errors.As(err, &se) || se.Syscall != "bind" {
			t.Errorf("Listen on a bound address: %#v; want an *os.SyscallError from bind", err)
		}
	})
	path := filepath.Join(t.TempDir(), "s")
	ufd, err := sock.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ufd)
	noLeak(t, func() {
		if _, err := sock.Listen("unix", path); !errors.Is(err, unix.EADDRINUSE) {
			t.Errorf("Listen on an existing socket file: %v; want EADDRINUSE", err)
		}
	})
}

func TestReusePort(t *testing.T) {
	if runtime.GOOS == "solaris" || runtime.GOOS == "illumos" {
		t.Skip("no SO_REUSEPORT in x/sys for " + runtime.GOOS)
	}
	lc := sock.ListenConfig{ReusePort: true, Backlog: 64}
	first, err := lc.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(first)
	a, err := sock.LocalAddr(first)
	if err != nil {
		t.Fatal(err)
	}
	second, err := lc.Listen("tcp4", a.String())
	if err != nil {
		t.Fatalf("a second ReusePort listener on %s: %v", a, err)
	}
	defer unix.Close(second)
	checkFlags(t, "ReusePort listener", second)

	p := openPoller(t, poller.Backends()[0])
	for _, fd := range []int{first, second} {
		if err := p.Add(fd, poller.Readable); err != nil {
			t.Fatal(err)
		}
	}
	const clients = 32
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < clients; i++ {
		c, err := net.Dial("tcp4", a.String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	accepted := map[int]int{}
	events := make([]poller.Event, 4)
	for total := 0; total < clients; {
		n, err := p.Wait(events, 10e9)
		if err != nil || n == 0 {
			t.Fatalf("Wait: %d, %v after %d of %d connections", n, err, total, clients)
		}
		for _, ev := range events[:n] {
			for {
				fd, _, err := sock.Accept(ev.Fd)
				if isAgain(err) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				unix.Close(fd)
				accepted[ev.Fd]++
				total++
			}
		}
	}
	t.Logf("connections per listener: %d and %d", accepted[first], accepted[second])
	// Linux hashes each connection to one of the listeners: with 32 connections, the
	// chance that one listener gets none is 2^-31.
	if runtime.GOOS == "linux" && (accepted[first] == 0 || accepted[second] == 0) {
		t.Errorf("connections per listener: %d and %d; want both used (Linux spreads them)", accepted[first], accepted[second])
	}
}

func TestAbstractUnix(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the abstract namespace is Linux's")
	}
	name := "@poller-sock-test-" + strconv.Itoa(os.Getpid())
	lfd, err := sock.Listen("unix", name)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	a, err := sock.LocalAddr(lfd)
	if err != nil || a.String() != name {
		t.Fatalf("LocalAddr: %v, %v; want %s", a, err, name)
	}
	p := openPoller(t, poller.Backends()[0])
	if err := p.Add(lfd, poller.Readable); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, p, lfd, "unix", name, unix.AF_UNIX)
}

// TestBadFd: every function given a closed or negative fd returns an
// *os.SyscallError wrapping EBADF, a count of 0 and no fd.
func TestBadFd(t *testing.T) {
	var se *os.SyscallError
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, unix.EBADF) || !errors.As(err, &se) {
			t.Errorf("%s: %#v; want an *os.SyscallError wrapping EBADF", what, err)
		}
	}
	for _, fd := range []int{-1, 1 << 20} {
		nfd, sa, err := sock.Accept(fd)
		check("Accept", err)
		if nfd != -1 || sa != nil {
			t.Errorf("Accept(%d) = %d, %v; want -1, nil", fd, nfd, sa)
		}
		n, err := sock.Read(fd, make([]byte, 8))
		check("Read", err)
		if n != 0 {
			t.Errorf("Read(%d) = %d; want 0", fd, n)
		}
		n, err = sock.Write(fd, []byte("x"))
		check("Write", err)
		if n != 0 {
			t.Errorf("Write(%d) = %d; want 0", fd, n)
		}
		check("Error", sock.Error(fd))
		_, err = sock.LocalAddr(fd)
		check("LocalAddr", err)
	}
	// Accept on a socket that does not listen.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if _, _, err := sock.Accept(fds[0]); err == nil || isAgain(err) {
		t.Errorf("Accept on a connected socket: %v; want an error (EINVAL, EOPNOTSUPP)", err)
	}
}

// TestNoAllocs: the EAGAIN that ends a read or write loop costs no allocation, and
// the one that ends an accept loop none beyond x/sys's own.
func TestNoAllocs(t *testing.T) {
	lfd, err := sock.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	for _, fd := range fds {
		if err := unix.SetNonblock(fd, true); err != nil {
			t.Fatal(err)
		}
	}
	chunk := make([]byte, 64<<10)
	for { // fill fds[0]'s send buffer and fds[1]'s receive buffer
		if _, err := sock.Write(fds[0], chunk); err != nil {
			if !isAgain(err) {
				t.Fatal(err)
			}
			break
		}
	}
	buf := make([]byte, 16)
	for name, f := range map[string]func() error{
		"Accept": func() error { _, _, err := sock.Accept(lfd); return err },
		"Read":   func() error { _, err := sock.Read(fds[0], buf); return err },
		"Write":  func() error { _, err := sock.Write(fds[0], buf); return err },
	} {
		if err := f(); !isAgain(err) {
			t.Fatalf("%s: %v; want EAGAIN", name, err)
		}
		if allocs := testing.AllocsPerRun(100, func() { f() }); allocs != 0 && name != "Accept" {
			t.Errorf("%s ending in EAGAIN: %v allocations; want 0", name, allocs)
		}
	}
	// x/sys's accept allocates its address buffer (it escapes into anyToSockaddr):
	// Accept adds nothing to that.
	raw := testing.AllocsPerRun(100, func() { unix.Accept(lfd) })
	if allocs := testing.AllocsPerRun(100, func() { sock.Accept(lfd) }); allocs > raw {
		t.Errorf("Accept ending in EAGAIN: %v allocations; unix.Accept makes %v", allocs, raw)
	}
}

func TestAddr(t *testing.T) {
	sa4 := &unix.SockaddrInet4{Port: 80, Addr: [4]byte{192, 0, 2, 1}}
	a := sock.Addr(sa4)
	sa4.Addr[0] = 10 // Addr copied it
	if a.String() != "192.0.2.1:80" || a.Network() != "tcp" {
		t.Errorf("Addr(inet4) = %s %s", a.Network(), a)
	}
	sa6 := &unix.SockaddrInet6{Port: 443, ZoneId: 3, Addr: [16]byte{0: 0xfe, 1: 0x80, 15: 1}}
	if a := sock.Addr(sa6); a.String() != "[fe80::1%3]:443" {
		t.Errorf("Addr(inet6) = %s", a)
	}
	if a := sock.Addr(&unix.SockaddrUnix{Name: "/tmp/s"}); a.String() != "/tmp/s" || a.Network() != "unix" {
		t.Errorf("Addr(unix) = %s %s", a.Network(), a)
	}
	if a := sock.Addr(nil); a != nil {
		t.Errorf("Addr(nil) = %v; want nil", a)
	}
}

// TestAcceptBlockingListener: a listener that is not non-blocking (one made without
// this package) still gives non-blocking, close-on-exec connections. A connection is
// queued first, so the accept does not wait.
func TestAcceptBlockingListener(t *testing.T) {
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 8); err != nil {
		t.Fatal(err)
	}
	a, err := sock.LocalAddr(lfd)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp4", a.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nfd, sa, err := sock.Accept(lfd)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(nfd)
	checkFlags(t, "connection accepted on a blocking listener", nfd)
	if got, want := sock.Addr(sa).String(), c.LocalAddr().String(); got != want {
		t.Errorf("Accept's peer address %s; want %s", got, want)
	}
}
