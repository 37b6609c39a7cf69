// Connect is the non-blocking client of the source texts: it starts a connection, does
// other work while the handshake and then the server take their time, and is told by the
// poller when each step can go on.
//
//  1. sock.Dial makes a non-blocking socket and starts connect, which returns at once
//     (EINPROGRESS) while the handshake goes on.
//  2. Register the socket Writable: a connection that finishes, well or badly, makes its
//     socket writable. Meanwhile the program is free.
//  3. On Writable, read SO_ERROR: 0 means connected, anything else (such as
//     ECONNREFUSED) is why the connection failed.
//  4. Send the request, shut down the writing side (the request is complete: a server
//     that reads to EOF, like the echo example, knows it may answer and close), and
//     switch the registration to Readable with Modify.
//  5. On Readable, read the reply until the server closes, and print it.
//
// While it waits it "does other work": Wait has a timeout (-tick), and each timeout is a
// turn of other work, counted and reported at the end.
//
//	go run ./examples/echo &                      # a server on 127.0.0.1:7007
//	go run ./examples/connect                     # connects to it
//	go run ./examples/connect -addr 127.0.0.1:1   # refused: a clear error, exit status 1
//
// -backend epoll|kqueue|poll|select chooses the mechanism (default: the best this OS
// has). Ctrl-C stops it cleanly.
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
	addr := flag.String("addr", "127.0.0.1:7007", "the server to connect to")
	backendName := flag.String("backend", "", "epoll, kqueue, poll or select (default: the best this OS has)")
	request := flag.String("request", "Request from client", "what to send")
	tick := flag.Duration("tick", 100*time.Millisecond, "how long each turn of other work lasts")
	timeout := flag.Duration("timeout", 10*time.Second, "give up after this long")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("connect: ")
	interrupt := make(chan os.Signal, 1) // from the start: a Ctrl-C during setup is kept
	signal.Notify(interrupt, os.Interrupt)

	backend, err := parseBackend(*backendName)
	if err != nil {
		log.Fatal(err)
	}
	c, err := newClient(backend)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		<-interrupt
		signal.Stop(interrupt) // a second Ctrl-C kills the program as usual
		c.Stop()
	}()
	if err := c.run(*addr, []byte(*request), *tick, *timeout, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// errInterrupted is what run returns after Stop.
var errInterrupted = errors.New("interrupted")

// client is one poller and the stop flag that Stop sets.
type client struct {
	p    *poller.Poller
	stop atomic.Bool
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

func newClient(backend poller.Backend) (*client, error) {
	p, err := poller.Config{Backend: backend}.Open()
	if err != nil {
		return nil, err
	}
	return &client{p: p}, nil
}

// Stop makes run return errInterrupted soon; it is safe from any goroutine.
func (c *client) Stop() {
	c.stop.Store(true)
	c.p.Wake()
}

// run connects to addr, sends request, prints the reply to out and closes the poller.
func (c *client) run(addr string, request []byte, tick, timeout time.Duration, out io.Writer) error {
	defer c.p.Close()

	// 1. Start connecting. Dial returns as soon as the connect is under way (some
	// kernels finish a loopback connect at once; Writable is then reported by the first
	// Wait). It fails itself only for what is known at once, such as a bad address.
	fd, err := sock.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer unix.Close(fd)

	// 2. Wait for Writable, and do other work meanwhile.
	if err := c.p.Add(fd, poller.Writable); err != nil {
		return err
	}
	defer c.p.Delete(fd) // deferred calls run last first: Delete, then close
	fmt.Fprintf(out, "connecting to %s; meanwhile doing other work\n", addr)

	connected, sent := false, false
	pending := request // what remains to send
	var reply []byte
	buf := make([]byte, 4096)
	events := make([]poller.Event, 1)
	turns := 0
	deadline := time.Now().Add(timeout)
	for {
		n, err := c.p.Wait(events, tick)
		if err != nil {
			return err
		}
		if c.stop.Load() {
			return errInterrupted
		}
		if n == 0 {
			if time.Now().After(deadline) {
				return fmt.Errorf("no answer from %s within %v", addr, timeout)
			}
			turns++ // the other work: here, counting the turns
			continue
		}
		if !connected {
			// 3. The connection finished: SO_ERROR says how.
			if err := sock.Error(fd); err != nil {
				return fmt.Errorf("connect to %s: %w", addr, err)
			}
			connected = true
		}
		if !sent {
			// 4. Send what the kernel takes; if that is not all, the socket stays
			// registered Writable and the next event sends more.
			w, err := sock.Write(fd, pending)
			if err != nil && !errors.Is(err, unix.EAGAIN) {
				return fmt.Errorf("send: %w", err)
			}
			if pending = pending[w:]; len(pending) > 0 {
				continue
			}
			if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
				return os.NewSyscallError("shutdown", err)
			}
			if err := c.p.Modify(fd, poller.Readable); err != nil {
				return err
			}
			sent = true
			fmt.Fprintf(out, "connected, sent %d bytes; meanwhile doing other work until the reply comes\n", len(request))
			continue
		}
		// 5. Read what there is; a read of 0 is the server's close: the reply is whole.
		r, err := sock.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			continue
		case err != nil:
			return fmt.Errorf("read the reply: %w", err)
		case r > 0:
			reply = append(reply, buf[:r]...)
			continue
		}
		fmt.Fprintf(out, "reply: %q\n", reply)
		fmt.Fprintf(out, "did %d turns of other work while waiting\n", turns)
		return nil
	}
}
