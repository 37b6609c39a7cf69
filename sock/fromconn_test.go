//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package sock_test

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rawpoll/poller"
	"github.com/rawpoll/poller/sock"
	"golang.org/x/sys/unix"
)

// fdOf returns the fd inside c (c's own, not a duplicate).
func fdOf(t *testing.T, c syscall.Conn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

// TestFromConnListener takes a net.Listener's fd, closes the listener, and serves a
// connection on the duplicate, on every backend.
func TestFromConnListener(t *testing.T) {
	for _, b := range poller.Backends() {
		b := b
		t.Run(b.String(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			lfd, err := sock.FromConn(ln.(*net.TCPListener))
			if err != nil {
				ln.Close()
				t.Fatal(err)
			}
			closeAtEnd(t, lfd)
			checkFlags(t, "FromConn's fd", lfd)
			if orig := fdOf(t, ln.(*net.TCPListener)); orig == lfd {
				t.Fatalf("FromConn returned the listener's own fd %d", orig)
			}
			addr := ln.Addr().String()
			ln.Close() // the duplicate keeps listening

			p := openPoller(t, b)
			if err := p.Add(lfd, poller.Readable); err != nil {
				t.Fatal(err)
			}
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatalf("dial the duplicate after the listener closed: %v", err)
			}
			defer c.Close()
			waitFor(t, p, lfd, poller.Readable)
			nfd, _, err := sock.Accept(lfd)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(nfd)
			if _, err := c.Write([]byte("hi")); err != nil {
				t.Fatal(err)
			}
			if err := p.Add(nfd, poller.Readable); err != nil {
				t.Fatal(err)
			}
			waitFor(t, p, nfd, poller.Readable)
			buf := make([]byte, 8)
			if n, err := sock.Read(nfd, buf); string(buf[:n]) != "hi" || err != nil {
				t.Fatalf("Read: %q, %v", buf[:n], err)
			}
			p.Delete(nfd)
			p.Delete(lfd)
		})
	}
}

// TestFromConnConn: the duplicate of a net.Conn outlives the Conn's Close, and the
// Conn's own fd stays non-blocking (the runtime poller needs it so).
func TestFromConnConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ln.Accept()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	defer srv.Close()
	srv.SetDeadline(time.Now().Add(10 * time.Second))

	fd, err := sock.FromConn(c.(*net.TCPConn))
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	defer unix.Close(fd)
	checkFlags(t, "FromConn's fd", fd)
	checkFlags(t, "the net.Conn's own fd", fdOf(t, c.(*net.TCPConn)))
	// The Conn still works beside the fd ...
	if _, err := c.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	c.Close() // ... and closing it leaves the connection open through the fd.
	if n, err := sock.Write(fd, []byte("b")); n != 1 || err != nil {
		t.Fatalf("Write on the duplicate after Close: %d, %v", n, err)
	}
	unix.Shutdown(fd, unix.SHUT_WR)
	got, err := io.ReadAll(srv)
	if string(got) != "ab" || err != nil {
		t.Fatalf("the peer read %q, %v; want ab", got, err)
	}
}

// TestFromConnFile: a blocking *os.File's description becomes non-blocking too (the
// documented cost of sharing it), and a unix listener keeps its name when told to.
func TestFromConnFile(t *testing.T) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil { // blocking, unlike os.Pipe's
		t.Fatal(err)
	}
	r := os.NewFile(uintptr(p[0]), "r")
	defer r.Close()
	defer unix.Close(p[1])
	fd, err := sock.FromConn(r)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	checkFlags(t, "FromConn's fd", fd)
	fl, err := unix.FcntlInt(uintptr(p[0]), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fl&unix.O_NONBLOCK == 0 {
		t.Errorf("the file's own fd is still blocking: the flags are shared, it should not be")
	}

	path := filepath.Join(t.TempDir(), "s")
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ufd, err := sock.FromConn(ul)
	ul.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ufd)
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		t.Fatalf("dial the duplicated unix listener: %v", err)
	}
	c.Close()
}

// TestFromConnBad: nil, typed nil and closed values give errors, no panic, no fd.
func TestFromConnBad(t *testing.T) {
	noLeak(t, func() {
		if _, err := sock.FromConn(nil); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("FromConn(nil): %v; want os.ErrInvalid", err)
		}
		if _, err := sock.FromConn((*net.TCPConn)(nil)); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("FromConn of a nil *net.TCPConn: %v; want os.ErrInvalid", err)
		}
		if _, err := sock.FromConn((*os.File)(nil)); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("FromConn of a nil *os.File: %v; want os.ErrInvalid", err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		if fd, err := sock.FromConn(ln.(*net.TCPListener)); err == nil {
			unix.Close(fd)
			t.Errorf("FromConn of a closed listener: fd %d, no error", fd)
		}
	})
}
