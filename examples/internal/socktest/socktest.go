// Package socktest holds the test plumbing shared by the examples' tests: running a
// server until the test ends, dialing with deadlines, the echo round trip, the 16 MiB
// message, and a logger that writes to the test log. It is not part of the poller API.
package socktest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// StopTimeout is how long a loop has to return once it has been told to stop.
const StopTimeout = 5 * time.Second

// ErrNoReturn is what Await gives when nothing came within StopTimeout.
var ErrNoReturn = errors.New("did not return within 5s of Stop")

// Await waits up to StopTimeout for the result on done and returns it, or ErrNoReturn
// if none came.
func Await(done <-chan error) error {
	select {
	case err := <-done:
		return err
	case <-time.After(StopTimeout):
		return ErrNoReturn
	}
}

// A Server is a serve loop running in its own goroutine.
type Server struct {
	done chan error
	stop func()
}

// Start runs serve in a new goroutine; stop is what makes it return.
func Start(serve func() error, stop func()) *Server {
	s := &Server{done: make(chan error, 1), stop: stop}
	go func() { s.done <- serve() }()
	return s
}

// Stop calls the stop function and waits for serve to return. It gives nil if serve
// returned nil, "serve: " and the error if serve failed, and an error wrapping
// ErrNoReturn ("serve did not return within 5s of Stop") if serve did not return. Call
// it once.
func (s *Server) Stop() error {
	s.stop()
	err := Await(s.done)
	switch {
	case err == ErrNoReturn:
		return fmt.Errorf("serve %w", err)
	case err != nil:
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Serve runs serve like Start until the test ends, and then stops it and reports with
// t.Error if it failed or did not return.
func Serve(t testing.TB, serve func() error, stop func()) {
	t.Helper()
	s := Start(serve, stop)
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
}

// Listen listens on a free port of 127.0.0.1 until the test ends; it ends the test if
// that fails.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// DialConn connects to addr within 5s and gives the connection a deadline 20s away. The
// caller closes it.
func DialConn(addr string) (*net.TCPConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c.(*net.TCPConn), nil
}

// Dial is DialConn for the test's goroutine: it ends the test if the connection fails,
// and closes the connection when the test ends.
func Dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := DialConn(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Echoed sends msg on c, reading concurrently (a message larger than the socket buffers
// would otherwise deadlock), and checks that the same bytes come back.
func Echoed(c net.Conn, msg []byte) error {
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

// EchoAll is the work of client number client: it sends msg(j) on c for j from 0 to
// count-1, each checked with Echoed, and stops at the first failure, which it returns
// as "client <client> message <j>: " and the error.
func EchoAll(c net.Conn, client, count int, msg func(j int) []byte) error {
	for j := 0; j < count; j++ {
		if err := Echoed(c, msg(j)); err != nil {
			return fmt.Errorf("client %d message %d: %v", client, j, err)
		}
	}
	return nil
}

// Report waits for wg, then reports with t.Error every error sent on errs, which it
// closes: the end of a test whose clients run in goroutines.
func Report(t testing.TB, wg *sync.WaitGroup, errs chan error) {
	t.Helper()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BigMessage returns about 16 MiB, more than the socket buffers hold: a pattern of odd
// length, so that a lost or repeated chunk shows.
func BigMessage() []byte {
	return bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz!"), 16<<20/37)
}

// EchoBlocked sends BigMessage on c and reads nothing until refused reports that the
// server had a write refused, so that the echo must go through the server's pending
// path; then it reads the echo back and checks it. If refused stays false for 10s, it
// ends the test with notRefused.
func EchoBlocked(t testing.TB, c net.Conn, refused func() bool, notRefused string) {
	t.Helper()
	msg := BigMessage()
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		wrote <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !refused() {
		if time.Now().After(deadline) {
			t.Fatal(notRefused)
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

// Logger returns a logger whose lines go to the test log. If lines is not nil, the
// lines that contain substr (all of them if it is "") also go to lines, when it has
// room.
func Logger(t testing.TB, lines chan<- string, substr string) *log.Logger {
	return log.New(logWriter{t, lines, substr}, "", 0)
}

type logWriter struct {
	t      testing.TB
	lines  chan<- string
	substr string
}

func (w logWriter) Write(b []byte) (int, error) {
	line := string(bytes.TrimSuffix(b, []byte("\n")))
	w.t.Log(line)
	if w.lines != nil && strings.Contains(line, w.substr) {
		select {
		case w.lines <- line:
		default:
		}
	}
	return len(b), nil
}
