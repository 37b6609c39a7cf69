//go:build linux

package kqmodel

import (
	"sync"

	"github.com/rawpoll/poller/internal/kqabi"
	"golang.org/x/sys/unix"
)

// Kevent is struct kevent as the poller's kqueue backend uses it on Linux: the same
// type, so that a *Kernel is that backend's kernel without any conversion.
type Kevent = kqabi.Kevent

// Flag and note values. They are the same on every BSD: golang.org/x/sys v0.20.0
// zerrors_{freebsd,darwin,openbsd,netbsd,dragonfly}_amd64.go all define these numbers (NetBSD's
// lacks EV_RECEIPT, EV_DISPATCH and NOTE_TRIGGER, whose NetBSD 10 values agree too).
const (
	EV_ADD       = 0x1
	EV_DELETE    = 0x2
	EV_ENABLE    = 0x4
	EV_DISABLE   = 0x8
	EV_ONESHOT   = 0x10
	EV_CLEAR     = 0x20
	EV_RECEIPT   = 0x40
	EV_DISPATCH  = 0x80
	EV_ERROR     = 0x4000
	EV_EOF       = 0x8000
	NOTE_TRIGGER = 0x01000000
)

// evSysFlags are the bits the kernels clear from every change (EV_SYSFLAGS: EV_ERROR, EV_EOF
// and the two kernel-private flags; FreeBSD, OpenBSD and NetBSD "kevp->flags &= ~EV_SYSFLAGS").
const evSysFlags = 0xF000

// noteFFlagsMask is the part of an EVFILT_USER fflags word that is user data
// (FreeBSD sys/event.h NOTE_FFLAGSMASK; XNU the same).
const noteFFlagsMask = 0x00ffffff

// PendingErrorPlaceholder is what the model puts in fflags where a BSD kernel reports
// so_error. Linux can say an error is pending on a socket (POLLERR) but has no way to read it
// without clearing it (getsockopt SO_ERROR consumes sk_err), and the caller must still read it,
// so the model reports this fixed, non-zero errno instead of the real one.
const PendingErrorPlaceholder = unix.EIO

// Flavour selects which BSD kernel the model imitates.
type Flavour int

// The flavours, one per kqueue family. FreeBSD stands for DragonFly too.
const (
	FreeBSD Flavour = iota + 1
	Darwin
	OpenBSD
	NetBSD
)

// String returns the flavour's GOOS-like name: "freebsd", "darwin", "openbsd" or "netbsd".
func (f Flavour) String() string {
	switch f {
	case FreeBSD:
		return "freebsd"
	case Darwin:
		return "darwin"
	case OpenBSD:
		return "openbsd"
	case NetBSD:
		return "netbsd"
	}
	return "unknown"
}

// Flavours returns all four flavours: FreeBSD, Darwin, OpenBSD, NetBSD.
func Flavours() []Flavour { return []Flavour{FreeBSD, Darwin, OpenBSD, NetBSD} }

// Sys is what the flavour's golang.org/x/sys exports and its kernel honours: the type the
// poller's kqueue backend is configured with.
type Sys = kqabi.Sys

// Sys returns the flavour's constants (values from golang.org/x/sys v0.20.0 zerrors_*_amd64.go).
func (f Flavour) Sys() Sys {
	switch f {
	case FreeBSD:
		return Sys{FiltRead: -1, FiltWrite: -2, HasUser: true, FiltUser: -11, Receipt: true, Dispatch: true}
	case Darwin:
		return Sys{FiltRead: -1, FiltWrite: -2, HasUser: true, FiltUser: -10,
			HasExcept: true, FiltExcept: -15, NoteOOB: 0x2, ExceptReadsToo: true,
			Receipt: true, Dispatch: true}
	case OpenBSD:
		return Sys{FiltRead: -1, FiltWrite: -2, HasExcept: true, FiltExcept: -9, NoteOOB: 0x4,
			Receipt: true, Dispatch: true}
	case NetBSD:
		return Sys{FiltRead: 0, FiltWrite: 1}
	}
	return Sys{}
}

// Kernel is one modelled BSD kernel: the kqueues it created and its pending faults. All its
// methods are safe for concurrent use.
type Kernel struct {
	flavour Flavour
	sys     Sys

	mu     sync.Mutex
	queues map[int]*queue // by the descriptor Kqueue returned

	failCallErrno   unix.Errno
	failChangeFlags uint32
	failChangeErrno unix.Errno
}

// New returns a kernel of flavour f.
func New(f Flavour) *Kernel {
	return &Kernel{flavour: f, sys: f.Sys(), queues: make(map[int]*queue)}
}

// Flavour returns the flavour the kernel was created with.
func (k *Kernel) Flavour() Flavour { return k.flavour }

// FailCall makes the next Kevent call that asks for events (len(events) > 0) apply its
// changelist and then fail with errno, returning -1 as x/sys's Kevent does: EINTR (a signal),
// or ETIMEDOUT, which macOS returns from kevent under load (golang/go#59679).
func (k *Kernel) FailCall(errno unix.Errno) {
	k.mu.Lock()
	k.failCallErrno = errno
	k.mu.Unlock()
}

// FailChange makes the next change whose flags include any bit of flags (EV_ADD or
// EV_DELETE) fail with errno (ENOMEM, ENOSPC) without effect, reported the way the kernel
// reports a failed change: an EV_ERROR entry when the event list has room, else -1 and errno
// with the rest of the changelist not applied.
func (k *Kernel) FailChange(flags uint32, errno unix.Errno) {
	k.mu.Lock()
	k.failChangeFlags, k.failChangeErrno = flags, errno
	k.mu.Unlock()
}
