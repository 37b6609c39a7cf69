// Package portabi holds what the event ports backend shares with its kernel model: the
// layout of port_event_t, and the illumos and Solaris numbers the backend passes to and
// reads from port_associate(3C) and port_getn(3C). It has no code, so the poller package
// can use it in every build without carrying any of the model.
package portabi

// Event is port_event_t (sys/port.h): the same layout on illumos and Solaris amd64, the
// only 64-bit architecture Go supports there.
type Event struct {
	Events int32  // portev_events: for PORT_SOURCE_FD, the poll(2) revents
	Source uint16 // portev_source
	Pad    uint16 // portev_pad
	Object uintptr
	// User is portev_user, a cookie the kernel hands back and never dereferences. It is
	// a uintptr, not a pointer, so it may hold an integer (the backend's generation of
	// the association), and the garbage collector never scans what port_getn wrote into
	// Go memory without the write barriers a pointer field would need.
	User uintptr
}

// Event sources (sys/port.h; golang.org/x/sys ztypes_solaris_amd64.go).
const (
	SourceUser = 3 // PORT_SOURCE_USER: port_send(3C)
	SourceFd   = 4 // PORT_SOURCE_FD: port_associate(3C) of a file descriptor
)

// poll(2) event bits as illumos and Solaris number them (usr/src/uts/common/sys/poll.h),
// which is how port_associate takes them and port_getn returns them, whatever the host.
const (
	POLLIN     = 0x1
	POLLPRI    = 0x2
	POLLOUT    = 0x4
	POLLERR    = 0x8
	POLLHUP    = 0x10
	POLLNVAL   = 0x20
	POLLRDNORM = 0x40
	POLLRDBAND = 0x80
	POLLWRBAND = 0x100
	// POLLRDHUP is illumos's read-side hangup (added 2015, sys/poll.h "read-side
	// hangup"); Oracle Solaris documents no such bit.
	POLLRDHUP = 0x4000
)

// Sys is what one kernel's event ports offer beyond the common interface.
type Sys struct {
	RDHUP bool // POLLRDHUP exists, so a peer's shutdown(SHUT_WR) can be told from data
}
