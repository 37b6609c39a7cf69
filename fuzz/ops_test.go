//go:build linux

package fuzz_test

import (
	"testing"
	"time"

	"github.com/rawpoll/poller"
)

// poolSlots is the number of socket ends in FuzzOps: four socketpairs.
const poolSlots = 8

// An input of FuzzOps is one header byte (bit 0: open the poller before the pool, so
// that its descriptors sit below the pool's; bit 1: move the last pair up to spreadFd)
// and then steps of two bytes: the first names the operation in its low nibble and a
// slot (or a wild fd, or a count) in its high nibble, the second is the operation's
// argument. Steps past maxSteps are ignored.
const (
	opAdd         = iota // Add(slot, flagsArg(arg))
	opModify             // Modify(slot, flagsArg(arg))
	opDelete             // Delete(slot)
	opWait               // Wait(waitArg(arg))
	opWrite              // write 1+arg%16 bytes from slot to its peer
	opDrain              // read slot until EAGAIN, EOF or an error
	opRead               // one read of 1+arg%8 bytes on slot
	opClose              // close(slot), registered or not; arg&1: a duplicate keeps the socket
	opShutdown           // shutdown(slot, SHUT_WR)
	opWake               // Wake, twice if the slot nibble is odd
	opBurst              // Waits of 1+arg%3 events in a row: no ready fd starves
	opWild               // Add, Add, Modify, Delete (arg&3) of a wildFds, flagsArg(arg>>2)
	opClosePoller        // Close when the nibble is 15, else a Wait with room for all
	opReopen             // dup3 a closed slot's duplicate back; arg&1: renew the pair
	opWaitAll            // Wait(maxEvents, 0)
	opAdd2               // as opAdd
)

// flagsArg decodes Flags: mostly valid ones (interest, then OneShot and EdgeTriggered
// bits), and any of the low 7 bits raw when bit 7 is set. Bits 0-1 pick the interest:
// Readable, Writable, both, both; with bit 6, the same with Priority added, and
// Priority alone for 3 (bit 6 came with Priority, so older corpus entries, which
// never set it, keep their meaning).
func flagsArg(a byte) poller.Flags {
	if a&0x80 != 0 {
		return poller.Flags(a & 0x7f)
	}
	f := [4]poller.Flags{poller.Readable, poller.Writable, rdwr, rdwr}[a&3]
	if a&0x40 != 0 {
		f = [4]poller.Flags{rd | pri, wr | pri, rdwr | pri, pri}[a&3]
	}
	if a&4 != 0 {
		f |= poller.OneShot
	}
	if a&8 != 0 {
		f |= poller.EdgeTriggered
	}
	return f
}

// waitArg decodes a Wait's events size (0 when the high nibble is 15) and timeout.
func waitArg(a byte) (int, time.Duration) {
	size := [4]int{1, 2, 3, maxEvents}[a&3]
	if a>>4 == 15 {
		size = 0
	}
	return size, [4]time.Duration{0, -1, time.Microsecond, 0}[a>>2&3]
}

// runOps applies the steps of data to h.
func runOps(h *harness, data []byte) {
	for i := 1; i+1 < len(data) && i < 1+2*maxSteps; i += 2 {
		op, nib, a := data[i]&15, int(data[i]>>4), data[i+1]
		slot := nib % poolSlots
		switch op {
		case opAdd, opAdd2:
			h.add(slot, flagsArg(a))
		case opModify:
			h.modify(slot, flagsArg(a))
		case opDelete:
			h.delete(slot)
		case opWait:
			h.wait(waitArg(a))
		case opWrite:
			h.write(slot, 1+int(a)%16)
		case opDrain:
			h.drain(slot)
		case opRead:
			h.readOnce(slot, 1+int(a)%8)
		case opClose:
			h.close(slot, a&1 != 0)
		case opReopen:
			if a&1 != 0 {
				h.renew(slot)
			} else {
				h.reopen(slot)
			}
		case opShutdown:
			h.shutdown(slot)
		case opWake:
			h.wake(1 + nib&1)
		case opBurst:
			h.burst(1 + int(a)%3)
		case opWild:
			h.wild(wildFds[nib%len(wildFds)], int(a&3), flagsArg(a>>2))
		case opClosePoller:
			if nib == 15 {
				h.closePoller()
			} else {
				h.wait(maxEvents, 0)
			}
		case opWaitAll:
			h.wait(maxEvents, 0)
		}
	}
}

// FuzzOps runs a sequence of poller calls and socket operations on every backend and
// checks each result against the model: the errors, and for each Wait exactly the fds
// it must report with exactly their flags.
func FuzzOps(f *testing.F) {
	for _, seed := range opsSeeds {
		f.Add(seed.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkNoLeak(t)
		var header byte
		if len(data) > 0 {
			header = data[0]
		}
		for _, b := range poller.Backends() {
			h := newHarness(t, b, poolSlots, header&1 != 0, header&2 != 0)
			runOps(h, data)
			h.finish()
		}
	})
}

