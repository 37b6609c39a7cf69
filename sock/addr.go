//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package sock

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// endpoint is a resolved address: the socket family and the address to bind or
// connect.
type endpoint struct {
	family int
	sa     unix.Sockaddr
	addr   net.Addr // for error messages
	tcp    bool
	// dualStack: a "tcp" listener on the wildcard address. It is an AF_INET6 socket
	// with IPV6_V6ONLY off, so that it takes IPv4 connections too, as net.Listen's
	// is; where the OS has no IPv6 or no dual stack (OpenBSD), an AF_INET one.
	dualStack bool
	v6only    bool // "tcp6": IPv6 only, whatever the OS default (net.inet6.ip6.v6only)
}

// resolve turns network and address into an endpoint, for a listener (listen) or a
// connection. Names are resolved with package net (ResolveTCPAddr, ResolveUnixAddr).
func resolve(network, address string, listen bool) (endpoint, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	case "unix":
		if address == "" {
			return endpoint{}, fmt.Errorf("%w: empty unix socket path", ErrAddress)
		}
		ua, err := net.ResolveUnixAddr(network, address)
		if err != nil {
			return endpoint{}, fmt.Errorf("%w: %w", ErrAddress, err)
		}
		// A name that starts with '@' is in Linux's abstract namespace: x/sys
		// writes the leading NUL (unix(7)).
		return endpoint{family: unix.AF_UNIX, sa: &unix.SockaddrUnix{Name: ua.Name}, addr: ua}, nil
	default:
		return endpoint{}, ErrUnknownNetwork
	}
	ta, err := net.ResolveTCPAddr(network, address)
	if err != nil {
		return endpoint{}, fmt.Errorf("%w: %w", ErrAddress, err)
	}
	ep := endpoint{addr: ta, tcp: true}
	ip := ta.IP
	wildcard := ip == nil || ip.IsUnspecified()
	switch {
	case listen && wildcard && network == "tcp":
		ep.dualStack = true
		ip = net.IPv6unspecified
	case !listen && wildcard:
		// As net.Dial: an empty or unspecified host means this machine.
		if network == "tcp6" || (ip != nil && ip.To4() == nil) {
			ip = net.IPv6loopback
		} else {
			ip = net.IPv4(127, 0, 0, 1)
		}
		ep.addr = &net.TCPAddr{IP: ip, Port: ta.Port}
	case wildcard && network == "tcp6":
		ip = net.IPv6unspecified
	case wildcard: // listen, "tcp4"
		ip = net.IPv4zero
	}
	ep.v6only = listen && network == "tcp6"
	if ip4 := ip.To4(); ip4 != nil && network != "tcp6" {
		sa := &unix.SockaddrInet4{Port: ta.Port}
		copy(sa.Addr[:], ip4)
		ep.family, ep.sa = unix.AF_INET, sa
		return ep, nil
	}
	sa := &unix.SockaddrInet6{Port: ta.Port}
	copy(sa.Addr[:], ip.To16())
	if ta.Zone != "" {
		if sa.ZoneId, err = zoneID(ta.Zone); err != nil {
			return endpoint{}, fmt.Errorf("%w: %w", ErrAddress, err)
		}
	}
	ep.family, ep.sa = unix.AF_INET6, sa
	return ep, nil
}

// inet4 is ep's IPv4 twin, for a dual-stack listener on an OS that cannot have one.
func (ep endpoint) inet4() endpoint {
	ep.dualStack = false
	ep.family = unix.AF_INET
	ep.sa = &unix.SockaddrInet4{Port: ep.sa.(*unix.SockaddrInet6).Port}
	return ep
}

// zoneID is the interface index an IPv6 zone names: a number, or an interface name.
func zoneID(zone string) (uint32, error) {
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, err
	}
	return uint32(ifi.Index), nil
}

// Addr converts a socket address, such as the one Accept returns, to a net.Addr: a
// *net.TCPAddr for IPv4 and IPv6 (an IPv6 zone as its interface index), a
// *net.UnixAddr for unix; nil for any other family. It copies what it keeps, so sa
// may be reused.
func Addr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		ip := make(net.IP, net.IPv4len)
		copy(ip, sa.Addr[:])
		return &net.TCPAddr{IP: ip, Port: sa.Port}
	case *unix.SockaddrInet6:
		ip := make(net.IP, net.IPv6len)
		copy(ip, sa.Addr[:])
		a := &net.TCPAddr{IP: ip, Port: sa.Port}
		if sa.ZoneId != 0 {
			a.Zone = strconv.FormatUint(uint64(sa.ZoneId), 10)
		}
		return a
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return nil
}

// LocalAddr returns the address the socket fd is bound to (getsockname(2)), as Addr
// converts it: for a listener on port 0, the port the kernel chose. It gives an error
// wrapping ErrUnsupported for a socket that is neither IP nor unix.
func LocalAddr(fd int) (net.Addr, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, os.NewSyscallError("getsockname", err)
	}
	a := Addr(sa)
	if a == nil {
		return nil, fmt.Errorf("%w: local address of a %T", ErrUnsupported, sa)
	}
	return a, nil
}
