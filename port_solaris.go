//go:build illumos || solaris

package poller

import (
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/rawpoll/poller/internal/portabi"
	"golang.org/x/sys/unix"
)

// The event ports backend's seam to the illumos and Solaris kernels; its logic is in
// port.go.
//
// golang.org/x/sys exports event ports only as unix.EventPort, which keeps three maps
// under a mutex and allocates (x/sys v0.4.0 and v0.20.0 syscall_solaris.go): AssociateFd
// allocates a fileObjCookie (one allocation, plus boxing a non-pointer cookie) and inserts
// it in two maps; Get allocates a []portEvent of the requested length on each call and
// deletes from both maps per event. Level-triggered use associates every reported fd
// again, so a Wait that reports k fds would cost at least 1+k allocations. It also panics
// on a portev_user it does not know (golang/go#54254). Its typed port_* functions
// are unexported, and it has no port_send. So this file calls libc itself, the way x/sys
// and package syscall do on these systems, with no cgo: each function is imported from
// libc.so with //go:cgo_import_dynamic (which the compiler permits outside cgo for this
// very use), and called through sysvicall6, whose body (port_solaris_amd64.s) is the same
// one-instruction jump to package syscall that x/sys's is. Nothing here depends on an
// unexported name of x/sys, nor on a //go:linkname into another Go package (which Go
// 1.23's linker restricts); the one dependency, syscall·sysvicall6, is what every
// released x/sys/unix for Solaris jumps to, so Go keeps it. No call allocates.

const nativeBackend = BackendPort

// nativeInterests: POLLPRI is a poll(2) event like the others.
const nativeInterests = Readable | Writable | Priority

// nativeModes: no EdgeTriggered (see port.go).
const nativeModes = OneShot

//go:cgo_import_dynamic libc_poller_port_create port_create "libc.so"
//go:cgo_import_dynamic libc_poller_port_associate port_associate "libc.so"
//go:cgo_import_dynamic libc_poller_port_dissociate port_dissociate "libc.so"
//go:cgo_import_dynamic libc_poller_port_getn port_getn "libc.so"
//go:cgo_import_dynamic libc_poller_port_send port_send "libc.so"

//go:linkname procPortCreate libc_poller_port_create
//go:linkname procPortAssociate libc_poller_port_associate
//go:linkname procPortDissociate libc_poller_port_dissociate
//go:linkname procPortGetn libc_poller_port_getn
//go:linkname procPortSend libc_poller_port_send

// The libc functions, filled in by the dynamic linker; their addresses are what
// sysvicall6 calls. The local names must begin with "libc_": the amd64 assembler
// addresses those absolutely on Solaris (cmd/internal/obj/x86 useAbs), and the linker
// cannot resolve a PC-relative reference to a dynamic import there. The "poller" in them
// keeps them apart from x/sys's and package syscall's names for the same functions.
var (
	procPortCreate,
	procPortAssociate,
	procPortDissociate,
	procPortGetn,
	procPortSend uintptr
)

// sysvicall6 calls the libc function at fn with nargs arguments, as a system call (the
// runtime's entersyscallblock and exitsyscall around it), and returns its result and
// errno. Implemented in port_solaris_amd64.s.
func sysvicall6(fn, nargs, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno)

// The sys/port.h numbers port.go spells once are this OS's (a compile error otherwise).
var _ = [1]struct{}{}[portabi.SourceUser^unix.PORT_SOURCE_USER|portabi.SourceFd^unix.PORT_SOURCE_FD|
	portabi.POLLIN^unix.POLLIN|portabi.POLLPRI^unix.POLLPRI|portabi.POLLOUT^unix.POLLOUT|
	portabi.POLLERR^unix.POLLERR|portabi.POLLHUP^unix.POLLHUP|portabi.POLLNVAL^unix.POLLNVAL|
	portabi.POLLRDNORM^unix.POLLRDNORM|portabi.POLLRDBAND^unix.POLLRDBAND|portabi.POLLWRBAND^unix.POLLWRBAND]

// portEvent is port_event_t: the layout portabi.Event spells is x/sys's (a compile error
// otherwise).
var _ = [1]struct{}{}[unsafe.Sizeof(portEvent{})^24|unsafe.Offsetof(portEvent{}.Object)^8|
	unsafe.Offsetof(portEvent{}.User)^16]

func openNative(mu *sync.Mutex, _ *atomic.Bool) (backend, error) {
	return openPort(&portSyscalls{}, hostPortSys, mu)
}

// portSyscalls is the kernel itself.
type portSyscalls struct{}

func (*portSyscalls) PortCreate() (int, error) {
	// port_create has no close-on-exec flag: set it under ForkLock, as package os does
	// where the call that makes a descriptor takes none, lest a fork in between leak it
	// into a child's exec.
	syscall.ForkLock.RLock()
	r, _, e := sysvicall6(uintptr(unsafe.Pointer(&procPortCreate)), 0, 0, 0, 0, 0, 0, 0)
	err := failed(r, e)
	fd := int(int32(r)) // an int in EAX: the upper half of RAX is not part of it
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, err
	}
	return fd, nil
}

func (*portSyscalls) PortAssociate(port, fd int, events int, user uintptr) error {
	r, _, e := sysvicall6(uintptr(unsafe.Pointer(&procPortAssociate)), 5, uintptr(port),
		portabi.SourceFd, uintptr(fd), uintptr(events), user, 0)
	return failed(r, e)
}

func (*portSyscalls) PortDissociate(port, fd int) error {
	r, _, e := sysvicall6(uintptr(unsafe.Pointer(&procPortDissociate)), 3, uintptr(port),
		portabi.SourceFd, uintptr(fd), 0, 0, 0)
	return failed(r, e)
}

func (*portSyscalls) PortGetn(port int, list []portEvent, nget *uint32, timeout *unix.Timespec) error {
	r, _, e := sysvicall6(uintptr(unsafe.Pointer(&procPortGetn)), 5, uintptr(port),
		uintptr(unsafe.Pointer(&list[0])), uintptr(len(list)), uintptr(unsafe.Pointer(nget)),
		uintptr(unsafe.Pointer(timeout)), 0)
	if int32(r) == -1 && e != unix.ETIME {
		// libc's port_getn sets *nget on success and with ETIME only (libc
		// event_port.c; portfs port.c copies no events out with any other error).
		*nget = 0
	}
	return failed(r, e)
}

func (*portSyscalls) PortSend(port int, events int, user uintptr) error {
	r, _, e := sysvicall6(uintptr(unsafe.Pointer(&procPortSend)), 3, uintptr(port),
		uintptr(events), user, 0, 0, 0)
	return failed(r, e)
}

func (*portSyscalls) Poll(fds []unix.PollFd) error {
	_, err := unix.Poll(fds, 0)
	return err
}

func (*portSyscalls) Close(port int) error { return unix.Close(port) }

// failed returns the error of a libc call that returned r with errno e: these functions
// return -1 and set errno on failure, and errno means nothing otherwise.
func failed(r uintptr, e syscall.Errno) error {
	if int32(r) != -1 {
		return nil
	}
	if e == 0 {
		return syscall.EINVAL // -1 with no errno: not expected of libc
	}
	return e
}
