package poller_test

import (
	"testing"
	"time"

	"github.com/rawpoll/poller"
	"golang.org/x/sys/unix"
)

// TestEpollDeadRegistration is golang/go#59545: the caller closes a registered fd while
// a duplicate keeps the file alive, so the kernel keeps the epoll entry and goes on
// reporting it under the old number. After Delete, no Wait may report that number unless
// it was added again, and then only for the new file's readiness.
func TestEpollDeadRegistration(t *testing.T) {
	p := openPoller(t, backendOf(poller.BackendEpoll))
	old := socketPair(t)
	mustAdd(t, p, old[0], poller.Readable)
	dup, err := unix.Dup(old[0])
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dup)
	num := old[0]
	unix.Close(old[0])
	old[0] = -1
	if err := p.Delete(num); err != nil {
		t.Fatalf("Delete after close: %v", err)
	}
	write(t, old[1], "old file is readable") // the kernel reports the dead entry
	expectSilent(t, p, num, 20*time.Millisecond)

	// Reuse the number for a new, idle socket and register it: the old file's
	// readiness must not be reported as the new registration's.
	fd, peer := reuseNumber(t, num)
	if err := p.Add(fd, poller.Readable); err != nil {
		t.Fatalf("Add of the reused number: %v", err)
	}
	expectSilent(t, p, fd, 20*time.Millisecond)
	write(t, peer, "new")
	if f := waitFd(t, p, fd); f != poller.Readable {
		t.Fatalf("new registration: %v", f)
	}
}
