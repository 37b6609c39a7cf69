// Multiloop is an echo server with one event loop per CPU, each on its own goroutine with
// its own poller and its own listening socket, all bound to one address with
// SO_REUSEPORT (sock.ListenConfig's ReusePort). Linux, DragonFly BSD and FreeBSD
// (SO_REUSEPORT_LB) spread new connections across the listeners; on macOS, NetBSD and
// OpenBSD one listener takes them all, which is still correct, only not spread. illumos
// and Solaris have no SO_REUSEPORT in x/sys: there multiloop says so and stops.
//
// The loops are edge-triggered: each fd is registered once, Readable|Writable|
// EdgeTriggered, and never modified. An edge is reported once per change of state, so:
//
//   - the listener accepts until EAGAIN: connections left in the queue would get no
//     second event;
//   - a connection reads until EAGAIN, writing each chunk back;
//   - when the kernel will not take a whole chunk, the rest waits in a pending buffer
//     and the reading stops (the data stays in the kernel); the Writable edge that comes
//     when the client catches up flushes it, and then the reading must resume at once:
//     the data that came meanwhile made no new Readable edge.
//
// Edge-triggered mode needs epoll or kqueue; poll and select give poller.ErrUnsupported,
// which multiloop reports.
//
//	go run ./examples/multiloop                          # listens on 127.0.0.1:7010
//	go run ./examples/connect -addr 127.0.0.1:7010       # or nc 127.0.0.1 7010
//
// -loops sets the number of loops (default: runtime.NumCPU()). Ctrl-C stops every loop
// and prints how many connections each accepted.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/rawpoll/poller"
	"github.com/rawpoll/poller/sock"
	"golang.org/x/sys/unix"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7010", "address to listen on")
	backendName := flag.String("backend", "", "epoll or kqueue; poll, select and port lack edge-triggered mode (default: the best this OS has)")
	loops := flag.Int("loops", runtime.NumCPU(), "number of event loops")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("multiloop: ")
	interrupt := make(chan os.Signal, 1) // from the start: a Ctrl-C during setup is kept
	signal.Notify(interrupt, os.Interrupt)

	backend, err := parseBackend(*backendName)
	if err != nil {
		log.Fatal(err)
	}
	g, err := newGroup(*addr, *loops, backend, log.Default())
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("%d loops listening on %s with %s (Ctrl-C stops)", len(g.loops), g.addr, g.loops[0].p.Backend())
	go func() {
		<-interrupt
		signal.Stop(interrupt) // a second Ctrl-C kills the program as usual
		g.Stop()
	}()
	err = g.serve()
	for _, l := range g.loops {
		log.Printf("loop %d: %d connections accepted, %d writes waited for Writable", l.id, l.accepted.Load(), l.blocked.Load())
	}
	if err != nil {
		log.Fatal(err)
	}
}

// group is the set of loops and the stop flag they share.
type group struct {
	addr  string
	loops []*loop
	stop  atomic.Bool
}

// loop is one event loop. Only its goroutine touches it while serve runs.
type loop struct {
	id    int
	p     *poller.Poller
	lfd   int
	conns map[int]*conn
	buf   []byte
	log   *log.Logger
	// Statistics, atomic so that they can be read while the loop runs.
	accepted atomic.Int64 // connections accepted
	blocked  atomic.Int64 // writes the kernel did not take whole: trips to the pending buffer
}

