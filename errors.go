package poller

import "errors"

// Sentinel errors. Test for them with errors.Is. Errors that come from the kernel are
// *os.SyscallError values instead, so errors.Is(err, unix.EBADF) and the like work on them.
var (
	// ErrClosed is returned by every method of a Poller after Close, including a second
	// Close, and by a Wait that was blocked when Close was called.
	ErrClosed = errors.New("poller: poller is closed")

	// ErrExists is returned by Add for an fd the poller already holds, even one whose
	// registration is disarmed (one-shot) or whose file the caller closed without Delete.
	ErrExists = errors.New("poller: fd is already registered")

	// ErrNotRegistered is returned by Modify and Delete for an fd the poller does not hold.
	ErrNotRegistered = errors.New("poller: fd is not registered")

	// ErrInvalidFlags is returned by Add and Modify when the flags name neither Readable
	// nor Writable, carry unknown bits, or carry the readiness-only bits Hangup or Errored.
	ErrInvalidFlags = errors.New("poller: invalid flags")

	// ErrUnsupported is returned when the backend or the OS cannot do what was asked:
	// OpenBackend of a backend this OS lacks, EdgeTriggered on poll or select, or
	// Config.Park on a backend that cannot park (poll, select) or whose descriptor Go's
	// runtime poller refuses.
	ErrUnsupported = errors.New("poller: not supported")

	// ErrFdTooLarge is returned for an fd that select(2) cannot watch: fd >= FdSetSize.
	ErrFdTooLarge = errors.New("poller: fd does not fit in an fd_set")

	// ErrBusy is returned by Wait when another goroutine is already in Wait on the same
	// Poller: a poller serves one waiter at a time.
	ErrBusy = errors.New("poller: another Wait is in progress")
)
