//go:build aix || darwin || dragonfly || freebsd || illumos || netbsd || openbsd || solaris

package poller_test

import "errors"

// rawIdleWaiters: the x/sys twins of idle Waits are epoll code, in bench_test.go.
func rawIdleWaiters(mode string, n int) (waits []func(), wake, cleanup func(), err error) {
	return nil, nil, nil, errors.New("no raw idle waiter " + mode + " on this OS")
}
