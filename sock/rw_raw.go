//go:build (dragonfly || freebsd || linux || netbsd) && !race

package sock

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// read and write go straight to the kernel: RawSyscall skips entersyscall and
// exitsyscall, which on a non-blocking fd only cost (sysmon may hand the P to another
// thread if a call spans its tick). The race detector builds use rw_plain.go instead,
// whose x/sys calls carry its annotations.

func read(fd int, p []byte) (int, unix.Errno) {
	n, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

func write(fd int, p []byte) (int, unix.Errno) {
	n, _, errno := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}
