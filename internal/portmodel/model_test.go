//go:build linux

package portmodel

import (
	"testing"
	"time"

	"github.com/rawpoll/poller/internal/portabi"
	"golang.org/x/sys/unix"
)

var zero = &unix.Timespec{}

func openTestPort(t *testing.T) (*Kernel, int) {
	t.Helper()
	k := New(Illumos)
	port, err := k.PortCreate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close(port) })
	return k, port
}

func pair(t *testing.T) [2]int {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds
}

// getn polls the port for up to max events.
func getn(t *testing.T, k *Kernel, port, max int) []Event {
	t.Helper()
	list := make([]Event, max)
	nget := uint32(1)
	if err := k.PortGetn(port, list, &nget, zero); err != nil {
		t.Fatalf("port_getn: %v", err)
	}
	return list[:nget]
}

func associate(t *testing.T, k *Kernel, port, fd int, events int, user uintptr) {
	t.Helper()
	if err := k.PortAssociate(port, fd, events, user); err != nil {
		t.Fatalf("port_associate(%d): %v", fd, err)
	}
}

// port_associate(3C): "if data is available on the file descriptor at the time the
// port_associate() function is called, an event is immediately sent to the port. If data
// is not yet available, one event is sent to the port when data first becomes available."
func TestAssociateFiresNowOrLater(t *testing.T) {
	k, port := openTestPort(t)
	sp := pair(t)
	associate(t, k, port, sp[0], portabi.POLLIN, 7)
	if evs := getn(t, k, port, 4); len(evs) != 0 {
		t.Fatalf("nothing to read, got %+v", evs)
	}
	unix.Write(sp[1], []byte("x"))
	evs := getn(t, k, port, 4)
	if len(evs) != 1 || evs[0].Source != portabi.SourceFd || evs[0].Object != uintptr(sp[0]) ||
		evs[0].Events != portabi.POLLIN || evs[0].User != 7 {
		t.Fatalf("after a write: %+v", evs)
	}
	// Retrieved: dissociated, so no second event although the data is still there.
	if evs := getn(t, k, port, 4); len(evs) != 0 {
		t.Fatalf("second port_getn: %+v, want nothing (dissociated)", evs)
	}
	if err := k.PortDissociate(port, sp[0]); err != unix.ENOENT {
		t.Fatalf("port_dissociate after retrieval: %v, want ENOENT", err)
	}
	associate(t, k, port, sp[0], portabi.POLLIN|portabi.POLLOUT, 8)
	evs = getn(t, k, port, 4)
	if len(evs) != 1 || evs[0].Events != portabi.POLLIN|portabi.POLLOUT || evs[0].User != 8 {
		t.Fatalf("re-association of a ready fd: %+v", evs)
	}
}

// port_fd.c port_associate_fd: a second association replaces events and user and drops
// the event already queued; the revents are what the fd's poll said when it fired.
func TestReassociateDropsQueued(t *testing.T) {
	k, port := openTestPort(t)
	sp := pair(t)
	associate(t, k, port, sp[0], portabi.POLLOUT, 1)
	unix.Write(sp[1], []byte("x"))
	// Fired writable at association; the data that came since is not in the event.
	associate(t, k, port, sp[0], portabi.POLLIN, 2)
	evs := getn(t, k, port, 4)
	if len(evs) != 1 || evs[0].User != 2 || evs[0].Events != portabi.POLLIN {
		t.Fatalf("after re-association: %+v, want one POLLIN event with user 2", evs)
	}
	associate(t, k, port, sp[0], portabi.POLLOUT, 3)
	unix.Read(sp[0], make([]byte, 8))
	evs = getn(t, k, port, 4)
	if len(evs) != 1 || evs[0].Events != portabi.POLLOUT {
		t.Fatalf("fired writable: %+v", evs)
	}
}

func TestDissociate(t *testing.T) {
	k, port := openTestPort(t)
	sp := pair(t)
	if err := k.PortDissociate(port, sp[0]); err != unix.ENOENT {
		t.Fatalf("never associated: %v, want ENOENT", err)
	}
	associate(t, k, port, sp[0], portabi.POLLOUT, 1) // fires at once
	if err := k.PortDissociate(port, sp[0]); err != nil {
		t.Fatalf("fired, not retrieved: %v, want success", err)
	}
	if evs := getn(t, k, port, 4); len(evs) != 0 {
		t.Fatalf("dissociated fd's event retrieved: %+v", evs)
	}
	associate(t, k, port, sp[0], portabi.POLLIN, 1) // armed
	if err := k.PortDissociate(port, sp[0]); err != nil {
		t.Fatalf("armed: %v, want success", err)
	}
	if err := k.PortAssociate(port, -1, portabi.POLLIN, 1); err != unix.EBADFD {
		t.Fatalf("associate -1: %v, want EBADFD", err)
	}
	if big := int64(1) << 31; int(big) == int(int64(int(big))) && int64(int(big)) == big {
		if err := k.PortDissociate(port, int(big)); err != unix.EBADFD {
			t.Fatalf("dissociate above INT_MAX: %v, want EBADFD", err)
		}
	}
}

// A closed descriptor is dissociated, and its queued event discarded (port.c).
func TestCloseDissociates(t *testing.T) {
	k, port := openTestPort(t)
	sp := pair(t)
	dup, err := unix.Dup(sp[0])
	if err != nil {
		t.Fatal(err)
	}
	associate(t, k, port, dup, portabi.POLLOUT, 1)
	unix.Close(dup) // the file lives on in sp[0]
	if evs := getn(t, k, port, 4); len(evs) != 0 {
		t.Fatalf("closed fd's event retrieved: %+v", evs)
	}
	if err := k.PortDissociate(port, dup); err != unix.EBADFD {
		t.Fatalf("dissociate of a closed fd: %v, want EBADFD", err)
	}
}

