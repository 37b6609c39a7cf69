//go:build dragonfly || freebsd || illumos || (linux && !sockfallback)

package sock

import "golang.org/x/sys/unix"

// accept is accept4(2) with SOCK_NONBLOCK|SOCK_CLOEXEC: the new fd is never seen
// without its flags. It returns accept4's errno bare, for Accept to sort.
func accept(fd int) (int, unix.Sockaddr, error) {
	return unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
}
