//go:build linux

// Benchmarks of sock's Read, Write and Accept against the x/sys calls a user would make
// instead, on the same fds: each benchmark ends in impl=raw and impl=sock, so that
// benchstat shows the difference as a ratio. On a busy machine run the test binary
// several times and compare CPU time (cpu-ns/op, the process's user and system time per
// op), which does not count the time spent waiting for a CPU:
//
//	go test -c -o /tmp/sock.test ./sock && for i in $(seq 10); do
//		/tmp/sock.test -test.run '^$' -test.bench . -test.benchmem -test.benchtime 200ms
//	done > /tmp/sock-bench.txt
//	benchstat -col '/impl@(raw sock)' -filter '.unit:cpu-ns/op' /tmp/sock-bench.txt
//
// Without -race, sock's Read and Write are raw system calls here; the raw side is
// unix.Read and unix.Write, which go through the scheduler's entersyscall/exitsyscall.

package sock_test

import (
	"testing"

	"github.com/rawpoll/poller/sock"
	"golang.org/x/sys/unix"
)

// rawRead and rawWrite are what a user writes on x/sys: EINTR retried.
func rawRead(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		if err != unix.EINTR {
			return n, err
		}
	}
}

func rawWrite(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Write(fd, p)
		if err != unix.EINTR {
			return n, err
		}
	}
}

func benchPair(b *testing.B) (int, int) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

func benchCPU(b *testing.B) (stop func()) {
	start := processCPU(b)
	return func() { b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op") }
}

func processCPU(b *testing.B) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return ts.Nano()
}

type rwImpl struct {
	name        string
	read, write func(int, []byte) (int, error)
}

var rwImpls = []rwImpl{{"raw", rawRead, rawWrite}, {"sock", sock.Read, sock.Write}}

// BenchmarkEcho: one 64-byte write and the read that takes it back, the two calls of an
// echo request.
func BenchmarkEcho(b *testing.B) {
	for _, impl := range rwImpls {
		impl := impl
		b.Run("impl="+impl.name, func(b *testing.B) {
			a, c := benchPair(b)
			msg, buf := make([]byte, 64), make([]byte, 64)
			b.ReportAllocs()
			stop := benchCPU(b)
			for i := 0; i < b.N; i++ {
				if n, err := impl.write(a, msg); n != len(msg) || err != nil {
					b.Fatalf("write: %d, %v", n, err)
				}
				if n, err := impl.read(c, buf); n != len(msg) || err != nil {
					b.Fatalf("read: %d, %v", n, err)
				}
			}
			stop()
		})
	}
}

// BenchmarkReadAgain: the read that ends a drain, finding nothing (EAGAIN).
func BenchmarkReadAgain(b *testing.B) {
	for _, impl := range rwImpls {
		impl := impl
		b.Run("impl="+impl.name, func(b *testing.B) {
			_, c := benchPair(b)
			buf := make([]byte, 64)
			b.ReportAllocs()
			stop := benchCPU(b)
			for i := 0; i < b.N; i++ {
				if _, err := impl.read(c, buf); err == nil {
					b.Fatal("read found data")
				}
			}
			stop()
		})
	}
}

// BenchmarkAcceptAgain: the accept that ends an accept loop, finding nothing.
func BenchmarkAcceptAgain(b *testing.B) {
	impls := []struct {
		name   string
		accept func(int) error
	}{
		{"raw", func(fd int) error {
			_, _, err := unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			return err
		}},
		{"sock", func(fd int) error { _, _, err := sock.Accept(fd); return err }},
	}
	for _, impl := range impls {
		impl := impl
		b.Run("impl="+impl.name, func(b *testing.B) {
			lfd, err := sock.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { unix.Close(lfd) })
			b.ReportAllocs()
			stop := benchCPU(b)
			for i := 0; i < b.N; i++ {
				if impl.accept(lfd) == nil {
					b.Fatal("accept found a connection")
				}
			}
			stop()
		})
	}
}
