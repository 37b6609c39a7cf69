// Chat is the chat room of the source texts: every line a client sends goes to all the
// other clients, prefixed with the sender's address.
//
// Unlike the Python original, whose send "hopes it won't block", it never blocks the loop
// and never drops a line silently:
//
//   - Each client has an output backlog. A line is appended to it and written at once if
//     the kernel takes it; what is left waits for Writable, which the client is
//     registered for (Modify) only while its backlog is not empty.
//   - A client whose backlog passes -limit bytes is too slow to keep up: it is sent a
//     notice (best effort: one write that may not fit), logged and disconnected, and
//     the room goes on.
//   - Because one event can disconnect other clients, their fds are closed only after
//     the whole batch of events has been handled: a number closed mid-batch could be
//     reused by an accept in the same batch, and a later event of the batch, meant for
//     the old client, would reach the new one.
//
// Run it, then connect from two or more terminals and type:
//
//	go run ./examples/chat                 # listens on 127.0.0.1:7008
//	nc 127.0.0.1 7008
//
// -backend epoll|kqueue|poll|select chooses the mechanism (default: the best this OS
// has). Ctrl-C stops the server cleanly.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync/atomic"

	"github.com/rawpoll/poller"
	"github.com/rawpoll/poller/sock"
	"golang.org/x/sys/unix"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7008", "address to listen on")
	backendName := flag.String("backend", "", "epoll, kqueue, poll or select (default: the best this OS has)")
	limit := flag.Int("limit", 1<<20, "disconnect a client with more than this many bytes waiting for it")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("chat: ")
	interrupt := make(chan os.Signal, 1) // from the start: a Ctrl-C during setup is kept
	signal.Notify(interrupt, os.Interrupt)

	backend, err := parseBackend(*backendName)
	if err != nil {
		log.Fatal(err)
	}
	s, err := newServer(*addr, backend, *limit, log.Default())
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s with %s (Ctrl-C stops)", s.addr, s.p.Backend())
	go func() {
		<-interrupt
		signal.Stop(interrupt) // a second Ctrl-C kills the program as usual
		s.Stop()
	}()
	if err := s.serve(); err != nil {
		log.Fatal(err)
	}
}

type server struct {
	p       *poller.Poller
	lfd     int
	addr    string
	limit   int             // the most bytes a client's backlog (or unfinished line) may hold
	clients map[int]*client // by fd
	closing []int           // fds unregistered during this batch, closed after it
	buf     []byte
	log     *log.Logger
	stop    atomic.Bool
}

type client struct {
	fd       int
	name     string // its address: the prefix of its lines
	in       []byte // the start of a line whose newline has not come yet
	out      []byte // bytes waiting for the kernel
	writable bool   // registered Writable as well as Readable
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

func newServer(addr string, backend poller.Backend, limit int, logger *log.Logger) (*server, error) {
	p, err := poller.Config{Backend: backend}.Open()
	if err != nil {
		return nil, err
	}
	lfd, err := sock.Listen("tcp", addr)
	if err != nil {
		p.Close()
		return nil, err
	}
	bound, err := sock.LocalAddr(lfd) // with the port the kernel chose for ":0"
	if err == nil {
		err = p.Add(lfd, poller.Readable)
	}
	if err != nil {
		unix.Close(lfd)
		p.Close()
		return nil, err
	}
	return &server{p: p, lfd: lfd, addr: bound.String(), limit: limit, clients: make(map[int]*client),
		buf: make([]byte, 64<<10), log: logger}, nil
}

// Stop makes serve return soon; it is safe from any goroutine.
func (s *server) Stop() {
	s.stop.Store(true)
	s.p.Wake()
}

func (s *server) serve() error {
	defer s.shutdown()
	events := make([]poller.Event, 128)
	for !s.stop.Load() {
		n, err := s.p.Wait(events, -1)
		if err != nil {
			return err
		}
		for _, ev := range events[:n] {
			if ev.Fd == s.lfd {
				s.accept()
			} else if c := s.clients[ev.Fd]; c != nil { // nil: dropped earlier in this batch
				s.handle(c, ev.Flags)
			}
		}
		for _, fd := range s.closing {
			unix.Close(fd)
		}
		s.closing = s.closing[:0]
	}
	return nil
}

func (s *server) accept() {
	for {
		fd, peer, err := sock.Accept(s.lfd)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return
		case err != nil:
			s.log.Printf("accept: %v", err)
			return
		}
		name := sock.Addr(peer).String()
		if err := s.p.Add(fd, poller.Readable); err != nil {
			s.log.Printf("%s: %v", name, err)
			unix.Close(fd)
			continue
		}
		c := &client{fd: fd, name: name}
		s.clients[fd] = c
		s.log.Printf("%s joined", c.name)
		s.send(c, fmt.Sprintf("* welcome, you are %s; %d others here\n", c.name, len(s.clients)-1))
	}
}

