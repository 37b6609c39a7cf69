//go:build aix || illumos || solaris

package poller

import (
	"sync"
	"sync/atomic"
)

// nativeBackend is zero where the OS has neither epoll nor kqueue: poll is the best
// backend on AIX, illumos and Solaris.
const nativeBackend Backend = 0

const nativeInterests Flags = 0

func openNative(*sync.Mutex, *atomic.Bool) (backend, error) { return nil, ErrUnsupported }
