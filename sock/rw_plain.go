//go:build aix || darwin || openbsd || solaris || ((dragonfly || freebsd || linux || netbsd) && race)

package sock

import "golang.org/x/sys/unix"

// read and write are x/sys's: on macOS, OpenBSD, Solaris, illumos and AIX Go reaches
// the kernel through libc, and unix.RawSyscall is not the way in; under the race
// detector, x/sys's calls tell it that a read follows the write it reads.

func read(fd int, p []byte) (int, unix.Errno) {
	n, err := unix.Read(fd, p)
	if err != nil {
		return 0, errnoOf(err)
	}
	return n, 0
}

func write(fd int, p []byte) (int, unix.Errno) {
	n, err := unix.Write(fd, p)
	if err != nil {
		return 0, errnoOf(err)
	}
	return n, 0
}

// errnoOf is err's errno: x/sys returns only unix.Errno values from these calls.
func errnoOf(err error) unix.Errno {
	if errno, ok := err.(unix.Errno); ok {
		return errno
	}
	return unix.EIO
}
