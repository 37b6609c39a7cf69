// Selectserver is a multi-client echo server written directly on select(2), through
// poller.FdSet and poller.Select: the select loop of the source texts, with no Poller.
//
// select takes sets of fds and gives back, in the same sets, the ones that are ready, so
// the loop keeps the sets it wants (the Python code's list of sockets) and hands select a
// copy each time. A connection is in the read set while it has nothing to send back, and
// in the write set while it has.
//
// It also shows select's limit: an fd_set has room for fds 0 to poller.FdSetSize-1 (1024
// on most systems), whatever RLIMIT_NOFILE allows. When accept returns a larger fd,
// FdSet.Set says poller.ErrFdTooLarge; the server tells the client and the log so, and
// closes that connection. (The Poller's poll, epoll and kqueue backends have no such
// limit: see the echo example.)
//
// Ctrl-C stops it cleanly. Without a Poller there is no Wake: the signal goroutine writes
// a byte to a pipe whose read end is in the read set (the self-pipe trick, which is also
// how the Poller's select backend wakes).
//
//	go run ./examples/selectserver         # listens on 127.0.0.1:7009
//	nc 127.0.0.1 7009
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"

	"github.com/rawpoll/poller"
	"github.com/rawpoll/poller/sock"
	"golang.org/x/sys/unix"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7009", "address to listen on")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("selectserver: ")
	interrupt := make(chan os.Signal, 1) // from the start: a Ctrl-C during setup is kept
	signal.Notify(interrupt, os.Interrupt)

	s, err := newServer(*addr, log.Default())
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s with select(2), for fds below %d (Ctrl-C stops)", s.addr, poller.FdSetSize)
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
	lfd          int
	addr         string
	wakeR, wakeW int // the self-pipe: Stop writes to wakeW, and select sees wakeR readable
	// readSet and writeSet are the fds the loop wants select to watch.
	readSet, writeSet poller.FdSet
	conns             map[int][]byte // accepted fds and the echo bytes each still has to send
	buf               []byte
	log               *log.Logger
	stop              atomic.Bool
	// pipeMu keeps Stop from writing to wakeW once close has released it (the number
	// could name another file by then).
	pipeMu     sync.Mutex
	pipeClosed bool
}

func newServer(addr string, logger *log.Logger) (*server, error) {
	s := &server{conns: make(map[int][]byte), buf: make([]byte, 64<<10), log: logger}
	var err error
	if s.lfd, err = sock.Listen("tcp", addr); err != nil { // non-blocking, close-on-exec
		return nil, err
	}
	bound, err := sock.LocalAddr(s.lfd) // with the port the kernel chose for ":0"
	if err != nil {
		unix.Close(s.lfd)
		return nil, err
	}
	s.addr = bound.String()
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		unix.Close(s.lfd)
		return nil, os.NewSyscallError("pipe", err)
	}
	s.wakeR, s.wakeW = p[0], p[1]
	for _, fd := range []int{s.wakeR, s.wakeW} {
		unix.CloseOnExec(fd)
		unix.SetNonblock(fd, true)
	}
	// Even these may be too large for an fd_set, in a process with many files open.
	if err := s.readSet.Set(s.lfd); err != nil {
		s.close()
		return nil, err
	}
	if err := s.readSet.Set(s.wakeR); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// Stop makes serve return soon; it is safe from any goroutine.
func (s *server) Stop() {
	s.stop.Store(true)
	s.pipeMu.Lock()
	defer s.pipeMu.Unlock()
	if !s.pipeClosed {
		unix.Write(s.wakeW, []byte{0}) // EAGAIN: the pipe is full, so already readable
	}
}

func (s *server) serve() error {
	defer func() {
		s.log.Printf("stopping: closing %d connections", len(s.conns))
		s.close()
	}()
	for !s.stop.Load() {
		r, w := s.readSet, s.writeSet // select writes its answer into the copies
		maxFd := max(s.lfd, s.wakeR)
		for fd := range s.conns {
			maxFd = max(maxFd, fd)
		}
		if _, err := poller.Select(maxFd+1, &r, &w, nil, -1); err != nil {
			return err
		}
		if r.IsSet(s.wakeR) {
			sock.Read(s.wakeR, s.buf) // drain; the loop condition sees the stop flag
		}
		if r.IsSet(s.lfd) {
			s.accept()
		}
		for fd := range s.conns { // deleting entries while ranging is fine in Go
			if w.IsSet(fd) {
				s.flush(fd)
			} else if r.IsSet(fd) {
				s.echo(fd)
			}
		}
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
		if err := s.admit(fd, sock.Addr(peer).String()); err != nil {
			s.log.Print(err)
			sock.Write(fd, []byte("server: too many connections for select(2), sorry\n"))
			unix.Close(fd)
			continue
		}
		s.log.Printf("fd %d: accepted %s", fd, sock.Addr(peer))
	}
}

// admit adds a new connection's fd to the read set, or says clearly why it cannot.
func (s *server) admit(fd int, peer string) error {
	if err := s.readSet.Set(fd); err != nil {
		if errors.Is(err, poller.ErrFdTooLarge) {
			// err says what is wrong ("fd does not fit in an fd_set"); add the numbers.
			return fmt.Errorf("refusing %s, fd %d (select takes fds below FdSetSize, %d): %w",
				peer, fd, poller.FdSetSize, err)
		}
		return fmt.Errorf("refusing %s: %w", peer, err)
	}
	s.conns[fd] = nil
	return nil
}

// echo reads from fd and writes it straight back; what does not fit waits in s.conns[fd],
// and fd moves from the read set to the write set until it is sent.
func (s *server) echo(fd int) {
	n, err := sock.Read(fd, s.buf)
	switch {
	case errors.Is(err, unix.EAGAIN):
		return
	case err != nil || n == 0: // 0: the client closed
		s.drop(fd, err)
		return
	}
	w, err := sock.Write(fd, s.buf[:n])
	if err != nil && !errors.Is(err, unix.EAGAIN) {
		s.drop(fd, err)
		return
	}
	if w < n {
		s.conns[fd] = append(s.conns[fd], s.buf[w:n]...)
		s.readSet.Clear(fd)
		s.writeSet.Set(fd) // fd fits: it is in readSet
	}
}

func (s *server) flush(fd int) {
	out := s.conns[fd]
	w, err := sock.Write(fd, out)
	if err != nil && !errors.Is(err, unix.EAGAIN) {
		s.drop(fd, err)
		return
	}
	s.conns[fd] = out[:copy(out, out[w:])]
	if len(s.conns[fd]) == 0 {
		s.writeSet.Clear(fd)
		s.readSet.Set(fd)
	}
}

// drop forgets and closes fd. Closing it at once is safe: nothing else in this round of
// the loop looks at fd, and an fd the next accept reuses starts with a fresh entry.
func (s *server) drop(fd int, why error) {
	s.readSet.Clear(fd)
	s.writeSet.Clear(fd)
	delete(s.conns, fd)
	unix.Close(fd)
	if why != nil {
		s.log.Printf("fd %d: closed: %v", fd, why)
	} else {
		s.log.Printf("fd %d: closed by the client", fd)
	}
}

func (s *server) close() {
	for fd := range s.conns {
		unix.Close(fd)
	}
	unix.Close(s.lfd)
	s.pipeMu.Lock()
	defer s.pipeMu.Unlock()
	s.pipeClosed = true
	unix.Close(s.wakeR)
	unix.Close(s.wakeW)
}
