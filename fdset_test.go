//go:build aix || darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd || solaris

package poller_test

import (
	"runtime"
	"testing"

	"github.com/rawpoll/poller"
)

// TestFdSetSize pins FdSetSize to each OS's FD_SETSIZE from its sys/select.h, so that a
// change of x/sys's FdSet cannot quietly move it.
func TestFdSetSize(t *testing.T) {
	want := map[string]int{
		"aix":       65534, // below the 65536 bits of its fd_set: see FdSetSize
		"android":   1024,
		"darwin":    1024,
		"dragonfly": 1024,
		"freebsd":   1024,
		"illumos":   65536, // 64-bit programs
		"ios":       1024,
		"linux":     1024,
		"netbsd":    256,
		"openbsd":   1024,
		"solaris":   65536, // 64-bit programs
	}[runtime.GOOS]
	if poller.FdSetSize != want {
		t.Fatalf("FdSetSize = %d on %s, want %d", poller.FdSetSize, runtime.GOOS, want)
	}
}
