package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rawpoll/poller"
	"github.com/rawpoll/poller/examples/internal/socktest"
)

// startServer runs a chat server on 127.0.0.1:0 until the test ends. Its log goes to the
// test log, and lines that contain "too slow" also to the returned channel.
func startServer(t *testing.T, b poller.Backend, limit int) (*server, <-chan string) {
	t.Helper()
	slow := make(chan string, 8)
	s, err := newServer("127.0.0.1:0", b, limit, socktest.Logger(t, slow, "too slow"))
	if err != nil {
		t.Fatalf("newServer(%v): %v", b, err)
	}
	socktest.Serve(t, s.serve, s.Stop)
	return s, slow
}

type chatClient struct {
	conn *net.TCPConn
	r    *bufio.Reader
	name string
}

// join connects to the room and reads the welcome line, which the server sends once the
// client is registered: from then on it receives every line.
func join(t *testing.T, addr string) *chatClient {
	t.Helper()
	conn := socktest.Dial(t, addr)
	c := &chatClient{conn: conn, r: bufio.NewReader(conn), name: conn.LocalAddr().String()}
	welcome, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the welcome: %v", err)
	}
	if want := "* welcome, you are " + c.name + ";"; !strings.HasPrefix(welcome, want) {
		t.Fatalf("welcome %q; want it to start with %q", welcome, want)
	}
	return c
}

func TestRoom(t *testing.T) {
	const lines = 100
	for _, b := range poller.Backends() {
		t.Run(b.String(), func(t *testing.T) {
			s, _ := startServer(t, b, 1<<20)
			clients := []*chatClient{join(t, s.addr), join(t, s.addr), join(t, s.addr)}
			var wg sync.WaitGroup
			errs := make(chan error, 2*len(clients))
			for _, c := range clients {
				wg.Add(2)
				go func(c *chatClient) {
					defer wg.Done()
					for j := 0; j < lines; j++ {
						if _, err := fmt.Fprintf(c.conn, "line %d\n", j); err != nil {
							errs <- err
							return
						}
					}
				}(c)
				// Each client must see the lines of the two others, each sender's in
				// order, and none of its own.
				go func(c *chatClient) {
					defer wg.Done()
					next := map[string]int{}
					for k := 0; k < 2*lines; k++ {
						msg, err := c.r.ReadString('\n')
						if err != nil {
							errs <- fmt.Errorf("%s after %d lines: %v", c.name, k, err)
							return
						}
						from, text, _ := strings.Cut(strings.TrimSuffix(msg, "\n"), ": ")
						if from == c.name {
							errs <- fmt.Errorf("%s received its own line %q", c.name, msg)
							return
						}
						if want := fmt.Sprintf("line %d", next[from]); text != want {
							errs <- fmt.Errorf("%s received %q from %s; want %q", c.name, text, from, want)
							return
						}
						next[from]++
					}
					if len(next) != 2 {
						errs <- fmt.Errorf("%s heard from %d senders, want 2", c.name, len(next))
					}
				}(c)
			}
			socktest.Report(t, &wg, errs)
		})
	}
}

// TestSlowClient floods the room while one client reads nothing: once its backlog passes
// the limit the server must say so and disconnect it, and go on serving the others.
func TestSlowClient(t *testing.T) {
	const limit = 64 << 10
	for _, b := range poller.Backends() {
		t.Run(b.String(), func(t *testing.T) {
			s, dropped := startServer(t, b, limit)
			flooder := join(t, s.addr)
			slow := join(t, s.addr)

			stop := make(chan struct{})
			flooded := make(chan error, 1)
			go func() {
				line := []byte(strings.Repeat("x", 999) + "\n")
				for sent := 0; sent < 256<<20; sent += len(line) {
					select {
					case <-stop:
						flooded <- nil
						return
					default:
					}
					if _, err := flooder.conn.Write(line); err != nil {
						flooded <- err
						return
					}
				}
				flooded <- fmt.Errorf("256 MiB sent and the slow client is still connected")
			}()
			select {
			case msg := <-dropped:
				t.Logf("the server said: %s", msg)
			case err := <-flooded:
				t.Fatalf("flooding: %v", err)
			case <-time.After(20 * time.Second):
				t.Fatal("the slow client was not disconnected within 20s")
			}
			close(stop)
			if err := <-flooded; err != nil {
				t.Fatalf("flooding: %v", err)
			}
			// The slow client reads what it was sent, then finds the connection closed.
			if _, err := io.Copy(io.Discard, slow.r); err != nil {
				t.Fatalf("slow client: %v; want the server's close", err)
			}
			// The room still works: a newcomer hears the flooder. Flood lines still in
			// flight (megabytes may sit in the flooder's socket buffers) reach a newcomer
			// first and can make it too slow in turn, which is the server doing its job:
			// then the next newcomer, after that backlog is gone, must hear it.
			for attempt := 1; ; attempt++ {
				newcomer := join(t, s.addr)
				if _, err := flooder.conn.Write([]byte("still here\n")); err != nil {
					t.Fatal(err)
				}
				heard := false
				for !heard {
					msg, err := newcomer.r.ReadString('\n')
					if err != nil {
						if attempt == 5 {
							t.Fatalf("newcomer %d: %v", attempt, err)
						}
						t.Logf("newcomer %d dropped by the flood still in flight: %v", attempt, err)
						break
					}
					heard = msg == flooder.name+": still here\n"
				}
				if heard {
					break
				}
			}
		})
	}
}
