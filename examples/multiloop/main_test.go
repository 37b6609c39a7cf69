package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rawpoll/poller"
)

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

func TestMultiloop(t *testing.T) {
	const loops, clients = 4, 64
	for _, b := range poller.Backends() {
		t.Run(b.String(), func(t *testing.T) {
			g, err := newGroup("127.0.0.1:0", loops, b, log.New(io.Discard, "", 0))
			if errors.Is(err, poller.ErrUnsupported) {
				if b != poller.BackendPoll && b != poller.BackendSelect {
					t.Fatalf("%v: %v", b, err)
				}
				if !strings.Contains(err.Error(), "edge-triggered") {
					t.Errorf("the error does not say what is missing: %v", err)
				}
				t.Logf("as expected: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- g.serve() }()
			stopped := false
			stop := func() {
				if stopped {
					return
				}
				stopped = true
				g.Stop()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("serve: %v", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("serve did not return within 5s of Stop")
				}
			}
			defer stop()

			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for i := 0; i < clients; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					c, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(20 * time.Second))
					for j := 0; j < 20; j++ {
						size := (i*977 + j*131) % 5000
						msg := []byte(fmt.Sprintf("client %d message %d %s|", i, j, strings.Repeat("z", size)))
						if err := echoed(c, msg); err != nil {
							errs <- fmt.Errorf("client %d message %d: %v", i, j, err)
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
			t.Run("pending", func(t *testing.T) { testPending(t, g) })

			stop() // the counts are read once the loops have returned
			total, busy := 0, 0
			for _, l := range g.loops {
				accepted := int(l.accepted.Load())
				t.Logf("loop %d accepted %d connections", l.id, accepted)
				total += accepted
				if accepted > 0 {
					busy++
				}
			}
			if total != clients+1 { // and the one of "pending"
				t.Errorf("the loops accepted %d connections; want %d", total, clients)
			}
			// Linux hashes each connection to one of the 4 listeners: all 64 on one
			// has a probability of 4^-63. Other systems may not spread at all.
			if runtime.GOOS == "linux" && busy < 2 {
				t.Errorf("only %d loop accepted connections; want SO_REUSEPORT to spread them", busy)
			}
		})
	}
}

// testPending sends 16 MiB and reads nothing until a loop had a write refused, so the
// echo must go through the pending buffer, the Writable edge and the resumed reading.
func testPending(t *testing.T, g *group) {
	blocked := func() (n int64) {
		for _, l := range g.loops {
			n += l.blocked.Load()
		}
		return n
	}
	before := blocked()
	c, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	// About 16 MiB; a pattern of odd length, so that a lost or repeated chunk shows.
	msg := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz!"), 16<<20/37)
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		wrote <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for blocked() == before {
		if time.Now().After(deadline) {
			t.Fatal("no loop had a write refused: the pending path was not taken")
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