// step is one encoded step of FuzzOps, for the seeds.
type step [2]byte

func ops(header byte, steps ...step) []byte {
	out := []byte{header}
	for _, s := range steps {
		out = append(out, s[0], s[1])
	}
	return out
}

// flagsByte is the inverse of flagsArg.
func flagsByte(f poller.Flags) byte {
	var a byte
	switch f & interest {
	case rd:
		a = 0
	case wr:
		a = 1
	case rdwr:
		a = 2
	case rd | pri:
		a = 0x40
	case wr | pri:
		a = 0x41
	case rdwr | pri:
		a = 0x42
	case pri:
		a = 0x43
	default:
		return 0x80 | byte(f)
	}
	if f&^(interest|modes) != 0 {
		return 0x80 | byte(f)
	}
	if f&poller.OneShot != 0 {
		a |= 4
	}
	if f&poller.EdgeTriggered != 0 {
		a |= 8
	}
	return a
}

func sAdd(slot int, f poller.Flags) step    { return step{opAdd | byte(slot)<<4, flagsByte(f)} }
func sModify(slot int, f poller.Flags) step { return step{opModify | byte(slot)<<4, flagsByte(f)} }
func sDelete(slot int) step                 { return step{opDelete | byte(slot)<<4, 0} }
func sWrite(slot, n int) step               { return step{opWrite | byte(slot)<<4, byte(n - 1)} }
func sDrain(slot int) step                  { return step{opDrain | byte(slot)<<4, 0} }
func sRead(slot, n int) step                { return step{opRead | byte(slot)<<4, byte(n - 1)} }
func sClose(slot int) step                  { return step{opClose | byte(slot)<<4, 0} }
func sCloseKeep(slot int) step              { return step{opClose | byte(slot)<<4, 1} }
func sReopen(slot int) step                 { return step{opReopen | byte(slot)<<4, 0} }
func sRenew(slot int) step                  { return step{opReopen | byte(slot)<<4, 1} }
func sShutdown(slot int) step               { return step{opShutdown | byte(slot)<<4, 0} }
func sWake(times int) step                  { return step{opWake | byte(times-1)<<4, 0} }
func sBurst(size int) step                  { return step{opBurst, byte(size - 1)} }
func sClosePoller() step                    { return step{opClosePoller | 15<<4, 0} }
func sWild(i, op int, f poller.Flags) step {
	return step{opWild | byte(i)<<4, byte(op) | flagsByte(f)<<2}
}

// sWait is a Wait with room for size events (1, 2, 3, maxEvents or 0) and timeout 0,
// -1 or a microsecond.
func sWait(size int, timeout time.Duration) step {
	var a byte
	switch size {
	case 0:
		a = 0xf3
	case 1, 2, 3:
		a = byte(size - 1)
	default:
		a = 3
	}
	switch {
	case timeout < 0:
		a |= 1 << 2
	case timeout > 0:
		a |= 2 << 2
	}
	return step{opWait, a}
}

func sWaitAll() step { return sWait(maxEvents, 0) }

// Short names for the seeds.
const (
	rd   = poller.Readable
	wr   = poller.Writable
	rdwr = poller.Readable | poller.Writable
	once = poller.OneShot
	edge = poller.EdgeTriggered
	pri  = poller.Priority
)