func (s *server) handle(c *client, ready poller.Flags) {
	if ready&poller.Errored != 0 {
		s.drop(c, "connection error")
		return
	}
	if ready&poller.Writable != 0 {
		s.flush(c)
		if s.clients[c.fd] == nil {
			return
		}
	}
	if ready&poller.Readable == 0 {
		return
	}
	n, err := sock.Read(c.fd, s.buf)
	switch {
	case errors.Is(err, unix.EAGAIN):
		return
	case err != nil:
		s.drop(c, err.Error())
		return
	case n == 0:
		s.drop(c, "left")
		return
	}
	c.in = append(c.in, s.buf[:n]...)
	start := 0
	for {
		i := bytes.IndexByte(c.in[start:], '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSuffix(c.in[start:start+i], []byte("\r"))
		s.broadcast(c, c.name+": "+string(line)+"\n")
		start += i + 1
	}
	c.in = c.in[:copy(c.in, c.in[start:])] // keep the unfinished line
	if len(c.in) > s.limit {
		s.drop(c, fmt.Sprintf("a line longer than %d bytes", s.limit))
	}
}

// broadcast queues msg for every client but from.
func (s *server) broadcast(from *client, msg string) {
	for _, c := range s.clients { // deleting entries while ranging is fine in Go
		if c != from {
			s.send(c, msg)
		}
	}
}

// send queues msg for c and writes what the kernel takes now, unless c already waits
// for Writable (then its backlog goes first).
func (s *server) send(c *client, msg string) {
	if len(c.out)+len(msg) > s.limit {
		// Best effort: the notice goes out only if the kernel has room right now.
		sock.Write(c.fd, []byte("\n* you are too slow: disconnected\n"))
		s.drop(c, fmt.Sprintf("too slow: more than %d bytes waiting", s.limit))
		return
	}
	c.out = append(c.out, msg...)
	if !c.writable {
		s.flush(c)
	}
}

// flush writes c's backlog until it is empty or the kernel is full, and keeps c
// registered Writable exactly while the backlog is not empty.
func (s *server) flush(c *client) {
	w, err := sock.Write(c.fd, c.out)
	if err != nil && !errors.Is(err, unix.EAGAIN) {
		s.drop(c, err.Error())
		return
	}
	c.out = c.out[:copy(c.out, c.out[w:])]
	if want := len(c.out) > 0; want != c.writable {
		interest := poller.Readable
		if want {
			interest |= poller.Writable
		}
		if err := s.p.Modify(c.fd, interest); err != nil {
			s.drop(c, err.Error())
			return
		}
		c.writable = want
	}
}

// drop unregisters c at once, so no later event reaches it, and closes its fd after the
// batch.
func (s *server) drop(c *client, why string) {
	s.log.Printf("%s disconnected: %s", c.name, why)
	s.p.Delete(c.fd)
	delete(s.clients, c.fd)
	s.closing = append(s.closing, c.fd)
}

func (s *server) shutdown() {
	s.log.Printf("stopping: closing %d connections", len(s.clients))
	for _, c := range s.clients {
		s.p.Delete(c.fd)
		unix.Close(c.fd)
	}
	for _, fd := range s.closing { // a Wait error can end the loop mid-batch
		unix.Close(fd)
	}
	s.p.Delete(s.lfd)
	unix.Close(s.lfd)
	s.p.Close()
}
