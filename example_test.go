//go:build linux

package poller_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rawpoll/poller"
	"golang.org/x/sys/unix"
)

func ExampleOpen() {
	p, err := poller.Open()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	bs := poller.Backends() // best first: epoll on Linux, kqueue on the BSDs and macOS
	fmt.Println("the best:", p.Backend() == bs[0])
	fmt.Println("portable ones:", bs[len(bs)-2:])
	// Output:
	// the best: true
	// portable ones: [poll select]
}

func ExamplePoller_Wait() {
	p, _ := poller.Open()
	defer p.Close()
	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	defer unix.Close(fds[0])

	p.Add(fds[0], poller.Readable)
	unix.Write(fds[1], []byte("hello"))
	unix.Close(fds[1]) // the peer hangs up after writing

	events := make([]poller.Event, 16)
	buf := make([]byte, 64)
	for open := true; open; {
		n, err := p.Wait(events, time.Second)
		if err != nil || n == 0 {
			fmt.Println("no event:", err)
			return
		}
		for _, ev := range events[:n] {
			if ev.Flags&poller.Readable == 0 {
				continue
			}
			// Level-triggered: reading once is enough; what is left is reported again.
			k, _ := unix.Read(ev.Fd, buf)
			if k == 0 { // EOF: unregister first, then the caller may close
				fmt.Println("peer closed")
				p.Delete(ev.Fd)
				open = false
				continue
			}
			fmt.Printf("read %q (%v)\n", buf[:k], ev.Flags)
		}
	}
	// Output:
	// read "hello" (Readable|Hangup)
	// peer closed
}

func ExamplePoller_Add_edgeTriggered() {
	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])

	// The best backend that has an edge-triggered mode: epoll or kqueue (event ports,
	// poll and select give ErrUnsupported).
	var p *poller.Poller
	for _, b := range poller.Backends() {
		p, _ = poller.OpenBackend(b)
		if p.Add(fds[0], poller.Readable|poller.EdgeTriggered) == nil {
			break
		}
		p.Close()
	}
	defer p.Close()
	unix.Write(fds[1], []byte("0123456789"))

	events := make([]poller.Event, 4)
	n, _ := p.Wait(events, time.Second)
	fmt.Println("first wait:", n, "event")

	// Edge-triggered: drain until EAGAIN, or the rest waits for the next edge.
	buf := make([]byte, 4)
	total := 0
	for {
		k, err := unix.Read(fds[0], buf)
		if err == unix.EAGAIN {
			break
		}
		total += k
	}
	fmt.Println("drained", total, "bytes")

	n, _ = p.Wait(events, 10*time.Millisecond)
	fmt.Println("second wait:", n, "events")
	// Output:
	// first wait: 1 event
	// drained 10 bytes
	// second wait: 0 events
}

