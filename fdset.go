//go:build aix || darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd || solaris

package poller

import (
	"math/bits"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// FdSetSize is this OS's FD_SETSIZE: the number of fds an FdSet holds, 0 to FdSetSize-1
// (1024 on Linux, macOS, FreeBSD, OpenBSD and DragonFly; 256 on NetBSD; 65536 on illumos
// and Solaris; 65534 on AIX).
//
// It is the bits of unix.FdSet, except on AIX: there the set has room for 65536 bits but
// FD_SETSIZE is 65534, and select(2) takes the fd count in the low 16 bits of its first
// argument (the high half counts message queues), so an nfd of 65536 would not mean 65536.
const FdSetSize = min(len(unix.FdSet{}.Bits)*unix.NFDBITS, unix.FD_SETSIZE)

// wordMask keeps the NFDBITS low bits of an fd_set word widened to uint64, so that a
// negative 32-bit word does not count its sign extension.
const wordMask = ^uint64(0) >> (64 - unix.NFDBITS)

// FdSet is a bounds-checked fd_set for Select. Its zero value is empty and ready to use.
// Unlike unix.FdSet, no method of FdSet can write outside the set.
type FdSet struct {
	set unix.FdSet
}

// Set adds fd to s. It returns ErrFdTooLarge for fd >= FdSetSize and an error wrapping
// unix.EBADF for a negative fd, and leaves s unchanged then.
func (s *FdSet) Set(fd int) error {
	if fd < 0 {
		return os.NewSyscallError("fdset", unix.EBADF)
	}
	if fd >= FdSetSize {
		return ErrFdTooLarge
	}
	s.set.Set(fd)
	return nil
}

// Clear removes fd from s. An fd out of range is a no-op.
func (s *FdSet) Clear(fd int) {
	if fd >= 0 && fd < FdSetSize {
		s.set.Clear(fd)
	}
}

// IsSet reports whether fd is in s. An fd out of range is never in s.
func (s *FdSet) IsSet(fd int) bool {
	return fd >= 0 && fd < FdSetSize && s.set.IsSet(fd)
}

// Zero removes every fd from s.
func (s *FdSet) Zero() { s.set.Zero() }

// Count returns the number of fds in s.
func (s *FdSet) Count() int {
	n := 0
	for _, w := range s.set.Bits {
		n += bits.OnesCount64(uint64(w) & wordMask)
	}
	return n
}

// setPtr returns the unix.FdSet inside s, or nil for a nil s.
func (s *FdSet) setPtr() *unix.FdSet {
	if s == nil {
		return nil
	}
	return &s.set
}

// Select is select(2) over the fds below nfd in r, w and e (each may be nil). On return
// the sets hold the ready fds and n counts them. A negative timeout blocks without limit;
// a positive one is rounded up to a microsecond. EINTR is retried with the time that
// remains. nfd > FdSetSize gives ErrFdTooLarge: the kernel would read and write past the
// sets, which unix.Select does not check.
func Select(nfd int, r, w, e *FdSet, timeout time.Duration) (int, error) {
	if nfd < 0 {
		return 0, os.NewSyscallError("select", unix.EINVAL)
	}
	if nfd > FdSetSize {
		return 0, ErrFdTooLarge
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		n, err := sysSelect(nfd, r.setPtr(), w.setPtr(), e.setPtr(), timeout)
		if err == nil {
			return n, nil
		}
		if err != unix.EINTR {
			return 0, os.NewSyscallError("select", err)
		}
		// POSIX leaves the sets unmodified when select fails, so they can be passed again;
		// but a timeout must empty them, as select(2) itself would.
		if timeout > 0 {
			if timeout = time.Until(deadline); timeout <= 0 {
				for _, s := range [...]*FdSet{r, w, e} {
					if s != nil {
						s.Zero()
					}
				}
				return 0, nil
			}
		}
	}
}

// maxSelectSec keeps a timeout under the BSDs' limit for select(2): a tv_sec of 10^8 or
// more is EINVAL there.
const maxSelectSec = 100000000 - 1

// sysSelect is one select(2) with the timeout rounded up to a microsecond.
func sysSelect(nfd int, r, w, e *unix.FdSet, timeout time.Duration) (int, error) {
	if timeout == 0 {
		return selectNoWait(nfd, r, w, e)
	}
	if timeout < 0 {
		return unix.Select(nfd, r, w, e, nil)
	}
	us := timeout / time.Microsecond
	if timeout%time.Microsecond != 0 {
		us++
	}
	var tv unix.Timeval
	if sec := us / 1e6; sec > maxSelectSec {
		tv = unix.NsecToTimeval(maxSelectSec * 1e9)
	} else {
		tv = unix.NsecToTimeval(int64(us) * 1e3)
	}
	return unix.Select(nfd, r, w, e, &tv)
}
