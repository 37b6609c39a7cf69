package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rawpoll/poller"
	"github.com/rawpoll/poller/examples/internal/socktest"
)

// startServer runs the echo loop on 127.0.0.1:0 with backend b until the test ends, and
// then checks that it stopped cleanly.
func startServer(t *testing.T, b poller.Backend) *server {
	t.Helper()
	s, err := newServer("127.0.0.1:0", b, socktest.Logger(t, nil, ""))
	if err != nil {
		t.Fatalf("newServer(%v): %v", b, err)
	}
	socktest.Serve(t, s.serve, s.Stop)
	return s
}

func TestEcho(t *testing.T) {
	for _, b := range poller.Backends() {
		t.Run(b.String(), func(t *testing.T) {
			s := startServer(t, b)
			t.Run("clients", func(t *testing.T) { testClients(t, s.addr) })
			t.Run("larger than the socket buffers", func(t *testing.T) { testBig(t, s) })
			t.Run("half close", func(t *testing.T) { testHalfClose(t, s.addr) })
			t.Run("client mode", func(t *testing.T) {
				r := runClients(s.addr, 4, 200*time.Millisecond)
				if r.err != nil || r.messages == 0 {
					t.Fatalf("runClients: %d messages, error %v", r.messages, r.err)
				}
			})
		})
	}
}

// testClients runs 8 clients at once, each sending messages of many sizes and checking
// that every echo comes back byte for byte.
func testClients(t *testing.T, addr string) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		c := socktest.Dial(t, addr)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := socktest.EchoAll(c, i, 50, func(j int) []byte {
				return []byte(fmt.Sprintf("client %d message %d %s|", i, j, bytes.Repeat([]byte("x"), (i*977+j*131)%4096)))
			})
			if err != nil {
				errs <- err
			}
		}(i)
	}
	socktest.Report(t, &wg, errs)
}

// testBig sends 16 MiB and reads nothing until the server has had a write refused, so
// the echo must go through the pending buffer and Writable; then it reads it all back.
func testBig(t *testing.T, s *server) {
	c := socktest.Dial(t, s.addr)
	blockedBefore := s.blockedWrites.Load()
	socktest.EchoBlocked(t, c, func() bool { return s.blockedWrites.Load() != blockedBefore },
		"the server never had a write refused: the Writable path was not taken")
}

// testHalfClose shuts down the client's writing side after its message: the server must
// echo what came before the EOF, then close.
func testHalfClose(t *testing.T, addr string) {
	c := socktest.Dial(t, addr)
	if _, err := c.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	got, err := io.ReadAll(c) // ends at the server's close
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "last words" {
		t.Fatalf("got %q, want %q", got, "last words")
	}
}

// TestStop checks that Stop ends serve while clients are connected, and that they see
// their connection closed.
func TestStop(t *testing.T) {
	for _, b := range poller.Backends() {
		t.Run(b.String(), func(t *testing.T) {
			s, err := newServer("127.0.0.1:0", b, socktest.Logger(t, nil, ""))
			if err != nil {
				t.Fatal(err)
			}
			srv := socktest.Start(s.serve, s.Stop)
			c := socktest.Dial(t, s.addr)
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
				t.Fatal(err) // the connection is registered and served
			}
			if err := srv.Stop(); err != nil {
				t.Fatal(err)
			}
			if n, err := c.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("after Stop, client read: %d, %v; want EOF", n, err)
			}
			if _, err := s.p.Wait(make([]poller.Event, 1), 0); err != poller.ErrClosed {
				t.Fatalf("after serve, Wait: %v; want the poller closed", err)
			}
			if c, err := net.DialTimeout("tcp", s.addr, 5*time.Second); err == nil {
				c.Close()
				t.Fatal("after serve, the listener still accepts connections")
			}
		})
	}
}
