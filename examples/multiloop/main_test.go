package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/rawpoll/poller"
	"github.com/rawpoll/poller/examples/internal/socktest"
)

func TestMultiloop(t *testing.T) {
	const loops, clients = 4, 64
	for _, b := range poller.Backends() {
		t.Run(b.String(), func(t *testing.T) {
			g, err := newGroup("127.0.0.1:0", loops, b, log.New(io.Discard, "", 0))
			if errors.Is(err, poller.ErrUnsupported) {
				if b != poller.BackendPoll && b != poller.BackendSelect && b != poller.BackendPort {
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
			srv := socktest.Start(g.serve, g.Stop)
			stopped := false
			stop := func() {
				if stopped {
					return
				}
				stopped = true
				if err := srv.Stop(); errors.Is(err, socktest.ErrNoReturn) {
					t.Fatal(err)
				} else if err != nil {
					t.Error(err)
				}
			}
			defer stop()

			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for i := 0; i < clients; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					c, err := socktest.DialConn(g.addr)
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					err = socktest.EchoAll(c, i, 20, func(j int) []byte {
						size := (i*977 + j*131) % 5000
						return []byte(fmt.Sprintf("client %d message %d %s|", i, j, strings.Repeat("z", size)))
					})
					if err != nil {
						errs <- err
					}
				}(i)
			}
			socktest.Report(t, &wg, errs)
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
	c := socktest.Dial(t, g.addr)
	socktest.EchoBlocked(t, c, func() bool { return blocked() != before },
		"no loop had a write refused: the pending path was not taken")
}