// opsSeeds are the f.Add seeds of FuzzOps: one behaviour of the contract (CONTRACT.md) each. The
// corpus in testdata/fuzz/FuzzOps holds longer mixes.
var opsSeeds = []struct {
	name string
	data []byte
}{
	{"level", ops(0, sAdd(0, rd), sWaitAll(), sWrite(1, 3), sWaitAll(), sWaitAll(), sRead(0, 1),
		sWaitAll(), sDrain(0), sWaitAll(), sDelete(0), sWrite(1, 1), sWaitAll())},
	{"writable", ops(0, sAdd(0, wr), sAdd(2, rdwr), sWaitAll(), sModify(0, rd), sWaitAll(), sDelete(2), sWaitAll())},
	{"oneshot", ops(0, sAdd(0, rd|once), sWrite(1, 2), sWaitAll(), sWaitAll(), sModify(0, rd|once),
		sWaitAll(), sWaitAll(), sAdd(0, rd), sDelete(0), sAdd(0, rd), sWaitAll())},
	{"edge", ops(0, sAdd(0, rd|edge), sWaitAll(), sWrite(1, 2), sWaitAll(), sWaitAll(), sWrite(1, 1),
		sWaitAll(), sDrain(0), sWaitAll(), sAdd(2, wr|edge), sWaitAll(), sWrite(2, 1), sWaitAll(),
		sDrain(3), sWaitAll())},
	{"hangup", ops(0, sAdd(0, rd), sAdd(2, wr), sAdd(4, rdwr), sClose(1), sClose(3), sClose(5), sWaitAll(),
		sDrain(0), sWaitAll())},
	{"halfclose", ops(0, sAdd(0, rd), sAdd(2, wr), sShutdown(1), sShutdown(3), sWaitAll(), sShutdown(0),
		sWaitAll(), sShutdown(2), sWaitAll())},
	{"reset", ops(0, sWrite(0, 4), sAdd(0, rd), sAdd(2, wr), sWrite(2, 1), sClose(1), sClose(3),
		sWaitAll(), sRead(0, 1), sWaitAll(), sDrain(2), sWaitAll())},
	{"closed while registered", ops(0, sAdd(0, rd), sAdd(2, rdwr), sWrite(3, 1), sClose(0), sWaitAll(),
		sWaitAll(), sModify(0, rd), sAdd(0, rd), sDelete(0), sAdd(0, rd), sWaitAll())},
	{"starvation", ops(1, sAdd(0, wr), sAdd(1, wr), sAdd(2, wr), sAdd(3, wr), sAdd(4, wr), sAdd(5, wr),
		sAdd(6, wr), sAdd(7, wr), sBurst(1), sBurst(2), sBurst(3), sWait(3, 0))},
	{"select shrinks its sets", ops(3, sAdd(0, wr), sAdd(6, wr), sAdd(7, wr), sWait(1, 0), sWait(1, 0),
		sDelete(6), sDelete(7), sWaitAll(), sWaitAll())},
	{"closed with a dup alive", ops(0, sAdd(0, rd), sAdd(2, rd|edge), sWrite(1, 1), sWrite(3, 1), sCloseKeep(0),
		sCloseKeep(2), sWaitAll(), sWrite(1, 1), sWrite(3, 1), sWaitAll(), sModify(0, rd), sDelete(0), sDelete(2),
		sWrite(1, 1), sWrite(3, 1), sWaitAll(), sWait(1, 0), sReopen(0), sAdd(0, rd), sWaitAll(), sClose(2), sWaitAll())},
	{"number reused while epoll holds the old file", ops(0, sAdd(0, rdwr), sCloseKeep(0), sDelete(0), sRenew(0),
		sWaitAll(), sAdd(0, rd), sWaitAll(), sWrite(1, 1), sWaitAll(), sAdd(1, wr), sWaitAll(), sWait(1, 0))},
	{"wake", ops(0, sWake(1), sWait(1, -1), sWake(2), sWait(maxEvents, -1), sAdd(0, rd), sWrite(1, 1),
		sWake(1), sWait(1, -1), sWait(maxEvents, -1), sWait(2, time.Microsecond))},
	{"close poller", ops(0, sAdd(0, rd), sWake(1), sClosePoller(), sAdd(2, rd), sModify(0, wr), sDelete(0),
		sWaitAll(), sWake(1), sClosePoller())},
	{"priority", ops(0, sAdd(0, pri), sAdd(2, rd|pri), sAdd(4, wr|pri|once), sAdd(6, pri|edge), sWrite(1, 2),
		sWrite(3, 2), sWrite(7, 1), sWaitAll(), sModify(2, pri), sWaitAll(), sClose(1), sShutdown(3), sClose(7),
		sWaitAll(), sWaitAll(), sModify(4, rdwr|pri), sClose(5), sWaitAll(), sDelete(0), sWaitAll())},
	// kqueue over internal/kqmodel: a number closed while a duplicate keeps the socket
	// open, deleted (EBADF: the backend takes it as "close removed the knotes"), and
	// dup'd back keeps its knotes there, which a later Add inherits (kqueue_model_test.go).
	{"ghost dup'd back", ops(0, sAdd(0, rd|once), sAdd(2, rd|edge), sWrite(1, 1), sWrite(3, 1), sWaitAll(),
		sCloseKeep(0), sCloseKeep(2), sDelete(0), sDelete(2), sReopen(0), sReopen(2), sAdd(0, rd), sAdd(2, rd),
		sWrite(1, 1), sWaitAll(), sWaitAll(), sModify(0, rd), sWaitAll(), sDrain(0), sDrain(2), sWaitAll())},
	// kqueue keeps the results that did not fit and serves them first, as they were.
	{"results kept for the next Wait", ops(0, sAdd(0, rd), sAdd(2, rd), sAdd(4, wr|edge), sWrite(1, 1), sWrite(3, 1),
		sWait(1, 0), sDrain(0), sDrain(2), sWait(1, 0), sWait(1, 0), sWaitAll(), sShutdown(4), sWait(2, 0), sWaitAll())},
	{"wild fds", ops(0, sWild(0, 0, rd), sWild(4, 0, rd), sWild(5, 0, wr), sWild(6, 0, rd), sWild(10, 0, rd),
		sWild(0, 2, rd), sWild(6, 3, rd), sWild(2, 1, rdwr|edge), sWait(0, 0))},
}
