//go:build linux

// Package kqmodel is a test-only model of the BSD kqueue kernel interface, running on Linux
// over real Linux descriptors, so the poller's kqueue backend can execute here.
//
// # What it models
//
// kqueue(2) and kevent(2) as four kernel families implement them, one Flavour each: FreeBSD
// (standing for DragonFly too), Darwin (XNU), OpenBSD and NetBSD. Per queue: knotes keyed by
// (ident, filter); EV_ADD, EV_DELETE, EV_ENABLE, EV_DISABLE, EV_ONESHOT, EV_CLEAR,
// EV_DISPATCH, EV_RECEIPT and EV_ERROR; the changelist error protocol of kevent; the active
// queue, its delivery order and rotation; EVFILT_READ and EVFILT_WRITE over pipes, sockets
// (TCP, UDP, AF_UNIX, listening), regular files and other pollable descriptors; EVFILT_EXCEPT
// with NOTE_OOB (darwin, openbsd); EVFILT_USER with NOTE_TRIGGER (freebsd, darwin); close()
// dropping a descriptor's knotes; blocking with timeouts, wakeups by other goroutines'
// changes and triggers, and EINTR; injected faults (Kernel.FailCall, Kernel.FailChange).
// Where the kernels differ, each flavour follows its own source: which changes replace
// udata, EV_ENABLE|EV_DISABLE, the EV_ERROR entry's flags, a receipt with no room left,
// whether EV_ONESHOT re-runs the filter, the flags delivered events carry, what EVFILT_WRITE
// on a pipe without a reader does, what EVFILT_EXCEPT fires on, and NetBSD's
// EV_CLEAR-before-EV_DISPATCH chain.
//
// The rules come from the kernels' sources and manuals, cited next to the code that follows
// them: FreeBSD sys/kern/kern_event.c (kern_kevent_fp, kqueue_register, kqueue_scan,
// filt_usertouch), sys/kern/uipc_socket.c (filt_soread, filt_sowrite), sys/kern/sys_pipe.c
// (pipe_kqfilter, filt_piperead, filt_pipewrite), sys/kern/vfs_subr.c (filt_vfsread,
// filt_vfswrite) and the FreeBSD kqueue(2) manual (Debian freebsd-manpages 12.2); XNU
// (xnu-11417) bsd/kern/kern_event.c (kevent_register, knote_apply_touch, knote_process,
// kevent_internal), bsd/kern/uipc_socket.c (filt_soread_common, filt_sowrite_common,
// soexcept_filtops) and bsd/kern/sys_pipe.c; OpenBSD sys/kern/kern_event.c (sys_kevent,
// kqueue_register, kqueue_scan), sys/sys/event.h (knote_process_fn), sys/kern/uipc_socket.c
// (filt_soexcept) and sys/kern/sys_pipe.c; NetBSD sys/kern/kern_event.c 1.140 (kevent1,
// kqueue_register, kqueue_scan) and sys/kern/sys_pipe.c.
//
// Readiness is derived from the Linux descriptor: poll(2) for the state; FIONREAD/SIOCINQ,
// SIOCOUTQ, SO_SNDBUF, F_GETPIPE_SZ, fstat and the file offset for the numbers; TCP_INFO and
// a zero-length AF_UNIX send for a socket's own shutdown(SHUT_WR). An edge-triggered epoll
// registration of each watched descriptor stands for the kernel's KNOTE() calls (read side
// and write side in separate epoll instances, as the socket buffers have separate knote
// lists): a Linux wakeup on the descriptor is an activation, after which the filter runs
// again. The descriptor Kqueue returns is an epoll instance that polls readable exactly
// while a kevent call could return an event (FreeBSD kqueue_poll: readable while kq_count
// is non-zero), so Go's runtime poller can wait on it.
//
// # What it cannot model
//
//   - The real so_error: Linux cannot read a socket's pending error without clearing it, so
//     fflags carries PendingErrorPlaceholder where a BSD reports so_error; the caller's
//     SO_ERROR is left intact.
//   - Exact data values: free space is the buffer size less what is queued (BSD sbspace
//     counts mbufs); a listening socket reports 1, not the accept queue length; UDP reports
//     the next datagram's size (BSD: every byte queued); eventfd and devices report 0.
//   - A socket's own shutdown(SHUT_WR) is seen for TCP and AF_UNIX stream sockets only; for
//     datagram and seqpacket sockets EV_EOF on the write filter comes once both directions
//     are shut (Linux POLLHUP). A never-connected TCP socket polls POLLHUP on Linux, so the
//     model reports EV_EOF for it where a BSD reports nothing.
//   - POLLERR also means a non-empty socket error queue (MSG_ERRQUEUE); the model takes it
//     for a pending so_error. Errors Linux raises where a BSD raises none show up as one too
//     (an AF_UNIX stream peer that closes with unread data leaves ECONNRESET on Linux).
//   - A descriptor closed and its number reused for the same open file (dup2 of a duplicate
//     onto it) keeps its knotes: the model notices a close as a failing fstat or a changed
//     device and inode, checked where a close is observable (before an active knote is
//     delivered, at each change naming the number, and for watched regular files at each
//     call), so a closed descriptor's idle knotes linger unseen. A closed descriptor whose file a
//     duplicate keeps open stays in the model's epoll set (unreachable by number); its
//     wakeups are ignored but can make the queue descriptor poll readable until the next
//     kevent call.
//   - Growth of a watched regular file raises no Linux wakeup: a sleeping kevent re-checks
//     files every 10ms, and the queue descriptor does not poll readable for it. Other vnode
//     events (NOTE_DELETE, revoke) are not modelled.
//   - Other filters (EVFILT_VNODE, EVFILT_TIMER, EVFILT_PROC, EVFILT_SIGNAL, EVFILT_AIO, ...),
//     NOTE_LOWAT and filter-specific fflags are not modelled: unknown filters give EINVAL.
//     EVFILT_USER exists in NetBSD 10 and OpenBSD 7.x kernels but not in their x/sys, so those
//     flavours refuse it.
//   - The NetBSD flavour follows kern_event.c 1.140 (NetBSD 10) except that it ignores
//     EV_RECEIPT, as NetBSD 9 does by the account and as x/sys (no EV_RECEIPT for
//     NetBSD) forces a caller to assume; 1.140's kevent1 honours it. No NetBSD 9 source was
//     at hand to check; 1.83 (NetBSD 7) has neither EV_RECEIPT nor EV_DISPATCH. EV_DISPATCH
//     is accepted so that the EV_CLEAR-first chain can be exercised.
//   - XNU's workloop and kevent_qos machinery (EV_UDATA_SPECIFIC, EV_DISPATCH2, EV_VANISHED,
//     KEVENT_FLAG_*) and FreeBSD's EV_FORCEONESHOT, EV_DROP and EV_FLAG1 are not modelled.
//   - Kernel resource limits: ENOMEM and the like happen only when injected (FailChange).
package kqmodel
