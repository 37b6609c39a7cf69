//go:build linux

package sock_test

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/rawpoll/poller"
	"github.com/rawpoll/poller/sock"
	"golang.org/x/sys/unix"
)

// A listener made by package net, served by a poller: FromConn takes a non-blocking
// duplicate of its fd, and the net.Listener can be closed.
func ExampleFromConn() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	lfd, err := sock.FromConn(ln.(*net.TCPListener))
	addr := ln.Addr().String()
	ln.Close() // the duplicate goes on listening
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Close(lfd)

	p, err := poller.Open()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	p.Add(lfd, poller.Readable)

	go func() { // a client
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Write([]byte("hello"))
			c.Close()
		}
	}()

	events := make([]poller.Event, 8)
	conn := -1
	for {
		n, err := p.Wait(events, 5*time.Second)
		if err != nil || n == 0 {
			fmt.Println("no event:", err)
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == lfd {
				fd, _, err := sock.Accept(lfd)
				if err != nil {
					continue // EAGAIN: another Wait
				}
				conn = fd
				p.Add(conn, poller.Readable)
				fmt.Println("accepted")
				continue
			}
			buf := make([]byte, 64)
			n, err := sock.Read(ev.Fd, buf)
			if errors.Is(err, unix.EAGAIN) {
				continue
			}
			if n == 0 { // the client closed
				p.Delete(conn)
				unix.Close(conn)
				fmt.Println("closed")
				return
			}
			fmt.Printf("read %q\n", buf[:n])
		}
	}
	// Output:
	// accepted
	// read "hello"
	// closed
}

// A non-blocking connect: Dial returns at once, the poller reports the socket
// Writable when the connect has ended, and Error says how it ended.
func ExampleDial() {
	lfd, err := sock.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	addr, _ := sock.LocalAddr(lfd) // the port the kernel chose
	p, err := poller.Open()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()

	connect := func(address string) {
		fd, err := sock.Dial("tcp", address)
		if err != nil {
			fmt.Println("dial:", err)
			return
		}
		defer unix.Close(fd)
		p.Add(fd, poller.Writable)
		defer p.Delete(fd)
		events := make([]poller.Event, 1)
		if n, err := p.Wait(events, 5*time.Second); n == 0 || err != nil {
			fmt.Println("no event:", err)
			return
		}
		if err := sock.Error(fd); err != nil {
			fmt.Println("refused:", errors.Is(err, unix.ECONNREFUSED))
			return
		}
		fmt.Println("connected")
	}

	connect(addr.String())
	unix.Close(lfd) // nobody listens on that port any more
	connect(addr.String())
	// Output:
	// connected
	// refused: true
}

// One listener per event loop on the same address: with ReusePort every loop binds
// the port, and the kernel spreads the connections over them (Linux, DragonFly,
// FreeBSD).
func ExampleListenConfig() {
	lc := sock.ListenConfig{ReusePort: true}
	first, err := lc.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Close(first)
	addr, _ := sock.LocalAddr(first)
	second, err := lc.Listen("tcp4", addr.String()) // the same port
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Close(second)

	_, err = sock.Listen("tcp4", addr.String()) // without ReusePort
	fmt.Println("two loops' listeners; a third without ReusePort:", errors.Is(err, unix.EADDRINUSE))
	// Output:
	// two loops' listeners; a third without ReusePort: true
}
