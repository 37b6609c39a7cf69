// Multiloop is an echo server with one event loop per CPU, each on its own goroutine with
// its own poller and its own listening socket, all bound to one address with
// SO_REUSEPORT. Linux, DragonFly BSD and FreeBSD (SO_REUSEPORT_LB) spread new connections
// across the listeners; on macOS, NetBSD and OpenBSD one listener takes them all, which is
// still correct, only not spread.
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
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rawpoll/poller"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7010", "address to listen on")
	backendName := flag.String("backend", "", "epoll or kqueue; poll and select lack edge-triggered mode (default: the best this OS has)")
	loops := flag.Int("loops", runtime.NumCPU(), "number of event loops")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("multiloop: ")
	// Catch Ctrl-C from the start: one that comes during the setup is kept in sig, and
	// the goroutine started below serves it as soon as there is something to stop.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)

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
		<-sig
		signal.Stop(sig)
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

// newGroup opens n loops listening on addr. The first binds addr; if its port is 0, the
// others bind the port the kernel chose for it.
func newGroup(addr string, n int, backend poller.Backend, logger *log.Logger) (*group, error) {
	g := &group{addr: addr}
	for i := 0; i < max(n, 1); i++ {
		l, err := newLoop(i, g.addr, backend, logger)
		if err != nil {
			g.close()
			return nil, err
		}
		g.loops = append(g.loops, l)
		if i == 0 {
			sa, err := syscall.Getsockname(l.lfd)
			if err != nil {
				g.close()
				return nil, err
			}
			g.addr = sockaddrString(sa)
		}
	}
	return g, nil
}

func newLoop(id int, addr string, backend poller.Backend, logger *log.Logger) (*loop, error) {
	p, err := openPoller(backend)
	if err != nil {
		return nil, err
	}
	lfd, err := listen(addr)
	if err != nil {
		p.Close()
		return nil, err
	}
	if err := p.Add(lfd, poller.Readable|poller.EdgeTriggered); err != nil {
		syscall.Close(lfd)
		p.Close()
		if errors.Is(err, poller.ErrUnsupported) {
			return nil, fmt.Errorf("%s has no edge-triggered mode, which multiloop needs: use epoll or kqueue (%w)", p.Backend(), err)
		}
		return nil, err
	}
	return &loop{id: id, p: p, lfd: lfd, conns: make(map[int]*conn), buf: make([]byte, 64<<10), log: logger}, nil
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
			syscall.Close(c.fd)
		}
		l.p.Delete(l.lfd)
		syscall.Close(l.lfd)
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
		fd, _, err := syscall.Accept(l.lfd)
		switch {
		case err == syscall.EAGAIN:
			return
		case err == syscall.EINTR, err == syscall.ECONNABORTED:
			continue
		case err != nil:
			// EMFILE and the like. Edge-triggered, the connections left in the queue
			// wait for the next one to arrive.
			l.log.Printf("loop %d: accept: %v", l.id, err)
			return
		}
		syscall.CloseOnExec(fd)
		if err := syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(fd)
			continue
		}
		if err := l.p.Add(fd, poller.Readable|poller.Writable|poller.EdgeTriggered); err != nil {
			l.log.Printf("loop %d: fd %d: %v", l.id, fd, err)
			syscall.Close(fd)
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
		w, err := write(c.fd, c.out)
		if err != nil && err != syscall.EAGAIN {
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
		n, err := read(c.fd, l.buf)
		switch {
		case err == syscall.EAGAIN:
			return // drained: the next Readable edge will say when more comes
		case err != nil || n == 0:
			l.drop(c) // 0: the client closed
			return
		}
		w, err := write(c.fd, l.buf[:n])
		if err != nil && err != syscall.EAGAIN {
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
	syscall.Close(c.fd)
	delete(l.conns, c.fd)
}

// parseBackend turns the -backend flag into a poller.Backend; 0 means poller.Open's best.
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

func openPoller(b poller.Backend) (*poller.Poller, error) {
	if b == 0 {
		return poller.Open()
	}
	return poller.OpenBackend(b)
}

// listen returns a non-blocking, close-on-exec TCP socket listening on addr with
// SO_REUSEPORT (soReusePort: the load-balancing variant where the OS has one), so that
// every loop can bind the same address.
func listen(addr string) (int, error) {
	sa, family, err := parseSockaddr(addr)
	if err != nil {
		return -1, err
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	syscall.CloseOnExec(fd)
	err = syscall.SetNonblock(fd, true)
	if err == nil {
		err = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	}
	if err == nil {
		err = os.NewSyscallError("setsockopt", syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, soReusePort, 1))
	}
	if err == nil {
		err = os.NewSyscallError("bind", syscall.Bind(fd, sa))
	}
	if err == nil {
		err = os.NewSyscallError("listen", syscall.Listen(fd, syscall.SOMAXCONN))
	}
	if err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return fd, nil
}

// parseSockaddr resolves "host:port" to a socket address and its family.
func parseSockaddr(addr string) (syscall.Sockaddr, int, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, 0, err
	}
	if ip4 := ta.IP.To4(); ip4 != nil || ta.IP == nil {
		sa := &syscall.SockaddrInet4{Port: ta.Port}
		copy(sa.Addr[:], ip4)
		return sa, syscall.AF_INET, nil
	}
	sa := &syscall.SockaddrInet6{Port: ta.Port}
	copy(sa.Addr[:], ta.IP)
	return sa, syscall.AF_INET6, nil
}

func sockaddrString(sa syscall.Sockaddr) string {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return net.JoinHostPort(net.IP(sa.Addr[:]).String(), strconv.Itoa(sa.Port))
	case *syscall.SockaddrInet6:
		return net.JoinHostPort(net.IP(sa.Addr[:]).String(), strconv.Itoa(sa.Port))
	}
	return "?"
}

// read and write retry EINTR and never return a negative count.
func read(fd int, b []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, b)
		if err != syscall.EINTR {
			return max(n, 0), err
		}
	}
}

func write(fd int, b []byte) (int, error) {
	for {
		n, err := syscall.Write(fd, b)
		if err != syscall.EINTR {
			return max(n, 0), err
		}
	}
}
