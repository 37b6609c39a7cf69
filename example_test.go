//go:build linux

package poller_test

import (
	"fmt"
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
	fmt.Println("backend:", p.Backend())
	fmt.Println("all here:", poller.Backends())
	// Output:
	// backend: epoll
	// all here: [epoll poll select]
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
	p, _ := poller.Open()
	defer p.Close()
	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])

	p.Add(fds[0], poller.Readable|poller.EdgeTriggered)
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
	defer p.Close()
	p.Add(conn, poller.Priority)

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
