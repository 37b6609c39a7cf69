// Command loadgen is echobench's load generator. It opens -conns TCP connections to an echo
// server on 127.0.0.1, and each connection, in a closed loop, sends one -size byte message,
// waits for the whole echo, checks it byte for byte and sends the next, for -duration. It
// runs one epoll loop per GOMAXPROCS (which follows the CPU affinity) on x/sys/unix
// directly, so that the generator itself costs as little CPU per request as it can.
//
// Connections are opened, and warmed up for -warmup, before the measured window. With
// -wait it then prints READY and waits for a line on stdin before it starts, and prints
// DONE when the window is over and every request in flight has completed, so that a parent
// can sample the server around exactly that window; it prints its JSON result line right
// after DONE, and keeps the connections open until stdin gives another line or ends.
// Without -wait the JSON result is the only line. It exits 1 if any connection failed or
// any echo differed.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Result is what loadgen prints as its last line.
type Result struct {
	Conns      int     `json:"conns"`
	Size       int     `json:"size"`
	Loops      int     `json:"loops"`
	Seconds    float64 `json:"seconds"`  // the measured window
	Requests   uint64  `json:"requests"` // echoes completed inside the window
	Total      uint64  `json:"total"`    // plus the ones in flight at its end, completed after
	RPS        float64 `json:"rps"`      // Requests / Seconds
	P50us      float64 `json:"p50_us"`   // round-trip latency quantiles of the window's requests
	P99us      float64 `json:"p99_us"`   //
	Errors     int     `json:"errors"`   // connections that failed or saw a wrong echo
	FirstError string  `json:"first_error,omitempty"`

	printed bool // already printed, before the wait for the parent
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "echo server address (127.0.0.1 only)")
	conns := flag.Int("conns", 16, "connections")
	size := flag.Int("size", 16, "message size in bytes")
	duration := flag.Duration("duration", 2*time.Second, "measured window")
	warmup := flag.Duration("warmup", 300*time.Millisecond, "load before the window, not measured")
	loops := flag.Int("loops", 0, "epoll loops (0: GOMAXPROCS)")
	wait := flag.Bool("wait", false, "print READY, wait for a line on stdin, print DONE after the window")
	flag.Parse()

	res, err := run(*addr, *conns, *size, *loops, *warmup, *duration, *wait)
	if err != nil && res.FirstError == "" {
		res.FirstError = err.Error()
		res.Errors++
	}
	if !res.printed {
		out, _ := json.Marshal(res)
		fmt.Println(string(out))
	}
	if res.Errors > 0 {
		os.Exit(1)
	}
}

func run(addr string, nconns, size, nloops int, warmup, duration time.Duration, wait bool) (Result, error) {
	res := Result{Conns: nconns, Size: size}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return res, err
	}
	if !ap.Addr().Is4() || !ap.Addr().IsLoopback() {
		return res, errors.New("loadgen only talks to 127.0.0.0/8")
	}
	if nconns < 1 || size < 1 {
		return res, errors.New("-conns and -size must be positive")
	}
	if nloops <= 0 {
		nloops = runtime.GOMAXPROCS(0)
	}
	nloops = min(nloops, nconns)
	res.Loops = nloops

	ls := make([]*loop, nloops)
	for i := range ls {
		if ls[i], err = newLoop(); err != nil {
			return res, err
		}
	}
	defer func() {
		for _, l := range ls {
			l.close()
		}
	}()
	sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	for i := 0; i < nconns; i++ {
		c, err := dial(sa, size, uint64(i))
		if err != nil {
			return res, fmt.Errorf("connection %d: %w", i, err)
		}
		if err := ls[i%nloops].add(c); err != nil {
			unix.Close(c.fd)
			return res, err
		}
	}

	// One round trip on every connection proves the server accepted it and echoes; then
	// load without measuring, so that buffers, stacks and caches are warm.
	phase := func(d time.Duration) {
		var wg sync.WaitGroup
		for _, l := range ls {
			wg.Add(1)
			go func() { defer wg.Done(); l.run(d) }()
		}
		wg.Wait()
	}
	phase(0)
	if warmup > 0 {
		phase(warmup)
	}
	if e := firstError(ls); e != nil {
		res.Errors, res.FirstError = errCount(ls), e.Error()
		return res, nil
	}
	for _, l := range ls {
		l.reset()
	}

	in := bufio.NewScanner(os.Stdin)
	if wait {
		fmt.Println("READY")
		if !in.Scan() {
			return res, errors.New("stdin closed before GO")
		}
	}
	phase(duration)
	res.Seconds = duration.Seconds()

	var h hist
	for _, l := range ls {
		h.merge(&l.hist)
		res.Requests += l.inWindow
		res.Total += l.completed
	}
	res.RPS = float64(res.Requests) / res.Seconds
	res.P50us = h.quantile(0.50) / 1e3
	res.P99us = h.quantile(0.99) / 1e3
	res.Errors = errCount(ls)
	if e := firstError(ls); e != nil {
		res.FirstError = e.Error()
	}
	if wait {
		// The connections stay open until the parent has sampled the server: closing
		// them is work for the server that is not part of the window.
		fmt.Println("DONE")
		out, _ := json.Marshal(res)
		fmt.Println(string(out))
		in.Scan()
		res.printed = true
	}
	return res, nil
}

func firstError(ls []*loop) error {
	for _, l := range ls {
		if len(l.errs) > 0 {
			return l.errs[0]
		}
	}
	return nil
}

func errCount(ls []*loop) int {
	n := 0
	for _, l := range ls {
		n += len(l.errs)
	}
	return n
}

