// Echo is a TCP echo server on one poller: the selectors echo server of the source
// texts, written on github.com/rawpoll/poller with raw, non-blocking sockets.
//
// It shows the whole level-triggered cycle:
//
//  1. The listening socket is non-blocking and registered Readable: it is readable
//     when a connection waits, so accept does not block; accept until EAGAIN.
//  2. Each connection is registered Readable. Read, and write the bytes straight back.
//  3. A write can fail with EAGAIN too. Keep what the kernel did not take, switch the
//     connection to Writable (Modify); once it is drained, switch back to Readable.
//     While a connection has unsent bytes it is not read: a client that does not read
//     its echoes stops being served, instead of growing the server's memory.
//  4. A read of 0 bytes means the client closed; an error or Errored means it is gone.
//     Either way: Delete, then close.
//
// Run it and talk to it (nc, telnet, or the connect example):
//
//	go run ./examples/echo                 # listens on 127.0.0.1:7007
//	nc 127.0.0.1 7007                      # in another terminal: type lines
//	go run ./examples/connect              # sends one request to 127.0.0.1:7007
//
// Or let it load itself, with no second terminal:
//
//	go run ./examples/echo -clients 8 -duration 2s
//
// -backend epoll|kqueue|poll|select chooses the mechanism (default: the best this OS
// has). Ctrl-C stops the server cleanly.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"sync/atomic"
	"time"

	"github.com/rawpoll/poller"
	"github.com/rawpoll/poller/sock"
	"golang.org/x/sys/unix"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7007", "address to listen on")
	backendName := flag.String("backend", "", "epoll, kqueue, poll or select (default: the best this OS has)")
	clients := flag.Int("clients", 0, "also run this many clients in this process, print the rate and exit")
	duration := flag.Duration("duration", 3*time.Second, "how long the -clients run lasts")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("echo: ")
	interrupt := make(chan os.Signal, 1) // from the start: a Ctrl-C during setup is kept
	signal.Notify(interrupt, os.Interrupt)

	backend, err := parseBackend(*backendName)
	if err != nil {
		log.Fatal(err)
	}
	logger := log.Default()
	if *clients > 0 {
		logger = log.New(io.Discard, "", 0) // 2 lines per connection would drown the result
	}
	s, err := newServer(*addr, backend, logger)
	if err != nil {
		log.Fatal(err)
	}
	if *clients > 0 {
		log.Printf("listening on %s with %s; %d clients for %v", s.addr, s.p.Backend(), *clients, *duration)
	} else {
		log.Printf("listening on %s with %s (Ctrl-C stops)", s.addr, s.p.Backend())
	}

	// Ctrl-C: set the stop flag and Wake the poller, so that the loop returns from Wait,
	// sees the flag and closes everything. A second Ctrl-C kills the program as usual.
	var interrupted atomic.Bool
	go func() {
		<-interrupt
		signal.Stop(interrupt)
		interrupted.Store(true)
		s.Stop()
	}()

	var result chan clientResult
	if *clients > 0 {
		result = make(chan clientResult, 1)
		go func() {
			result <- runClients(s.addr, *clients, *duration)
			s.Stop()
		}()
	}
	if err := s.serve(); err != nil {
		log.Fatal(err)
	}
	if result != nil {
		r := <-result // the clients end at once if the server was interrupted
		if interrupted.Load() {
			return // the clients saw their connections closed: no result
		}
		if r.err != nil {
			log.Fatalf("clients: %v", r.err)
		}
		fmt.Printf("echo: %d clients, %d messages of %d bytes in %v: %.0f messages/s with %s\n",
			*clients, r.messages, messageSize, r.elapsed.Round(time.Millisecond),
			float64(r.messages)/r.elapsed.Seconds(), s.p.Backend())
	}
}

// server is the event loop and what it owns. Only the goroutine in serve touches its
// fields, except stop (and blockedWrites, which a test reads).
type server struct {
	p     *poller.Poller
	lfd   int           // the listening socket
	addr  string        // its address, with the port the kernel chose for ":0"
	conns map[int]*conn // the accepted connections, by fd
	buf   []byte        // the read buffer: one is enough, the loop is one goroutine
	log   *log.Logger   // accepted and closed connections, errors
	stop  atomic.Bool   // set by Stop, checked by the loop after each Wait
	// blockedWrites counts writes that would have blocked, each a trip to Writable.
	blockedWrites atomic.Int64
}

// conn is one client. Its interest is Readable while out is empty and Writable while
// it is not.
type conn struct {
	fd  int
	out []byte // echo bytes the kernel has not taken yet
}

// parseBackend turns the -backend flag into a poller.Backend; "" gives 0, which
// poller.Config takes as the best backend this OS has.
func parseBackend(name string) (poller.Backend, error) {
	if name == "" {
		return 0, nil
	}
	for _, b := range poller.Backends() {
		if b.String() == name {
			return b, nil
		}
	}
	return 0, fmt.Errorf("backend %q is not available here; this OS has %v", name, poller.Backends())
}

