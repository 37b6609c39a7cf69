//go:build aix || darwin || dragonfly || linux || netbsd || openbsd

package sock

import "golang.org/x/sys/unix"

// soReusePort is the option ListenConfig.ReusePort sets.
const soReusePort = unix.SO_REUSEPORT