// port_getn: ETIME when the timeout passes, with the events that did arrive; EINTR with
// none; a zero timeout returns what is there with no error.
func TestGetnErrors(t *testing.T) {
	k, port := openTestPort(t)
	sp := pair(t)
	list := make([]Event, 4)
	nget := uint32(1)
	ts := unix.NsecToTimespec(int64(20 * time.Millisecond))
	start := time.Now()
	if err := k.PortGetn(port, list, &nget, &ts); err != unix.ETIME || nget != 0 {
		t.Fatalf("empty port, 20ms: %v, nget %d; want ETIME, 0", err, nget)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("returned after %v", d)
	}
	associate(t, k, port, sp[0], portabi.POLLOUT, 1)
	k.FailGetn(unix.ETIME)
	nget = 2
	if err := k.PortGetn(port, list, &nget, &ts); err != unix.ETIME || nget != 1 {
		t.Fatalf("injected ETIME: %v, nget %d; want ETIME with 1 event", err, nget)
	}
	associate(t, k, port, sp[0], portabi.POLLOUT, 1)
	k.FailGetn(unix.EINTR)
	nget = 1
	if err := k.PortGetn(port, list, &nget, nil); err != unix.EINTR || nget != 1 {
		t.Fatalf("injected EINTR: %v, nget %d; want EINTR, nget untouched", err, nget)
	}
	if evs := getn(t, k, port, 4); len(evs) != 1 {
		t.Fatalf("the event EINTR left queued: %+v", evs)
	}
	nget = 5
	if err := k.PortGetn(port, list, &nget, zero); err != unix.EINVAL {
		t.Fatalf("nget > max: %v, want EINVAL", err)
	}
	k.FailAssociate(unix.ENOMEM)
	if err := k.PortAssociate(port, sp[0], portabi.POLLOUT, 1); err != unix.ENOMEM {
		t.Fatalf("injected ENOMEM: %v", err)
	}
	if evs := getn(t, k, port, 4); len(evs) != 0 {
		t.Fatalf("a failed association fired: %+v", evs)
	}
}

// A sleeping port_getn wakes for a descriptor that becomes ready, a port_send from another
// goroutine, and the port's close.
func TestGetnWakes(t *testing.T) {
	k, port := openTestPort(t)
	sp := pair(t)
	associate(t, k, port, sp[0], portabi.POLLIN, 1)
	got := make(chan []Event, 1)
	sleep := func() {
		list := make([]Event, 4)
		nget := uint32(1)
		err := k.PortGetn(port, list, &nget, nil)
		for err == unix.EINTR { // a preemption signal, as the kernel would say it
			nget = 1
			err = k.PortGetn(port, list, &nget, nil)
		}
		if err != nil {
			nget = 0
		}
		got <- list[:nget]
	}
	go sleep()
	time.AfterFunc(10*time.Millisecond, func() { unix.Write(sp[1], []byte("x")) })
	if evs := <-got; len(evs) != 1 || evs[0].Object != uintptr(sp[0]) {
		t.Fatalf("woken by data: %+v", evs)
	}
	go sleep()
	time.AfterFunc(10*time.Millisecond, func() { k.PortSend(port, 5, 9) })
	if evs := <-got; len(evs) != 1 || evs[0].Source != portabi.SourceUser || evs[0].User != 9 || evs[0].Events != 5 {
		t.Fatalf("woken by port_send: %+v", evs)
	}
}

// The port descriptor polls readable while events are queued, so Go's runtime poller can
// wait on it (port_vnops.c port_poll).
func TestPortFdPollable(t *testing.T) {
	k, port := openTestPort(t)
	sp := pair(t)
	readable := func() bool {
		pfd := []unix.PollFd{{Fd: int32(port), Events: unix.POLLIN}}
		unix.Poll(pfd, 0)
		return pfd[0].Revents&unix.POLLIN != 0
	}
	if readable() {
		t.Fatal("empty port polls readable")
	}
	associate(t, k, port, sp[0], portabi.POLLOUT, 1)
	if !readable() {
		t.Fatal("port with a queued event does not poll readable")
	}
	getn(t, k, port, 4)
	if readable() {
		t.Fatal("drained port polls readable")
	}
	associate(t, k, port, sp[0], portabi.POLLIN, 1)
	unix.Write(sp[1], []byte("x"))
	if !readable() {
		t.Fatal("a change of an associated fd does not make the port poll readable")
	}
}

// Poll answers in illumos's numbering: POLLRDHUP is 0x4000 there.
func TestPollNumbering(t *testing.T) {
	k, _ := openTestPort(t)
	sp := pair(t)
	unix.Shutdown(sp[1], unix.SHUT_WR)
	fds := []unix.PollFd{{Fd: int32(sp[0]), Events: portabi.POLLIN | portabi.POLLRDHUP}}
	k.Poll(fds)
	if fds[0].Revents != portabi.POLLIN|portabi.POLLRDHUP {
		t.Fatalf("half-closed: revents %#x, want POLLIN|POLLRDHUP (%#x)", fds[0].Revents, portabi.POLLIN|portabi.POLLRDHUP)
	}
	unix.Close(sp[0])
	k.Poll(fds)
	if fds[0].Revents != portabi.POLLNVAL {
		t.Fatalf("closed: revents %#x, want POLLNVAL", fds[0].Revents)
	}
}
