package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rawpoll/poller"
	"github.com/rawpoll/poller/examples/internal/socktest"
)

// slowServer is the server of the source text: it reads the request and answers 300 ms
// later (with a timer, not a sleep in the client), then closes. It returns its address
// and a channel with the request it read.
func slowServer(t *testing.T, reply string) (string, <-chan string) {
	t.Helper()
	ln := socktest.Listen(t)
	requests := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		req, _ := io.ReadAll(c) // the client shuts down its side after the request
		requests <- string(req)
		time.AfterFunc(300*time.Millisecond, func() {
			c.Write([]byte(reply))
			c.Close()
		})
	}()
	return ln.Addr().String(), requests
}

func TestSlowServer(t *testing.T) {
	for _, b := range poller.Backends() {
		t.Run(b.String(), func(t *testing.T) {
			addr, requests := slowServer(t, "Response from server")
			c, err := newClient(b)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := c.run(addr, []byte("Request from client"), 20*time.Millisecond, 10*time.Second, &out); err != nil {
				t.Fatalf("run: %v\noutput:\n%s", err, out.String())
			}
			t.Logf("output:\n%s", out.String())
			if got := <-requests; got != "Request from client" {
				t.Errorf("the server read %q", got)
			}
			text := out.String()
			meanwhile := strings.Index(text, "meanwhile doing other work until the reply comes")
			reply := strings.Index(text, `reply: "Response from server"`)
			if meanwhile < 0 || reply < 0 || meanwhile > reply {
				t.Errorf("want the meanwhile line, then the reply")
			}
			// 300 ms of waiting at 20 ms a turn: some turns of other work were done.
			if strings.Contains(text, "did 0 turns") {
				t.Errorf("no other work was done while the server took its time")
			}
		})
	}
}

func TestRefused(t *testing.T) {
	// A port that nobody listens on: listen, note the port, close.
	ln := socktest.Listen(t)
	addr := ln.Addr().String()
	ln.Close()
	for _, b := range poller.Backends() {
		t.Run(b.String(), func(t *testing.T) {
			c, err := newClient(b)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = c.run(addr, []byte("hello?"), 20*time.Millisecond, 10*time.Second, &out)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("run: %v; want connection refused", err)
			}
			if want := "connect to " + addr + ": SO_ERROR: connection refused"; err.Error() != want {
				t.Errorf("error %q; want %q", err, want)
			}
		})
	}
}

func TestStop(t *testing.T) {
	// A server that accepts and never answers: only Stop ends the client.
	ln := socktest.Listen(t)
	for _, b := range poller.Backends() {
		t.Run(b.String(), func(t *testing.T) {
			c, err := newClient(b)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- c.run(ln.Addr().String(), []byte("x"), time.Hour, time.Hour, io.Discard) }()
			conn, err := ln.Accept() // connected; the client now waits for a reply
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			c.Stop()
			switch err := socktest.Await(done); {
			case err == socktest.ErrNoReturn:
				t.Fatal("run did not return within 5s of Stop")
			case err != errInterrupted:
				t.Fatalf("run: %v; want errInterrupted", err)
			}
		})
	}
}
