//go:build linux

package kqmodel

import (
	"golang.org/x/sys/unix"
)

// Linux TCP states (include/net/tcp_states.h) in which the socket can send no more: every one
// is reached only through the socket's own shutdown(SHUT_WR) or close, or a reset.
const (
	tcpFinWait1 = 4
	tcpFinWait2 = 5
	tcpTimeWait = 6
	tcpClose    = 7
	tcpLastAck  = 9
	tcpClosing  = 11
)

// eval runs the knote's filter against the descriptor's current state, as the BSD f_event
// routines do at registration, at each wakeup and again at delivery.
func (k *Kernel) eval(kn *knote) result {
	if kn.kind == kindUser {
		// FreeBSD filt_user returns kn_hookid (set by NOTE_TRIGGER); filt_usertouch
		// EVENT_PROCESS reports kn_sfflags and kn_sdata. XNU filt_user/filt_userprocess alike.
		return result{ready: kn.triggered, data: kn.sdata, fflags: kn.sfflags & noteFFlagsMask}
	}
	w := kn.w
	if w.polled {
		return evalFile(kn)
	}
	pfd := [1]unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN | unix.POLLOUT | unix.POLLPRI | unix.POLLRDHUP}}
	if _, err := unix.Poll(pfd[:], 0); err != nil {
		return result{}
	}
	rev := pfd[0].Revents
	switch kn.kind {
	case kindRead:
		return evalRead(w, rev)
	case kindWrite:
		return evalWrite(w, rev)
	case kindExcept:
		return k.evalExcept(kn, rev)
	}
	return result{}
}

// evalFile is the vnode filter of a regular file. Read: FreeBSD filt_vfsread sets kn_data to
// va_size - f_offset and fires when it is non-zero (OpenBSD filt_readvnode, NetBSD
// filt_fileread, XNU filt_vnode's EVFILT_READ the same). Write: FreeBSD filt_vfswrite,
// OpenBSD filt_writevnode: always ready, data 0.
func evalFile(kn *knote) result {
	if kn.kind != kindRead {
		return result{ready: kn.kind == kindWrite}
	}
	var st unix.Stat_t
	if unix.Fstat(kn.w.fd, &st) != nil {
		return result{}
	}
	off, err := unix.Seek(kn.w.fd, 0, 1) // SEEK_CUR: reads the offset, moves nothing
	if err != nil {
		return result{}
	}
	n := st.Size - off
	return result{ready: n > 0, data: max64(n, 0)}
}

// evalRead is EVFILT_READ on a pipe, socket or other pollable descriptor.
func evalRead(w *watch, rev int16) result {
	switch w.mode {
	case unix.S_IFIFO:
		// FreeBSD filt_piperead: kn_data = the bytes in the buffer; EV_EOF once the writer is
		// gone (PIPE_EOF or the peer not PIPE_ACTIVE), then ready whatever the count. Linux
		// pipe_poll raises POLLHUP when no writer is left.
		n, _ := unix.IoctlGetInt(w.fd, unix.SIOCINQ) // FIONREAD
		r := result{data: int64(n), ready: n > 0}
		if rev&unix.POLLHUP != 0 {
			r.ready, r.flags = true, EV_EOF
		}
		return r
	case unix.S_IFSOCK:
		// FreeBSD uipc_socket.c filt_soread: a listening socket fires with the accept queue
		// length; otherwise kn_data = the bytes in so_rcv; SBS_CANTRCVMORE sets EV_EOF with
		// fflags = so_error and fires; else a pending so_error fires with no flag ("temporary
		// udp error"); else it fires when kn_data reaches the low-water mark. Linux: POLLIN
		// honours SO_RCVLOWAT, POLLRDHUP is RCV_SHUTDOWN (peer's FIN or own SHUT_RD), POLLHUP
		// both directions shut, POLLERR a pending sk_err.
		if w.sotype == unix.SOCK_STREAM {
			if on, _ := unix.GetsockoptInt(w.fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); on != 0 {
				// Linux does not tell the accept queue's length without sock_diag: report 1.
				if rev&unix.POLLIN != 0 {
					return result{ready: true, data: 1}
				}
				return result{}
			}
		}
		n, _ := unix.IoctlGetInt(w.fd, unix.SIOCINQ)
		r := result{data: int64(n), ready: rev&unix.POLLIN != 0}
		errPending := rev&unix.POLLERR != 0
		if rev&(unix.POLLRDHUP|unix.POLLHUP) != 0 {
			r.ready, r.flags = true, EV_EOF
			if errPending {
				r.fflags = uint32(PendingErrorPlaceholder)
			}
		} else if errPending {
			r.ready = true
		}
		return r
	}
	// Anything else epoll accepts (eventfd, tty, character device): readable on POLLIN, EOF on
	// POLLHUP; data when FIONREAD answers, else 0.
	n, _ := unix.IoctlGetInt(w.fd, unix.SIOCINQ)
	r := result{data: int64(n), ready: rev&unix.POLLIN != 0}
	if rev&unix.POLLHUP != 0 {
		r.ready, r.flags = true, EV_EOF
	}
	return r
}

