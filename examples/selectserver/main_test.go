package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rawpoll/poller"
	"github.com/rawpoll/poller/examples/internal/socktest"
)

// startServer runs the select loop on 127.0.0.1:0 until the test ends. Its log goes to
// the test log and to the returned channel.
func startServer(t *testing.T) (*server, <-chan string) {
	t.Helper()
	lines := make(chan string, 64)
	s, err := newServer("127.0.0.1:0", socktest.Logger(t, lines, ""))
	if err != nil {
		t.Fatal(err)
	}
	socktest.Serve(t, s.serve, s.Stop)
	return s, lines
}

func TestEcho(t *testing.T) {
	s, _ := startServer(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		c := socktest.Dial(t, s.addr)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := socktest.EchoAll(c, i, 30, func(j int) []byte {
				return []byte(fmt.Sprintf("client %d message %d %s|", i, j, strings.Repeat("y", (i*131+j*977)%3000)))
			})
			if err != nil {
				errs <- err
			}
		}(i)
	}
	// One message larger than the socket buffers, so that the write set is used.
	c := socktest.Dial(t, s.addr)
	if err := socktest.Echoed(c, socktest.BigMessage()); err != nil {
		t.Errorf("16 MiB message: %v", err)
	}
	socktest.Report(t, &wg, errs)
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
		want := fmt.Sprintf("refusing 192.0.2.1:4242, fd %d (select takes fds below FdSetSize, %d): %v", fd, poller.FdSetSize, poller.ErrFdTooLarge)
		if err.Error() != want {
			t.Errorf("admit error:\n%s\nwant:\n%s", err, want)
		}
		if len(spare.conns) != 0 || spare.readSet.Count() != 0 {
			t.Errorf("a refused fd was recorded")
		}
	})

	t.Run("server", func(t *testing.T) {
		c := socktest.Dial(t, s.addr)
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
				if strings.Contains(line, "refusing") {
					// Said once: the reason is not repeated in other words.
					if n := strings.Count(line, "fit"); n != 1 {
						t.Errorf("the refusal says \"fit\" %d times: %s", n, line)
					}
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
	if err := socktest.Echoed(socktest.Dial(t, s.addr), []byte("back to normal")); err != nil {
		t.Fatal(err)
	}
}
