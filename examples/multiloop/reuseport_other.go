//go:build !freebsd && !(linux && (386 || amd64 || arm))

package main

import "syscall"

// soReusePort lets every loop's socket bind the same address.
const soReusePort = syscall.SO_REUSEPORT
