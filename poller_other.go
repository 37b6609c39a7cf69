//go:build !(aix || darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd || solaris)

package poller

import (
	"sync"
	"sync/atomic"
	"time"
)

// FdSetSize is 0 where the package has no select(2): no fd fits in an FdSet.
const FdSetSize = 0

// FdSet is empty where the package has no select(2).
type FdSet struct{}

// Set returns ErrUnsupported.
func (s *FdSet) Set(fd int) error { return ErrUnsupported }

// Clear does nothing.
func (s *FdSet) Clear(fd int) {}

// IsSet returns false.
func (s *FdSet) IsSet(fd int) bool { return false }

// Zero does nothing.
func (s *FdSet) Zero() {}

// Count returns 0.
func (s *FdSet) Count() int { return 0 }

// Select returns ErrUnsupported.
func Select(nfd int, r, w, e *FdSet, timeout time.Duration) (int, error) {
	return 0, ErrUnsupported
}

func osBackends() []Backend { return nil }

// Without a backend, no fd can be added and Wait never gets past the closed check.
var errNoEvents = ErrUnsupported

func errBadFd(op string) error { return ErrUnsupported }

func isEINTR(err error) bool { return false }

func openBackend(b Backend, mu *sync.Mutex, wakePending *atomic.Bool) (backend, support, error) {
	return nil, support{}, ErrUnsupported
}

func dupPollable(fd int) (int, error) { return -1, ErrUnsupported }