// lconn is one client connection with one message in flight at a time.
type lconn struct {
	fd      int
	msg     []byte // what was sent; its first 8 bytes change with every request
	echo    []byte // what came back so far
	sent    int
	got     int
	seq     uint64
	t0      time.Time
	busy    bool // a message is in flight
	writing bool // EPOLLOUT is registered for the rest of msg
	dead    bool
}

func dial(sa *unix.SockaddrInet4, size int, id uint64) (*lconn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	// Close with a reset: thousands of connections per cell must not fill TIME_WAIT.
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	c := &lconn{fd: fd, msg: make([]byte, size), echo: make([]byte, size), seq: id << 40}
	r := rand.New(rand.NewPCG(id, 0x5eed))
	for i := range c.msg {
		c.msg[i] = byte(r.Uint32())
	}
	return c, nil
}

type loop struct {
	epfd      int
	conns     []*lconn
	byFd      map[int]*lconn
	events    []unix.EpollEvent
	hist      hist
	inWindow  uint64 // completed before the deadline
	completed uint64 // completed, the drain after the deadline included
	errs      []error
}

func newLoop() (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	return &loop{epfd: epfd, byFd: map[int]*lconn{}, events: make([]unix.EpollEvent, 256)}, nil
}

func (l *loop) add(c *lconn) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	l.conns = append(l.conns, c)
	l.byFd[c.fd] = c
	return nil
}

func (l *loop) reset() {
	l.hist = hist{}
	l.inWindow, l.completed = 0, 0
}

func (l *loop) close() {
	for _, c := range l.conns {
		unix.Close(c.fd)
	}
	unix.Close(l.epfd)
}

func (l *loop) fail(c *lconn, err error) {
	c.dead, c.busy = true, false
	l.errs = append(l.errs, err)
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, &unix.EpollEvent{})
}

// drainLimit bounds how long a phase waits for the requests in flight at its deadline.
const drainLimit = 5 * time.Second

// run sends and checks messages on every connection until d has passed (d == 0: one round
// trip each), then waits for the ones in flight, at most drainLimit.
func (l *loop) run(d time.Duration) {
	start := time.Now()
	deadline := start.Add(d)
	inflight := 0
	for _, c := range l.conns {
		if !c.dead && l.send(c, start) {
			inflight++
		}
	}
	issuing := d > 0
	hardStop := deadline.Add(drainLimit)
	for inflight > 0 {
		now := time.Now()
		if issuing && !now.Before(deadline) {
			issuing = false
		}
		if now.After(hardStop) {
			l.errs = append(l.errs, fmt.Errorf("%d echoes still missing %v after the window", inflight, drainLimit))
			return
		}
		timeout := 100
		if issuing {
			timeout = min(timeout, int(deadline.Sub(now)/time.Millisecond)+1)
		}
		n, err := unix.EpollWait(l.epfd, l.events, timeout)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			l.errs = append(l.errs, os.NewSyscallError("epoll_wait", err))
			return
		}
		for i := range l.events[:n] {
			c := l.byFd[int(l.events[i].Fd)]
			if c == nil || c.dead {
				continue
			}
			ready := l.events[i].Events
			if c.writing && ready&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				if !l.write(c) {
					inflight--
					continue
				}
			}
			if ready&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
				continue
			}
			done, ok := l.read(c)
			if !ok {
				inflight--
				continue
			}
			if !done {
				continue
			}
			t := time.Now()
			l.completed++
			if issuing || d == 0 {
				l.inWindow++
				l.hist.add(int64(t.Sub(c.t0)))
			}
			if issuing && t.Before(deadline) {
				if !l.send(c, t) {
					inflight--
				}
			} else {
				inflight--
			}
		}
	}
}

// send starts the next request on c; false if c failed.
func (l *loop) send(c *lconn, now time.Time) bool {
	c.seq++
	for i := 0; i < 8 && i < len(c.msg); i++ {
		c.msg[i] = byte(c.seq >> (8 * i))
	}
	c.sent, c.got, c.t0, c.busy = 0, 0, now, true
	return l.write(c)
}

// write sends what is left of c.msg, and waits for EPOLLOUT if the kernel took less.
func (l *loop) write(c *lconn) bool {
	for c.sent < len(c.msg) {
		n, err := unix.Write(c.fd, c.msg[c.sent:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			l.fail(c, fmt.Errorf("write: %w", err))
			return false
		}
		c.sent += n
	}
	want := c.sent < len(c.msg)
	if want != c.writing {
		c.writing = want
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)}
		if want {
			ev.Events |= unix.EPOLLOUT
		}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev); err != nil {
			l.fail(c, os.NewSyscallError("epoll_ctl", err))
			return false
		}
	}
	return true
}

// read takes what has come back of c's echo; done when all of it is there and matches.
func (l *loop) read(c *lconn) (done, ok bool) {
	for {
		n, err := unix.Read(c.fd, c.echo[c.got:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return false, true
		}
		if err != nil {
			l.fail(c, fmt.Errorf("read: %w", err))
			return false, false
		}
		if n == 0 {
			l.fail(c, errors.New("server closed the connection"))
			return false, false
		}
		if !c.busy || c.got+n > c.sent {
			l.fail(c, errors.New("server sent bytes it was not sent"))
			return false, false
		}
		c.got += n
		if c.got < len(c.echo) {
			// Level-triggered: the rest is reported when it comes.
			return false, true
		}
		if string(c.echo) != string(c.msg) {
			l.fail(c, errors.New("echo differs from the message"))
			return false, false
		}
		c.busy = false
		return true, true
	}
}
