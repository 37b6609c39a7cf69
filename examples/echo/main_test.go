package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rawpoll/poller"
)

// startServer runs the echo loop on 127.0.0.1:0 with backend b until the test ends, and
// then checks that it stopped cleanly.
func startServer(t *testing.T, b poller.Backend) *server {
	t.Helper()
	s, err := newServer("127.0.0.1:0", b, log.New(testWriter{t}, "", 0))
	if err != nil {
		t.Fatalf("newServer(%v): %v", b, err)
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
	return s
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
		c := dial(t, addr)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				msg := []byte(fmt.Sprintf("client %d message %d %s|", i, j, bytes.Repeat([]byte("x"), (i*977+j*131)%4096)))
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("client %d message %d: echo differs", i, j)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// testBig sends 16 MiB and reads nothing until the server has had a write refused, so
// the echo must go through the pending buffer and Writable; then it reads it all back.
func testBig(t *testing.T, s *server) {
	c := dial(t, s.addr)
	// About 16 MiB; a pattern of odd length, so that a lost or repeated chunk shows.
	msg := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz!"), 16<<20/37)
	blockedBefore := s.blockedWrites.Load()
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		wrote <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for s.blockedWrites.Load() == blockedBefore {
		if time.Now().After(deadline) {
			t.Fatal("the server never had a write refused: the Writable path was not taken")
		}
		time.Sleep(time.Millisecond)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("the 16 MiB echo differs from the message")
	}
}

// testHalfClose shuts down the client's writing side after its message: the server must
// echo what came before the EOF, then close.
func testHalfClose(t *testing.T, addr string) {
	c := dial(t, addr)
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
			s, err := newServer("127.0.0.1:0", b, log.New(testWriter{t}, "", 0))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.serve() }()
			c := dial(t, s.addr)
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
				t.Fatal(err) // the connection is registered and served
			}
			s.Stop()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("serve: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("serve did not return within 5s of Stop")
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

// testWriter sends the server's log to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimSuffix(b, []byte("\n"))))
	return len(b), nil
}
