package main

import (
	"fmt"
	"os"
	"time"

	"github.com/rawpoll/poller"
	"golang.org/x/sys/unix"
)

// runPoller serves with loops edge-triggered poller loops, each with its own listener;
// with park, their Waits park in the runtime poller (Config.Park).
func runPoller(port, loops int, eagain, poll0, park bool) error {
	errc := make(chan error, loops)
	for i := 0; i < loops; i++ {
		lfd, err := listenReusePort(port)
		if err != nil {
			return err
		}
		p, err := poller.Config{Park: park}.Open()
		if err != nil {
			return err
		}
		if err := p.Add(lfd, poller.Readable|poller.EdgeTriggered); err != nil {
			return err
		}
		go func() { lockLoop(); errc <- pollerLoop(p, lfd, eagain, poll0) }()
	}
	return <-errc
}

func pollerLoop(p *poller.Poller, lfd int, eagain, poll0 bool) error {
	const (
		readOnly  = poller.Readable | poller.EdgeTriggered
		readWrite = poller.Readable | poller.Writable | poller.EdgeTriggered
	)
	events := make([]poller.Event, 256)
	buf := make([]byte, readBufSize)
	var tab []conn
	timeout := time.Duration(-1)
	for {
		n, err := p.Wait(events, timeout)
		if err != nil {
			return err
		}
		// See pollTimeout.
		if timeout, n = pollTimeout(poll0, timeout, n); n < 0 {
			continue
		}
		for _, ev := range events[:n] {
			fd := ev.Fd
			if fd == lfd {
				for {
					cfd, err := acceptOne(lfd)
					if err != nil {
						fmt.Fprintln(os.Stderr, "echoserver:", err)
					}
					if cfd < 0 {
						break
					}
					if err := p.Add(cfd, readOnly); err != nil {
						unix.Close(cfd)
						return err
					}
					tab = table(tab, cfd)
					tab[cfd] = conn{open: true}
				}
				continue
			}
			c := &tab[fd]
			st := echoIdle
			if ev.Flags&poller.Writable != 0 && c.writable {
				st = serveWritable(fd, c, buf, eagain)
			}
			if st != echoClose && ev.Flags&poller.Readable != 0 && !c.paused {
				st = serveReadable(fd, c, buf, eagain)
			}
			switch {
			case st == echoClose:
				p.Delete(fd)
				unix.Close(fd)
				*c = conn{}
			case (st == echoWantWrite) != c.writable:
				c.writable = st == echoWantWrite
				flags := readOnly
				if c.writable {
					flags = readWrite
				}
				if err := p.Modify(fd, flags); err != nil {
					return err
				}
			}
		}
	}
}
