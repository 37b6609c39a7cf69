//go:build linux

package fuzz_test

import (
	"math"
	"slices"
	"testing"

	"github.com/rawpoll/poller"
)

// FuzzFlags gives any uint32 as Flags to Add and Modify on every backend: each call
// either succeeds or fails with exactly the sentinel the contract names, a registration
// made with them behaves as the model says, and the poller stays usable afterwards.
func FuzzFlags(f *testing.F) {
	all := uint32(interest | modes | poller.Hangup | poller.Errored)
	for _, seed := range [][2]uint32{
		{uint32(rd), uint32(wr)},
		{uint32(rdwr), uint32(rd | once)},
		{uint32(rd | edge), uint32(wr | edge | once)},
		{uint32(wr | once), uint32(rdwr | edge)},
		{0, uint32(once)},
		{uint32(edge | once), uint32(rd)},
		{uint32(poller.Hangup), uint32(rd | poller.Errored)},
		{uint32(rd | poller.Hangup), uint32(wr | poller.Errored)},
		{all, uint32(rdwr | modes)},
		{uint32(pri), uint32(rd | pri)},
		{uint32(pri | edge), uint32(pri | once)},
		{uint32(pri | poller.Hangup), uint32(wr | pri | edge | once)},
		{uint32(rd) | 1<<7, uint32(pri) | 1<<7},
		{math.MaxUint32, 1 << 31},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, add, mod uint32) {
		checkNoLeak(t)
		fa, fm := poller.Flags(add), poller.Flags(mod)
		if fa.String() == "" || fm.String() == "" {
			t.Fatalf("Flags(%#x).String() or Flags(%#x).String() is empty", add, mod)
		}
		for _, b := range poller.Backends() {
			h := newHarness(t, b, 4, false, false)
			// The flags are checked before the fd.
			h.wild(-1, 0, fa)
			h.wild(-1, 2, fm)
			h.modify(0, fm)
			h.add(0, fa)
			h.wait(maxEvents, 0)
			h.write(1, 1)
			h.wait(maxEvents, 0)
			h.modify(0, fm)
			h.write(1, 1)
			h.wait(maxEvents, 0)
			h.add(0, fa)
			h.delete(0)
			h.add(0, fm)
			// Still usable: a socket registered with valid flags is reported readable.
			h.add(2, poller.Readable)
			h.write(3, 1)
			if got := h.wait(maxEvents, 0); !slices.Contains(got, 2) {
				h.fatalf("after Add and Modify with %v and %v, a readable socket is not reported: %v", fa, fm, got)
			}
			h.closePoller()
			h.add(0, fa)
			h.modify(0, fm)
			h.finish()
		}
	})
}
