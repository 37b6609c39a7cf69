package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rawpoll/poller"
)

// startServer runs the select loop on 127.0.0.1:0 until the test ends. Its log goes to
// the test log and to the returned channel.
func startServer(t *testing.T) (*server, <-chan string) {
	t.Helper()
	lines := make(chan string, 64)
	s, err := newServer("127.0.0.1:0", log.New(logWriter{t, lines}, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.serve() }()
	t.Cleanup(func() {
		s.Stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("serve did not return within 5s of Stop")
		}
	})
	return s, lines
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c.(*net.TCPConn)
}

// echoed sends msg on c, reading concurrently (a message larger than the socket buffers
// would otherwise deadlock), and checks that the same bytes come back.
func echoed(c net.Conn, msg []byte) error {
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		wrote <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if err := <-wrote; err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return errors.New("the echo differs from the message")
	}
	return nil
}

func TestEcho(t *testing.T) {
	s, _ := startServer(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		c := dial(t, s.addr)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 30; j++ {
				msg := []byte(fmt.Sprintf("client %d message %d %s|", i, j, strings.Repeat("y", (i*131+j*977)%3000)))
				if err := echoed(c, msg); err != nil {
					errs <- fmt.Errorf("client %d message %d: %v", i, j, err)
					return
				}
			}
		}(i)
	}
	// One message larger than the socket buffers, so that the write set is used.
	c := dial(t, s.addr)
	big := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz!"), 16<<20/37) // odd length: a lost chunk shows
	if err := echoed(c, big); err != nil {
		t.Errorf("16 MiB message: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestFdTooLarge fills every fd number below FdSetSize, so that the next connection the
// server accepts gets an fd select(2) cannot watch. It needs RLIMIT_NOFILE above
// FdSetSize.
func TestFdTooLarge(t *testing.T) {
	s, logLines := startServer(t) // its own fds are below FdSetSize

	// open returns the lowest free number: once it returns FdSetSize-1 or more, every
	// number below FdSetSize is taken.
	var filler []int
	defer func() {
		for _, fd := range filler {
			syscall.Close(fd)
		}
	}()
	for len(filler) == 0 || filler[len(filler)-1] < poller.FdSetSize-1 {
		fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == syscall.EMFILE {
			// Go raises the soft RLIMIT_NOFILE to the hard one at startup: this is all.
			t.Skipf("RLIMIT_NOFILE leaves no room for fds above FdSetSize (%d)", poller.FdSetSize)
		}
		if err != nil {
			t.Fatalf("filling the fd table: %v", err)
		}
		filler = append(filler, fd)
	}

	t.Run("admit", func(t *testing.T) {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fd)
		if fd < poller.FdSetSize {
			t.Fatalf("got fd %d; want one >= %d", fd, poller.FdSetSize)
		}
		spare := &server{conns: make(map[int][]byte)} // not the one serving: no data race
		err = spare.admit(fd, "192.0.2.1:4242")
		if !errors.Is(err, poller.ErrFdTooLarge) {
			t.Fatalf("admit(%d): %v; want ErrFdTooLarge", fd, err)
		}
		want := fmt.Sprintf("refusing 192.0.2.1:4242: its fd %d does not fit in select's fd_set, which holds fds below FdSetSize (%d)", fd, poller.FdSetSize)
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("admit error:\n%s\nwant it to start with:\n%s", err, want)
		}
		if len(spare.conns) != 0 || spare.readSet.Count() != 0 {
			t.Errorf("a refused fd was recorded")
		}
	})

	t.Run("server", func(t *testing.T) {
		c := dial(t, s.addr)
		got, err := io.ReadAll(c) // the server explains, then closes
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "server: too many connections for select(2), sorry\n" {
			t.Errorf("the client read %q", got)
		}
		timeout := time.After(10 * time.Second)
		for {
			select {
			case line := <-logLines:
				if strings.Contains(line, "does not fit in select's fd_set") {
					return
				}
			case <-timeout:
				t.Fatal("the server did not log why it refused the connection")
			}
		}
	})

	// With numbers free again, connections are served as before.
	for _, fd := range filler {
		syscall.Close(fd)
	}
	filler = nil
	if err := echoed(dial(t, s.addr), []byte("back to normal")); err != nil {
		t.Fatal(err)
	}
}

// logWriter sends the server's log to the test log and to lines.
type logWriter struct {
	t     *testing.T
	lines chan string
}

func (w logWriter) Write(b []byte) (int, error) {
	line := string(bytes.TrimSuffix(b, []byte("\n")))
	w.t.Log(line)
	select {
	case w.lines <- line:
	default:
	}
	return len(b), nil
}
