//go:build linux

package fuzz_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/rawpoll/poller"
)

// specialFds are the fds of FuzzFdSet's table: the edges of the set, of int and int32
// (those beyond int32 on 64-bit architectures only).
var specialFds = fitInts(
	-1, -2, math.MinInt, math.MaxInt, math.MinInt32, math.MaxInt32, math.MaxInt32+1,
	math.MaxUint32, fdSetSize-1, fdSetSize, fdSetSize+1,
	2*fdSetSize, -fdSetSize, 1<<62, -1<<62, 0,
)

// An input of FuzzFdSet is a sequence of steps: an operation byte (low 3 bits: Set,
// Clear, IsSet, Zero, Count, Select, Set, IsSet), and for all but Zero and Count an fd:
// one byte b, read as FdSetSize-64+b (the top of the set) for b < 0x80, as b-0x80 (the
// bottom) for b < 0xc0, as specialFds[b&15] for b < 0xe0 (modulo its length), as (b&15)<<8 | the next byte
// (0 to 4095) for b < 0xf0, else as the next 8 bytes, little-endian.
const (
	fsSet = iota
	fsClear
	fsIsSet
	fsZero
	fsCount
	fsSelect
	fsSet2
	fsIsSet2
)

// fdArg decodes an fd at data[i:]; it returns the fd and the bytes it took (0: none left).
func fdArg(data []byte, i int) (int, int) {
	if i >= len(data) {
		return 0, 0
	}
	b := data[i]
	switch {
	case b < 0x80:
		return poller.FdSetSize - 64 + int(b), 1
	case b < 0xc0:
		return int(b - 0x80), 1
	case b < 0xe0:
		return specialFds[int(b&15)%len(specialFds)], 1
	case b < 0xf0:
		if i+2 <= len(data) {
			return int(b&15)<<8 | int(data[i+1]), 2
		}
		return 0, 0
	case i+9 <= len(data):
		return int(int64(binary.LittleEndian.Uint64(data[i+1:]))), 9
	}
	return 0, 0
}

// FuzzFdSet runs a sequence of FdSet calls with any int against a map.
func FuzzFdSet(f *testing.F) {
	for _, seed := range [][]byte{
		{fsSet, 0x80, fsSet, 0x81, fsIsSet, 0x80, fsCount, fsClear, 0x80, fsIsSet, 0x80, fsCount},
		{fsSet, 0x7f, fsSet, 0x40, fsIsSet, 0x7f, fsSet, 0xc8, fsSet, 0xca, fsCount, fsZero, fsCount},
		{fsSet, 0xc0, fsSet, 0xc2, fsSet, 0xc3, fsSet, 0xc9, fsClear, 0xc9, fsIsSet, 0xc2, fsCount},
		{fsSet, 0xbf, fsSet, 0xc0 | 15, fsSelect, 0xc8, fsSelect, 0xc9, fsSelect, 0xc0, fsSelect, 0x7f},
		{fsSet, 0xff, 0xff, 0x03, 0, 0, 0, 0, 0, 0, fsSet, 0xff, 0x3f, 0, 0, 0, 0, 0, 0, 0, fsCount},
		{fsSet, 0xe1, 0x09, fsSet, 0xe2, 0x00, fsSet, 0xe3, 0xff, fsClear, 0xe1, 0x09, fsIsSet, 0xe1, 0x09, fsCount},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s poller.FdSet
		m := fdSetModel{}
		fail := func(step int, format string, args ...any) {
			t.Helper()
			t.Fatalf("step %d: %s", step, fmt.Sprintf(format, args...))
		}
		for i, step := 0, 0; i < len(data) && step < maxSteps; step++ {
			op := data[i] & 7
			i++
			if op == fsZero {
				s.Zero()
				m.zero()
				continue
			}
			if op == fsCount {
				if got, want := s.Count(), m.count(); got != want {
					fail(step, "Count() = %d, want %d", got, want)
				}
				continue
			}
			fd, n := fdArg(data, i)
			if n == 0 {
				break
			}
			i += n
			switch op {
			case fsSet, fsSet2:
				before := s.Count()
				want := m.set(fd)
				got := s.Set(fd)
				if !errMatches(got, want) {
					fail(step, "Set(%d) = %v, want %v", fd, got, want)
				}
				if got != nil && s.Count() != before {
					fail(step, "Set(%d) failed with %v but changed the set", fd, got)
				}
			case fsClear:
				s.Clear(fd)
				m.clear(fd)
			case fsIsSet, fsIsSet2:
				if got, want := s.IsSet(fd), m.isSet(fd); got != want {
					fail(step, "IsSet(%d) = %v, want %v", fd, got, want)
				}
			case fsSelect:
				// Sets that hold nothing, so the result does not depend on which fds
				// this process has open; r must come back empty.
				var r poller.FdSet
				want := selectErr(fd)
				_, got := poller.Select(fd, &r, nil, nil, 0)
				if !errMatches(got, want) {
					fail(step, "Select(%d, empty, nil, nil, 0) = %v, want %v", fd, got, want)
				}
				if r.Count() != 0 {
					fail(step, "Select(%d) filled an empty set: %d fds", fd, r.Count())
				}
			}
		}
		if got, want := s.Count(), m.count(); got != want {
			t.Fatalf("at the end: Count() = %d, want %d", got, want)
		}
		for fd := -1; fd <= poller.FdSetSize; fd++ {
			if got, want := s.IsSet(fd), m.isSet(fd); got != want {
				t.Fatalf("at the end: IsSet(%d) = %v, want %v", fd, got, want)
			}
		}
	})
}
