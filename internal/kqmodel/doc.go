//go:build linux

// Package kqmodel is a test-only model of the BSD kqueue kernel interface, running on Linux
// over real Linux descriptors, so the poller's kqueue backend can execute here.
//
// # What it models
//
// kqueue(2) and kevent(2) as FreeBSD (and DragonFly), XNU (macOS), OpenBSD and NetBSD
// implement them, one Flavour each: knotes keyed by (ident, filter) per queue; EV_ADD,
// EV_DELETE, EV_ENABLE, EV_DISABLE, EV_ONESHOT, EV_CLEAR, EV_DISPATCH, EV_RECEIPT and EV_ERROR;
// the changelist error protocol of kern_kevent; the active queue and its delivery order;
// EVFILT_READ and EVFILT_WRITE over pipes, sockets (TCP, UDP, AF_UNIX), regular files and other
// pollable descriptors; EVFILT_EXCEPT with NOTE_OOB (darwin, openbsd); EVFILT_USER with
// NOTE_TRIGGER (freebsd, darwin); close() dropping a descriptor's knotes; blocking with
// timeouts, wakeups by other goroutines' changes and triggers, and EINTR.
//
// The rules come from the kernels' sources and manuals, cited next to the code that follows
// them: FreeBSD sys/kern/kern_event.c (kern_kevent_fp, kqueue_register, kqueue_scan),
// sys/kern/uipc_socket.c (filt_soread, filt_sowrite), sys/kern/sys_pipe.c (pipe_kqfilter,
// filt_piperead, filt_pipewrite), sys/kern/vfs_subr.c (filt_vfsread, filt_vfswrite) and the
// FreeBSD kqueue(2) manual (Debian freebsd-manpages); XNU bsd/kern/kern_event.c and
// bsd/kern/uipc_socket.c; OpenBSD and NetBSD sys/kern/kern_event.c, uipc_socket.c, sys_pipe.c.
//
// Readiness is derived from the Linux descriptor: poll(2) for the state, FIONREAD/SIOCINQ,
// SIOCOUTQ, SO_SNDBUF, F_GETPIPE_SZ and TCP_INFO for the numbers. An edge-triggered epoll
// registration of each watched descriptor stands for the kernel's KNOTE() calls: a Linux
// wakeup on the descriptor is an activation, after which the filter is run again.
//
// # What it cannot model
//
//   - The real so_error: Linux cannot read a socket's pending error without clearing it, so
//     fflags carries PendingErrorPlaceholder where a BSD reports so_error.
//   - Exact data values: free space is the buffer size less what is queued (BSD sbspace counts
//     mbufs); a listening socket reports 1, not the accept queue length; UDP reports the next
//     datagram's size (BSD: all bytes queued); eventfd and devices report 0.
//   - A stream socket's own shutdown(SHUT_WR) is seen for TCP (TCP_INFO state) and AF_UNIX
//     stream (a zero-length send); for datagram and seqpacket sockets EV_EOF on the write
//     filter comes only once both directions are shut (Linux POLLHUP).
//   - A never-connected TCP socket polls POLLHUP on Linux, so the model reports EV_EOF for it
//     where a BSD reports nothing.
//   - A descriptor closed and its number reused for the same open file (dup2 of a duplicate)
//     keeps its knotes: the model notices a close only as a failing fstat or a changed
//     device and inode, checked at each kevent call.
//   - Growth of a watched regular file raises no Linux wakeup: a sleeping kevent re-checks
//     files every 10ms, and the queue descriptor does not poll readable for it.
//   - Other filters (EVFILT_VNODE, EVFILT_TIMER, EVFILT_PROC, EVFILT_SIGNAL, ...), EV_FLAG1,
//     NOTE_LOWAT and filter-specific fflags are not modelled: unknown filters give EINVAL.
//   - Kernel resource limits: ENOMEM and friends happen only when injected (FailChange).
package kqmodel