func newServer(addr string, backend poller.Backend, logger *log.Logger) (*server, error) {
	p, err := poller.Config{Backend: backend}.Open()
	if err != nil {
		return nil, err
	}
	// A non-blocking, close-on-exec listening socket, and the address it is bound to
	// (with the port the kernel chose for ":0").
	lfd, err := sock.Listen("tcp", addr)
	if err != nil {
		p.Close()
		return nil, err
	}
	bound, err := sock.LocalAddr(lfd)
	if err == nil {
		err = p.Add(lfd, poller.Readable)
	}
	if err != nil {
		unix.Close(lfd)
		p.Close()
		return nil, err
	}
	return &server{p: p, lfd: lfd, addr: bound.String(), conns: make(map[int]*conn),
		buf: make([]byte, 64<<10), log: logger}, nil
}

// Stop makes serve return soon; it is safe from any goroutine, before or during serve.
func (s *server) Stop() {
	s.stop.Store(true)
	s.p.Wake() // ErrClosed if serve has already returned: nothing left to wake
}

// serve runs the event loop until Stop, then closes every connection, the listener and
// the poller.
func (s *server) serve() error {
	defer s.shutdown()
	events := make([]poller.Event, 128)
	for !s.stop.Load() {
		n, err := s.p.Wait(events, -1) // n == 0 after a Wake
		if err != nil {
			return err
		}
		for _, ev := range events[:n] {
			if ev.Fd == s.lfd {
				s.accept()
			} else if c := s.conns[ev.Fd]; c != nil {
				s.handle(c, ev.Flags)
			}
		}
	}
	return nil
}

func (s *server) accept() {
	for {
		fd, peer, err := sock.Accept(s.lfd) // non-blocking and close-on-exec, like lfd
		switch {
		case errors.Is(err, unix.EAGAIN):
			return // no connection waits any more: back to Wait
		case err != nil:
			// EMFILE and the like: the connection stays queued, and level-triggered
			// Wait reports the listener again.
			s.log.Printf("accept: %v", err)
			return
		}
		if err := s.p.Add(fd, poller.Readable); err != nil {
			s.log.Printf("fd %d: %v", fd, err)
			unix.Close(fd)
			continue
		}
		s.conns[fd] = &conn{fd: fd}
		s.log.Printf("fd %d: accepted %s", fd, sock.Addr(peer))
	}
}

// handle serves one event of connection c. It closes no fd but c's own, so a later event
// of the same batch cannot name a number that a close here freed and an accept reused
// (the chat example shows the care needed when one event closes other connections).
func (s *server) handle(c *conn, ready poller.Flags) {
	// Hangup needs no case of its own: the poller also sets the interest bit, so a
	// Readable connection reaches the read (the bytes still queued, then 0) and a
	// Writable one the write (which fails).
	switch {
	case ready&poller.Errored != 0:
		err := sock.Error(c.fd) // reading SO_ERROR clears it
		if err == nil {
			err = errors.New("socket error reported, none pending")
		}
		s.drop(c, err)
	case len(c.out) > 0 && ready&poller.Writable != 0:
		w, err := sock.Write(c.fd, c.out)
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			s.drop(c, err)
			return
		}
		c.out = c.out[:copy(c.out, c.out[w:])]
		if len(c.out) == 0 {
			s.want(c, poller.Readable)
		}
	case len(c.out) == 0 && ready&poller.Readable != 0:
		n, err := sock.Read(c.fd, s.buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return // a spurious report: nothing to read after all
		case err != nil:
			s.drop(c, err)
			return
		case n == 0:
			s.drop(c, nil) // the client closed its side
			return
		}
		w, err := sock.Write(c.fd, s.buf[:n])
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			s.drop(c, err)
			return
		}
		if w < n {
			c.out = append(c.out, s.buf[w:n]...)
			s.blockedWrites.Add(1)
			s.want(c, poller.Writable)
		}
	}
}

// want switches c's interest.
func (s *server) want(c *conn, interest poller.Flags) {
	if err := s.p.Modify(c.fd, interest); err != nil {
		s.drop(c, err)
	}
}

// drop unregisters and closes c: Delete first, because poll and select would otherwise
// go on watching a closed number.
func (s *server) drop(c *conn, why error) {
	s.p.Delete(c.fd)
	unix.Close(c.fd)
	delete(s.conns, c.fd)
	if why != nil {
		s.log.Printf("fd %d: closed: %v", c.fd, why)
	} else {
		s.log.Printf("fd %d: closed by the client", c.fd)
	}
}

func (s *server) shutdown() {
	s.log.Printf("stopping: closing %d connections", len(s.conns))
	for _, c := range s.conns {
		s.p.Delete(c.fd)
		unix.Close(c.fd)
	}
	s.p.Delete(s.lfd)
	unix.Close(s.lfd)
	s.p.Close()
}
