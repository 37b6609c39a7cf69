//go:build linux

package fuzz_test

import (
	"errors"
	"os"
	"testing"

	"github.com/rawpoll/poller"
)

// maxSteps caps the steps decoded from one input, so that every exec stays short.
const maxSteps = 64

// fdSetSize is FdSetSize for lists of int64.
const fdSetSize = int64(poller.FdSetSize)

// fitInts returns the values that fit in an int on this architecture.
func fitInts(vs ...int64) []int {
	out := make([]int, 0, len(vs))
	for _, v := range vs {
		if int64(int(v)) == v {
			out = append(out, int(v))
		}
	}
	return out
}

// isSyscallError reports whether err is, or wraps, an *os.SyscallError: the contract
// builds kernel errors with os.NewSyscallError.
func isSyscallError(err error) bool {
	var se *os.SyscallError
	return errors.As(err, &se)
}

// openFds counts this process's open descriptors (Linux: /proc/self/fd). ok is false
// where there is no /proc.
func openFds(t testing.TB) (n int, ok bool) {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	return len(ents), true
}

// checkNoLeak fails t if the process holds more or fewer descriptors at the end of the
// test than when checkNoLeak was called.
func checkNoLeak(t testing.TB) {
	t.Helper()
	before, ok := openFds(t)
	if !ok {
		return
	}
	t.Cleanup(func() {
		if after, _ := openFds(t); after != before {
			t.Errorf("descriptors: %d open before, %d after", before, after)
		}
	})
}
