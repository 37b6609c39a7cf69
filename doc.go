// Package poller tells which raw file descriptors are ready for I/O, with the kernel's
// own mechanism: epoll on Linux, kqueue on the BSDs and macOS, and poll(2) and
// select(2) on every Unix. It is the layer an event loop, reactor or server builds on:
// no callbacks, no goroutines of its own, no net.Conn, and no dependency but
// golang.org/x/sys. It builds with CGO_ENABLED=0.
//
// This guide teaches the rules by example. The rules themselves, every promise the
// package makes on every backend, are listed in [CONTRACT.md] at the root of the module;
// the tests check each one.
//
// # The loop
//
// Make sockets non-blocking, register them, wait, and handle what is ready. Package
// github.com/rawpoll/poller/sock makes such sockets on every Unix (Listen, Accept, Dial,
// and FromConn for the fd inside a net.Listener or net.Conn):
//
//	p, err := poller.Open()
//	...
//	p.Add(listenFd, poller.Readable)
//	events := make([]poller.Event, 128)
//	for {
//		n, err := p.Wait(events, -1)
//		...
//		for _, ev := range events[:n] {
//			if ev.Flags&poller.Readable != 0 { /* accept or read until EAGAIN */ }
//			if ev.Flags&poller.Writable != 0 { /* write what is pending */ }
//		}
//	}
//
// A read that returns 0 means the peer closed: Delete the fd, then close it. Hangup and
// Errored are reported even if not asked for, and they also set the interest bits the fd
// was registered with (Priority included, see below), so a loop that only tests Readable
// still reaches that read.
// Writable is how a non-blocking connect reports that it finished; read its result with
// SO_ERROR (sock.Error).
//
// # Level, edge and one-shot
//
// Take a socket registered for Readable, and a peer that sends 2 KiB:
//
//  1. Level-triggered (the default): Wait reports the socket. The loop reads 1 KiB and
//     waits again: the socket is reported again, because data is still there. It is
//     reported on every Wait until it is drained.
//  2. EdgeTriggered: Wait reports the socket once, when the data arrives. If the loop
//     reads only 1 KiB, the next Wait does not report it again (nothing changed), and the
//     rest sits unread until the peer sends more. So in edge mode, read until EAGAIN.
//     poll and select cannot do this and give ErrUnsupported.
//  3. OneShot: Wait reports the socket once, then the registration is disarmed: silent
//     whatever happens, but still held (Add gives ErrExists), until Modify re-arms it. It
//     suits handing an fd to one worker at a time.
//
// In every mode, Add and Modify count as a change of state: readiness that already holds
// when they return is reported by the next Wait. So Modify(fd, Readable|Writable|
// EdgeTriggered) on a socket with room to write reports Writable at once, which is what
// a write backlog needs. Modify replaces the interest and the mode: pass EdgeTriggered
// (or OneShot) again on every Modify that should keep it, or the fd becomes
// level-triggered. A Modify that fails changes nothing.
//
// # Priority
//
// Priority waits for what the kernel calls an exceptional condition (POLLPRI), which Go's
// runtime poller cannot wait for: TCP urgent data (read it with recv and MSG_OOB; with
// SO_OOBINLINE off, the default, a lone urgent byte is Priority without Readable), an
// edge on a sysfs GPIO value file, a change of /proc/self/mountinfo, a pty master in
// packet mode. What it means is the file's business: the poller reports the kernel's bit. Add(fd, Priority) alone is a
// valid registration, and the usual one for files that are always readable.
//
// sysfs and procfs files signal a change as POLLPRI|POLLERR (fs/kernfs/file.c,
// fs/proc_namespace.c), so their events come as Priority|Errored on epoll and poll:
// there Errored means "changed", not a failure. A sysfs file stays Priority until it is
// read again from offset 0; mountinfo reports each change once.
//
// Hangup and Errored set Priority when the fd is registered for it, as they set Readable
// and Writable. Take a loop that watches a GPIO line or a pty for Priority alone and
// tests only that bit: were a hangup reported without Priority, the loop would skip the
// event, and level-triggered, Wait would report it again at once, forever. With the bit,
// the loop makes its read (or recv with MSG_OOB), which returns the error or EOF, and it
// can Delete and close the fd. On select that cannot happen: its except set is POLLPRI
// alone (a hangup or error sets the read and write sets), so an fd registered for
// Priority alone sees no hangup or error there.
//
// Edge-triggered on epoll, a Priority edge is any wakeup of the file while the condition
// holds: TCP wakes a socket's waiters for all arriving data with EPOLLIN|EPOLLPRI, so
// plain data that arrives while an urgent byte is unread reports Priority again.
// kqueue waits for Priority with EVFILT_EXCEPT and NOTE_OOB where that filter fires for
// out-of-band data alone (OpenBSD, DragonFly), and gives ErrUnsupported elsewhere:
// FreeBSD and NetBSD have no such filter, and macOS's also fires for plain data (XNU runs
// its socket read filter for it), which would wake a Priority-only fd for every byte.
// EVFILT_EXCEPT carries no hangup, so a Priority-only fd sees none on kqueue either.
//
// # Who owns the fds
//
// The poller never closes the fds it watches. Close an fd only after Delete. If that
// rule is broken: epoll and kqueue drop a closed fd themselves (epoll only once every
// duplicate of it is closed: until then the kernel goes on reporting the dead entry,
// golang/go#59545, and Wait drops those events by a tag of the registration, but each
// still costs a wakeup); poll and select report it as Errored on every Wait until it is
// deleted, and go on serving the others. Delete always succeeds for a held fd, so the
// number can be added again once the process reuses it.
//
// Inside one batch the caller owns the rule: if handling events[i] closes or
// re-registers fd X, a later events[j] for X in the same batch may be stale, and may
// even concern a new file that reused the number. The usual fix is a per-batch set of
// fds closed while handling it, checked before each event:
//
//	closed := closedThisBatch[:0]
//	for _, ev := range events[:n] {
//		if slices.Contains(closed, ev.Fd) {
//			continue
//		}
//		if done := handle(ev); done {
//			p.Delete(ev.Fd)
//			unix.Close(ev.Fd)
//			closed = append(closed, ev.Fd)
//		}
//	}
//
// With at most one event per fd per Wait (the poller guarantees it), this matters only
// when handling one fd closes another.
//
// Closing a Poller that still holds fds is fine: Close releases the poller's own
// descriptors only, and the watched fds stay open and usable, for another Poller too.
//
// # Running out of descriptors
//
// Open makes up to three descriptors of its own (epoll: the epoll fd and an eventfd;
// poll and select: a pipe; kqueue: the kqueue fd, and a pipe where EVFILT_USER is
// missing), and a parked Poller one more. If the process runs out at any step, Open
// returns the kernel's error (errors.Is(err, unix.EMFILE)) and closes what it had made.
// For an Add the kernel refuses for lack of resources, see Backends below; poll and
// select ask the kernel for nothing at Add, so their limits show at Wait, which returns
// the error and keeps every registration.
//
// # Concurrency
//
// Add, Modify, Delete, Wake and Close are safe from any goroutine, also while another
// goroutine is blocked in Wait, and a change takes effect in that blocked Wait. One Wait
// runs at a time: a second concurrent Wait returns ErrBusy. For more cores, open one
// Poller per core, each with its own fds (for servers, an SO_REUSEPORT listener each).
//
// Wake makes a blocked Wait return, or else the next one, possibly with n == 0. Wakes
// coalesce and a Wake while one is pending costs no syscall. Close wakes a blocked Wait,
// which returns ErrClosed, as does every later call.
//
// # Blocking or parked
//
// By default a Wait that must wait blocks its OS thread in the kernel (epoll_wait,
// kevent), as in every event loop library. That suits a goroutine that runs an event
// loop pinned to its thread (runtime.LockOSThread). With Config.Park, the Wait instead
// parks its goroutine in Go's runtime poller, the way a read on a net.Conn does, on the
// poller's own epoll, kqueue or event port descriptor, which is readable whenever a Wait
// would return:
//
//	p, err := poller.Config{Park: true}.Open()
//
// A parked Wait holds no OS thread while it waits, so a program can keep hundreds of
// idle pollers (one per device, tenant or connection group: GPIO, netlink, tun,
// inotify, signalfd fds) without a thread each; Go stops a program at 10,000 threads
// (runtime/debug.SetMaxThreads). And a Wake from another ordinary goroutine is a
// goroutine switch rather than a thread wakeup: a round trip takes half the time of a
// blocking one. On a goroutine locked to its thread it is the other way round (several
// times slower): the parked goroutine must be handed back to its one thread through the
// scheduler, so keep blocking there, and in a busy server, whose Waits rarely wait,
// blocking costs the same and answered with lower tail latency. Everything else is the
// same in both modes: Wait(0) never parks, timeouts are deadlines of the runtime poller
// (nanoseconds, never early), Wake and Close end a parked Wait, and nothing allocates.
// A parked Poller holds one more descriptor, a close-on-exec duplicate of its own that
// the runtime poller watches. poll and select have no such descriptor and give
// ErrUnsupported for Park.
//
// # Timeouts
//
// Wait's timeout is negative for no limit, zero to poll, and otherwise rounded up to the
// backend's resolution, never down: nanoseconds on epoll with epoll_pwait2 (Linux 5.11),
// else milliseconds; nanoseconds on kqueue and on poll under Linux (ppoll), else
// milliseconds; microseconds on select. EINTR is retried with the time that remains.
//
// # Backends
//
//	                   epoll            kqueue                 poll                 select
//	edge / one-shot    EPOLLET/ONESHOT  EV_CLEAR/EV_DISPATCH   ErrUnsupported/emul. ErrUnsupported/emul.
//	hangup             EPOLLRDHUP/HUP   EV_EOF                 POLLHUP, POLLRDHUP   not distinguishable
//	Priority           EPOLLPRI         EVFILT_EXCEPT (some)   POLLPRI              except set
//	fd limit           none             none                   none                 FdSetSize
//	cost of Wait       ready fds        ready fds              registered fds       highest fd
//	wake               eventfd          EVFILT_USER or pipe    pipe                 pipe
//
// A half-close (the peer shut down only its writing side) is reported as Hangup to a fd
// registered for Readable; a writer waiting for room is not woken by it. The fd's own
// shutdown(SHUT_WR) is no hangup on any backend: Linux reports plain Writable, and the
// BSD kernels' EV_EOF on the write filter becomes plain Writable too (with Errored if the
// socket has an error). select reports hangups and errors as plain readiness. Backends
// lists what this OS has, best first. illumos and Solaris have event ports (BackendPort)
// first, level-triggered and one-shot but with no edge-triggered mode (ErrUnsupported):
// a port reports an fd once per association, so each Wait associates again what the last
// one reported, and asks poll(2) what holds now of the fds the port returned; a half-close
// is a Hangup on illumos (POLLRDHUP) and plain Readable on Solaris. AIX has poll and
// select, poll being the best; on systems that are not Unix (Windows, Plan 9, js/wasm,
// wasip1) Open and OpenBackend return ErrUnsupported. Parking works on epoll, kqueue and
// event ports.
//
// Kernels differ on some fds, and the poller passes that on. Regular files: epoll
// refuses them (EPERM), kqueue reports them readable while the offset is short of the
// end (and always writable), poll and select report them always ready. A pipe whose
// reader is gone: epoll and poll report a write interest Writable|Errored; kqueue
// reports it Writable, and Writable|Errored on FreeBSD and DragonFly, whose kernels
// refuse the write filter with EPIPE (NetBSD: EBADF), which the poller takes as that
// report. A socket error with no EOF (an ICMP error on a UDP socket) fires kqueue's read
// filter with no error bit: Readable alone, where epoll also says Errored. An Add the
// kernel refuses for lack of resources (ENOMEM; epoll's ENOSPC past
// fs.epoll.max_user_watches) returns the wrapped errno and leaves the fd unregistered
// and the poller working; a kqueue Modify it refuses leaves the registration as it was.
//
// [CONTRACT.md]: https://github.com/rawpoll/poller/blob/main/CONTRACT.md
package poller
