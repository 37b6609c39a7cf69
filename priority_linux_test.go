package poller_test

import (
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/rawpoll/poller"
	"golang.org/x/sys/unix"
)

// TestPriorityMountTable waits for a POLLPRI source other than a socket: a process's
// mountinfo raises POLLPRI|POLLERR once per change of its mount table, and is always
// readable (fs/proc_namespace.c: mounts_poll; proc_pid_mounts(5)). The poll that reports
// a change also consumes it, so even level-triggered Waits see each change once.
//
// The mounts happen in a private mount namespace of a thread that never runs anything
// else: the test locks its goroutine to the thread and never unlocks it, so the thread
// ends with the test and no other goroutine ever sees the namespace. It runs on Linux's
// own backends only: a kernel model has no procfs.
func TestPriorityMountTable(t *testing.T) {
	for _, kind := range poller.Backends() {
		b := backendOf(kind)
		t.Run(b.String(), func(t *testing.T) {
			if kind == poller.BackendKqueue {
				t.Skip("kqueue here is a model of the BSD kernels (a kqmodel_* tag), which have no procfs mount table")
			}
			if kind == poller.BackendPort {
				t.Skip("port here is a model of illumos (the portmodel_illumos tag), which has no procfs mount table")
			}
			runtime.LockOSThread() // never unlocked: see above
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				t.Skipf("cannot make a private mount namespace (needs CAP_SYS_ADMIN): unshare: %v", err)
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				t.Skipf("cannot keep mounts out of the parent namespace: mount --make-rprivate /: %v", err)
			}
			testPriorityMountTable(t, b)
		})
	}
}

func testPriorityMountTable(t *testing.T, b testBackend) {
	// thread-self (Linux 3.17): /proc/self is the thread group leader, in the old namespace.
	fd, err := unix.Open("/proc/thread-self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open mountinfo: %v", err)
	}
	closeOnce(t, &fd)
	p := openPoller(t, b)
	addPriority(t, b, p, fd, poller.Priority)
	expectSilent(t, p, fd, 0) // always readable, but unchanged since open
	if err := p.Modify(fd, poller.Readable|poller.Priority); err != nil {
		t.Fatal(err)
	}
	if f := waitFd(t, p, fd); f != poller.Readable {
		t.Fatalf("Readable|Priority, unchanged mount table: %v, want Readable", f)
	}
	if err := p.Modify(fd, poller.Priority); err != nil {
		t.Fatal(err)
	}

	// The POLLERR that comes with a change is news to a Priority-only registration on
	// epoll and poll, which always report it; select puts it in the read and write sets
	// only, which hold nothing here.
	want := poller.Priority | poller.Errored
	if b.kind == poller.BackendSelect {
		want = poller.Priority
	}
	dir, err := os.MkdirTemp("", "poller-mnt")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=16k"); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENODEV) {
			t.Skipf("cannot mount a tmpfs in the private namespace: %v", err)
		}
		t.Fatalf("mount tmpfs: %v", err)
	}
	if f := waitFd(t, p, fd); f != want {
		t.Fatalf("after a mount: %v, want %v", f, want)
	}
	expectSilent(t, p, fd, 0) // the poll that reported the change consumed it
	if err := unix.Unmount(dir, 0); err != nil {
		t.Fatalf("umount: %v", err)
	}
	if f := waitFd(t, p, fd); f != want {
		t.Fatalf("after an unmount: %v, want %v", f, want)
	}
	expectSilent(t, p, fd, 0)
}
