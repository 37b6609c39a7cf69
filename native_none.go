//go:build aix

package poller

import (
	"sync"
	"sync/atomic"
)

// nativeBackend is zero where the OS has neither epoll, kqueue nor event ports: poll is
// the best backend on AIX.
const nativeBackend Backend = 0

const nativeInterests Flags = 0

const nativeModes Flags = 0

func openNative(*sync.Mutex, *atomic.Bool) (backend, error) { return nil, ErrUnsupported }
