package main

import (
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// runRaw is runPoller written on x/sys/unix epoll directly.
func runRaw(port, loops int, eagain, poll0 bool) error {
	errc := make(chan error, loops)
	for i := 0; i < loops; i++ {
		lfd, err := listenReusePort(port)
		if err != nil {
			return err
		}
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return os.NewSyscallError("epoll_create1", err)
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(lfd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, lfd, &ev); err != nil {
			return os.NewSyscallError("epoll_ctl", err)
		}
		go func() { lockLoop(); errc <- rawLoop(epfd, lfd, eagain, poll0) }()
	}
	return <-errc
}

func rawLoop(epfd, lfd int, eagain, poll0 bool) error {
	// The same interest the poller package asks for: RDHUP comes with read interest.
	const (
		readOnly  = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET
		readWrite = readOnly | unix.EPOLLOUT
		readReady = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR
		// Hangup and error also end a write wait: the write then fails and closes.
		writeReady = unix.EPOLLOUT | unix.EPOLLHUP | unix.EPOLLERR
	)
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, readBufSize)
	var tab []conn
	timeout := time.Duration(-1)
	for {
		var n int
		var err error
		if timeout == 0 {
			n, err = epollPoll(epfd, events)
		} else {
			n, err = unix.EpollWait(epfd, events, -1)
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("epoll_wait", err)
		}
		if timeout, n = pollTimeout(poll0, timeout, n); n < 0 {
			continue
		}
		for i := range events[:n] {
			fd := int(events[i].Fd)
			ready := events[i].Events
			if fd == lfd {
				for {
					cfd, err := acceptOne(lfd)
					if err != nil {
						fmt.Fprintln(os.Stderr, "echoserver:", err)
					}
					if cfd < 0 {
						break
					}
					ev := unix.EpollEvent{Events: readOnly, Fd: int32(cfd)}
					if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, cfd, &ev); err != nil {
						unix.Close(cfd)
						return os.NewSyscallError("epoll_ctl", err)
					}
					tab = table(tab, cfd)
					tab[cfd] = conn{open: true}
				}
				continue
			}
			c := &tab[fd]
			st := echoIdle
			if ready&writeReady != 0 && c.writable {
				st = serveWritable(fd, c, buf, eagain)
			}
			if st != echoClose && ready&readReady != 0 && !c.paused {
				st = serveReadable(fd, c, buf, eagain)
			}
			switch {
			case st == echoClose:
				var ev unix.EpollEvent
				unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, fd, &ev)
				unix.Close(fd)
				*c = conn{}
			case (st == echoWantWrite) != c.writable:
				c.writable = st == echoWantWrite
				ev := unix.EpollEvent{Events: readOnly, Fd: int32(fd)}
				if c.writable {
					ev.Events = readWrite
				}
				if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
					return os.NewSyscallError("epoll_ctl", err)
				}
			}
		}
	}
}

// epollPoll is epoll_wait with a zero timeout made the way the poller package makes it
// (RawSyscall6, no scheduler hand-off: the call cannot block), so that raw stays the
// ceiling for the poller server.
func epollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	r, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
