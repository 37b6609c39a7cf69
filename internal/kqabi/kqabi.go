// Package kqabi holds the two types that the kqueue backend shares with its kernel model:
// the layout of struct kevent that the backend uses on Linux, where x/sys has no
// Kevent_t, and the description of what one BSD's kqueue offers. It has no code, so the
// poller package can use it in every build without carrying any of the model.
package kqabi

// Kevent has the fields of struct kevent that the kqueue backend reads and writes, with
// types wide enough for every BSD's (NetBSD's Filter and Flags are 32 bits wide).
type Kevent struct {
	Ident  uint64
	Filter int32
	Flags  uint32
	Fflags uint32
	Data   int64
	Udata  *byte
}

// Sys is what one BSD's kqueue offers, as golang.org/x/sys exports it: the filter numbers,
// which differ between the BSDs, and the optional features the backend relies on.
type Sys struct {
	FiltRead, FiltWrite int32 // EVFILT_READ, EVFILT_WRITE: -1 and -2; NetBSD 0 and 1

	HasUser  bool  // EVFILT_USER exists (FreeBSD, DragonFly, macOS), so Wake needs no pipe
	FiltUser int32 // EVFILT_USER

	HasExcept  bool   // EVFILT_EXCEPT with NOTE_OOB exists (macOS, OpenBSD, DragonFly)
	FiltExcept int32  // EVFILT_EXCEPT
	NoteOOB    uint32 // NOTE_OOB
	// ExceptReadsToo says EVFILT_EXCEPT also fires on whatever EVFILT_READ fires on (XNU
	// runs its socket read filter for it), so it cannot wait for out-of-band data alone.
	ExceptReadsToo bool

	Receipt  bool // EV_RECEIPT is honoured, so every change of a changelist is answered
	Dispatch bool // EV_DISPATCH is honoured, so OneShot disables instead of deleting
}