type conn struct {
	fd  int
	out []byte // echo bytes the kernel has not taken yet; while not empty, no reading
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

// newGroup opens n loops listening on addr. The first binds addr; if its port is 0, the
// others bind the port the kernel chose for it.
func newGroup(addr string, n int, backend poller.Backend, logger *log.Logger) (*group, error) {
	g := &group{addr: addr}
	for i := 0; i < max(n, 1); i++ {
		l, bound, err := newLoop(i, g.addr, backend, logger)
		if err != nil {
			g.close()
			return nil, err
		}
		g.loops = append(g.loops, l)
		g.addr = bound // after the first loop, with the port the kernel chose for it
	}
	return g, nil
}

// newLoop opens loop id, listening on addr with SO_REUSEPORT so that every loop can bind
// the same address, and returns it with the address its socket is bound to.
func newLoop(id int, addr string, backend poller.Backend, logger *log.Logger) (*loop, string, error) {
	p, err := poller.Config{Backend: backend}.Open()
	if err != nil {
		return nil, "", err
	}
	lfd, err := sock.ListenConfig{ReusePort: true}.Listen("tcp", addr)
	if err != nil {
		p.Close()
		return nil, "", err
	}
	bound, err := sock.LocalAddr(lfd)
	if err == nil {
		err = p.Add(lfd, poller.Readable|poller.EdgeTriggered)
	}
	if err != nil {
		unix.Close(lfd)
		p.Close()
		if errors.Is(err, poller.ErrUnsupported) {
			return nil, "", fmt.Errorf("%s has no edge-triggered mode, which multiloop needs: use epoll or kqueue (%w)", p.Backend(), err)
		}
		return nil, "", err
	}
	return &loop{id: id, p: p, lfd: lfd, conns: make(map[int]*conn), buf: make([]byte, 64<<10), log: logger}, bound.String(), nil
}

// Stop makes every loop return soon; it is safe from any goroutine.
func (g *group) Stop() {
	g.stop.Store(true)
	for _, l := range g.loops {
		l.p.Wake()
	}
}

// serve runs every loop on its own goroutine until Stop, then closes them all. If a loop
// fails, it stops the others and serve returns its error.
func (g *group) serve() error {
	defer g.close()
	errs := make(chan error, len(g.loops))
	var wg sync.WaitGroup
	for _, l := range g.loops {
		wg.Add(1)
		go func(l *loop) {
			defer wg.Done()
			if err := l.run(&g.stop); err != nil {
				errs <- fmt.Errorf("loop %d: %w", l.id, err)
				g.Stop()
			}
		}(l)
	}
	wg.Wait()
	close(errs)
	return <-errs // nil if none failed
}

func (g *group) close() {
	for _, l := range g.loops {
		for _, c := range l.conns {
			l.p.Delete(c.fd)
			unix.Close(c.fd)
		}
		l.p.Delete(l.lfd)
		unix.Close(l.lfd)
		l.p.Close()
	}
}

func (l *loop) run(stop *atomic.Bool) error {
	events := make([]poller.Event, 128)
	for !stop.Load() {
		n, err := l.p.Wait(events, -1)
		if err != nil {
			return err
		}
		for _, ev := range events[:n] {
			if ev.Fd == l.lfd {
				l.accept()
			} else if c := l.conns[ev.Fd]; c != nil {
				l.handle(c, ev.Flags)
			}
		}
	}
	return nil
}

func (l *loop) accept() {
	for { // until EAGAIN: the next edge comes only with a new connection
		fd, _, err := sock.Accept(l.lfd)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return
		case err != nil:
			// EMFILE and the like. Edge-triggered, the connections left in the queue
			// wait for the next one to arrive.
			l.log.Printf("loop %d: accept: %v", l.id, err)
			return
		}
		if err := l.p.Add(fd, poller.Readable|poller.Writable|poller.EdgeTriggered); err != nil {
			l.log.Printf("loop %d: fd %d: %v", l.id, fd, err)
			unix.Close(fd)
			continue
		}
		l.conns[fd] = &conn{fd: fd}
		l.accepted.Add(1)
	}
}

func (l *loop) handle(c *conn, ready poller.Flags) {
	if ready&poller.Errored != 0 {
		l.drop(c)
		return
	}
	flushed := false
	if ready&poller.Writable != 0 && len(c.out) > 0 {
		w, err := sock.Write(c.fd, c.out)
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			l.drop(c)
			return
		}
		c.out = c.out[:copy(c.out, c.out[w:])]
		flushed = len(c.out) == 0
	}
	if ready&poller.Readable == 0 && !flushed {
		return
	}
	// Read until EAGAIN, on a Readable edge and also right after a flush, for the data
	// that arrived while the reading was stopped. (A client that sends without pause
	// can keep its loop here; a server for strangers would cap the rounds, and come
	// back to this connection itself, since no new edge would remind it.)
	for len(c.out) == 0 {
		n, err := sock.Read(c.fd, l.buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return // drained: the next Readable edge will say when more comes
		case err != nil || n == 0:
			l.drop(c) // 0: the client closed
			return
		}
		w, err := sock.Write(c.fd, l.buf[:n])
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			l.drop(c)
			return
		}
		if w < n {
			c.out = append(c.out, l.buf[w:n]...)
			l.blocked.Add(1)
		}
	}
}

func (l *loop) drop(c *conn) {
	l.p.Delete(c.fd)
	unix.Close(c.fd)
	delete(l.conns, c.fd)
}
