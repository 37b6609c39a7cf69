//go:build !freebsd && !(linux && (386 || amd64 || arm))

package sockutil

import "syscall"

// soReusePort lets several sockets listen on the same address.
const soReusePort = syscall.SO_REUSEPORT
