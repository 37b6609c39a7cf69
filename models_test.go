//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package poller_test

// modelBackends lists the kernel models the shared tests also run against; none yet.
func modelBackends() []testBackend { return nil }