// A registration for Priority alone waits for exceptional conditions only: here TCP
// urgent data, which Go's runtime poller cannot wait for. Plain data does not wake it.
func ExamplePoller_Add_priority() {
	// A TCP connection on 127.0.0.1: conn receives, peer sends.
	ln, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(ln)
	unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	unix.Listen(ln, 1)
	addr, _ := unix.Getsockname(ln)
	peer, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(peer)
	unix.Connect(peer, addr)
	conn, _, err := unix.Accept4(ln, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Close(conn)

	p, _ := poller.Open()
	if err := p.Add(conn, poller.Priority); errors.Is(err, poller.ErrUnsupported) {
		// kqueue on FreeBSD, NetBSD and macOS cannot wait for out-of-band data alone;
		// poll can, everywhere.
		p.Close()
		p, _ = poller.OpenBackend(poller.BackendPoll)
		p.Add(conn, poller.Priority)
	}
	defer p.Close()

	unix.Write(peer, []byte("plain"))
	unix.Send(peer, []byte{'!'}, unix.MSG_OOB) // one byte of urgent data

	events := make([]poller.Event, 8)
	n, _ := p.Wait(events, time.Second)
	for _, ev := range events[:n] {
		if ev.Flags&poller.Priority != 0 {
			// With SO_OOBINLINE off (the default) the urgent byte is read apart from
			// the stream; until it is, level-triggered Waits report it again.
			var b [1]byte
			k, _, err := unix.Recvfrom(ev.Fd, b[:], unix.MSG_OOB)
			fmt.Printf("%v: urgent %q %v\n", ev.Flags, b[:max(k, 0)], err)
		}
	}
	buf := make([]byte, 16)
	k, err := unix.Read(conn, buf)
	fmt.Printf("stream: %q %v\n", buf[:max(k, 0)], err)
	// Output:
	// Priority: urgent "!" <nil>
	// stream: "plain" <nil>
}

func ExampleFdSet() {
	var s poller.FdSet
	s.Set(3)
	s.Set(7)
	fmt.Println(s.IsSet(3), s.IsSet(4), s.Count())
	fmt.Println(s.Set(poller.FdSetSize))
	fmt.Println(s.IsSet(-1), s.IsSet(poller.FdSetSize)) // out of range: false, no panic
	s.Clear(3)
	fmt.Println(s.Count())
	// Output:
	// true false 2
	// poller: fd does not fit in an fd_set
	// false false
	// 1
}

func ExampleSelect() {
	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	unix.Write(fds[1], []byte("x"))

	var r, w poller.FdSet
	if err := r.Set(fds[0]); err != nil {
		fmt.Println(err) // ErrFdTooLarge past FdSetSize
		return
	}
	w.Set(fds[0])
	n, err := poller.Select(fds[0]+1, &r, &w, nil, time.Second)
	fmt.Println(n, err, r.IsSet(fds[0]), w.IsSet(fds[0]))
	// Output:
	// 2 <nil> true true
}

// Wake hands work to an event loop from other goroutines, and stops it: queue the work
// (or set the stop flag), then Wake, and the loop's Wait returns, with n == 0 if no fd
// is ready. Wakes that come before the loop gets to them coalesce into one return; the
// loop drains the whole queue each time, so none is lost.
func ExamplePoller_Wake() {
	p, err := poller.Open()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()

	var (
		mu    sync.Mutex
		queue []string // work handed to the loop
		stop  atomic.Bool
	)
	done := make(chan struct{})
	go func() { // the event loop
		defer close(done)
		events := make([]poller.Event, 64)
		for {
			n, err := p.Wait(events, -1)
			if err != nil {
				return
			}
			_ = events[:n] // serve the ready fds here, then the queue
			mu.Lock()
			jobs := queue
			queue = nil
			mu.Unlock()
			for _, job := range jobs {
				fmt.Println("loop ran", job)
			}
			if stop.Load() {
				fmt.Println("loop stopped")
				return
			}
		}
	}()

	// Another goroutine: two jobs, then the stop request, each followed by a Wake.
	mu.Lock()
	queue = append(queue, "job 1", "job 2")
	mu.Unlock()
	p.Wake()
	stop.Store(true)
	p.Wake()
	<-done
	// Output:
	// loop ran job 1
	// loop ran job 2
	// loop stopped
}

// OneShot hands a ready fd from the goroutine that waits to a worker. The Wait that
// reports the fd disarms it, so no later Wait reports it while the worker has it, even
// with its data still unread; the worker re-arms it with Modify when it is done, and
// the fd stays registered all along (Add again would say ErrExists).
func ExamplePoller_Add_oneShot() {
	p, err := poller.Open()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	conn, peer := fds[0], fds[1]
	defer unix.Close(conn)
	defer unix.Close(peer)
	p.Add(conn, poller.Readable|poller.OneShot)

	handoff := make(chan int)     // the waiter gives the worker a ready fd
	served := make(chan struct{}) // the worker has re-armed it

	// The worker.
	go func() {
		buf := make([]byte, 64)
		for fd := range handoff {
			n, _ := unix.Read(fd, buf)
			fmt.Printf("worker: read %q, re-arming\n", buf[:n])
			p.Modify(fd, poller.Readable|poller.OneShot) // delete it instead if the peer closed
			served <- struct{}{}
		}
	}()

	events, more := make([]poller.Event, 8), make([]poller.Event, 8)
	for _, msg := range []string{"one", "two"} {
		unix.Write(peer, []byte(msg))
		n, _ := p.Wait(events, 5*time.Second)
		for _, ev := range events[:n] {
			// The data is still unread, yet the fd is disarmed: Wait reports nothing.
			again, _ := p.Wait(more, 0)
			fmt.Printf("waiter: fd ready, handing it over (reported again before re-arming: %v)\n", again > 0)
			handoff <- ev.Fd
		}
		<-served // only so that the output comes in order; a waiter would go on waiting
	}
	close(handoff)
	// Output:
	// waiter: fd ready, handing it over (reported again before re-arming: false)
	// worker: read "one", re-arming
	// waiter: fd ready, handing it over (reported again before re-arming: false)
	// worker: read "two", re-arming
}

// A write backlog: when the kernel does not take a whole write, keep the rest, Modify
// the fd to Readable|Writable, and write more on each Writable; once the backlog is
// empty, Modify back to Readable, or every Wait would report the fd writable again.
func ExamplePoller_Modify_writeBacklog() {
	p, err := poller.Open()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	conn, peer := fds[0], fds[1] // conn non-blocking, as a server's are; peer a blocking reader
	defer unix.Close(conn)
	defer unix.Close(peer)
	unix.SetNonblock(conn, true)
	p.Add(conn, poller.Readable)

	msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: more than the socket buffers
	w, err := unix.Write(conn, msg)
	if err != nil { // EAGAIN: the kernel took nothing this time
		w = 0
	}
	backlog := msg[w:]
	fmt.Println("the kernel took part; the rest waits:", len(backlog) > 0)

	received := make(chan int)
	go func() { // a slow client, reading the reply
		buf := make([]byte, 64<<10)
		total := 0
		for total < len(msg) {
			n, err := unix.Read(peer, buf)
			if err != nil || n == 0 {
				break
			}
			total += n
		}
		received <- total
	}()
	p.Modify(conn, poller.Readable|poller.Writable)

	events := make([]poller.Event, 8)
	for len(backlog) > 0 {
		n, err := p.Wait(events, 5*time.Second)
		if err != nil || n == 0 {
			fmt.Println("no event:", err)
			return
		}
		for _, ev := range events[:n] {
			if ev.Flags&poller.Writable != 0 {
				if w, err := unix.Write(ev.Fd, backlog); err == nil {
					backlog = backlog[w:]
				}
			}
		}
	}
	p.Modify(conn, poller.Readable) // drained: stop asking for Writable
	n, _ := p.Wait(events, 0)
	fmt.Println("backlog flushed; events now:", n)
	fmt.Println("the client received", <-received, "bytes")
	// Output:
	// the kernel took part; the rest waits: true
	// backlog flushed; events now: 0
	// the client received 1048576 bytes
}
