//go:build netbsd || openbsd

package sock

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// accept is accept4(2) with SOCK_NONBLOCK|SOCK_CLOEXEC, as Go's own net does here. x/sys
// has no Accept4 for these systems but package syscall has, so the address is
// translated from syscall's types to x/sys's. It returns accept4's errno bare, for
// Accept to sort.
func accept(fd int) (int, unix.Sockaddr, error) {
	nfd, sa, err := syscall.Accept4(fd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
	if err != nil {
		return -1, nil, err
	}
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return nfd, &unix.SockaddrInet4{Port: sa.Port, Addr: sa.Addr}, nil
	case *syscall.SockaddrInet6:
		return nfd, &unix.SockaddrInet6{Port: sa.Port, ZoneId: sa.ZoneId, Addr: sa.Addr}, nil
	case *syscall.SockaddrUnix:
		return nfd, &unix.SockaddrUnix{Name: sa.Name}, nil
	}
	// Another family: let x/sys decode it.
	usa, err := unix.Getpeername(nfd)
	if err != nil {
		unix.Close(nfd)
		return -1, nil, err
	}
	return nfd, usa, nil
}