// evalWrite is EVFILT_WRITE on a pipe, socket or other pollable descriptor. data, the room to
// write, is approximate: the buffer size less what is queued, not the BSD sbspace() that also
// counts mbufs.
func evalWrite(w *watch, rev int16) result {
	switch w.mode {
	case unix.S_IFIFO:
		// FreeBSD filt_pipewrite: reader gone: data 0, EV_EOF, fires; else kn_data = free
		// space, fires when at least PIPE_BUF is free. Linux pipe_poll: POLLERR once no reader
		// is left, POLLOUT when a slot is free.
		if rev&unix.POLLERR != 0 {
			return result{ready: true, flags: EV_EOF}
		}
		size, _ := unix.FcntlInt(uintptr(w.fd), unix.F_GETPIPE_SZ, 0)
		n, _ := unix.IoctlGetInt(w.fd, unix.SIOCINQ)
		return result{ready: rev&unix.POLLOUT != 0, data: max64(int64(size-n), 0)}
	case unix.S_IFSOCK:
		// FreeBSD filt_sowrite: SBS_CANTSENDMORE (own shutdown(SHUT_WR), a reset or closed
		// connection) sets EV_EOF with fflags = so_error and fires; else a pending so_error
		// fires; else it fires when sbspace reaches the low-water mark and the socket is
		// connected (or needs no connection). XNU filt_sowrite_common, OpenBSD and NetBSD
		// filt_sowrite the same.
		sndbuf, _ := unix.GetsockoptInt(w.fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
		queued, _ := unix.IoctlGetInt(w.fd, unix.SIOCOUTQ)
		r := result{ready: rev&unix.POLLOUT != 0, data: max64(int64(sndbuf-queued), 0)}
		errPending := rev&unix.POLLERR != 0
		if rev&unix.POLLHUP != 0 || cantSendMore(w) {
			r.ready, r.flags, r.data = true, EV_EOF, 0
			if errPending {
				r.fflags = uint32(PendingErrorPlaceholder)
			}
		} else if errPending {
			r.ready = true
		}
		return r
	}
	r := result{ready: rev&unix.POLLOUT != 0}
	if rev&unix.POLLHUP != 0 {
		r.ready, r.flags = true, EV_EOF
	}
	return r
}

// cantSendMore tells a stream socket's own shutdown(SHUT_WR), which Linux's poll does not
// show (POLLHUP needs both directions shut). TCP: the state after the socket sent or queued
// its FIN (TCP_INFO, which reads without side effects; a zero-length send would, because
// tcp_sendmsg consumes a pending sk_err through sock_error). AF_UNIX stream: a zero-length
// send, which unix_stream_sendmsg refuses with EPIPE once SEND_SHUTDOWN is set and otherwise
// completes without sending or touching any error. Datagram and seqpacket sockets (a
// zero-length send would send an empty message) and other families: not detected.
func cantSendMore(w *watch) bool {
	if w.sotype != unix.SOCK_STREAM {
		return false
	}
	switch w.family {
	case unix.AF_INET, unix.AF_INET6:
		ti, err := unix.GetsockoptTCPInfo(w.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return false
		}
		switch ti.State {
		case tcpFinWait1, tcpFinWait2, tcpTimeWait, tcpLastAck, tcpClosing:
			return true
		}
		return false
	case unix.AF_UNIX:
		return unix.Sendto(w.fd, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, nil) == unix.EPIPE
	}
	return false
}

// evalExcept is EVFILT_EXCEPT, asked for with NOTE_OOB. OpenBSD filt_soexcept fires only
// while out-of-band data is pending ("so->so_oobmark || (so->so_rcv.sb_state &
// SS_RCVATMARK)"), with NOTE_OOB in fflags. XNU's soexcept_filtops run filt_soread itself:
// filt_soread_common reports NOTE_OOB at the mark, and otherwise fires on whatever
// EVFILT_READ fires on (data, EOF, a pending error). Linux shows TCP urgent data as POLLPRI.
func (k *Kernel) evalExcept(kn *knote, rev int16) result {
	oob := kn.sfflags&k.sys.NoteOOB != 0 && rev&unix.POLLPRI != 0
	if k.flavour == Darwin {
		if oob {
			n, _ := unix.IoctlGetInt(kn.w.fd, unix.SIOCINQ)
			return result{ready: true, data: int64(n), fflags: k.sys.NoteOOB}
		}
		return evalRead(kn.w, rev)
	}
	if !oob {
		return result{}
	}
	return result{ready: true, fflags: k.sys.NoteOOB}
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
