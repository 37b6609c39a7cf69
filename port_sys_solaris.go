//go:build solaris && !illumos

package poller

// hostPortSys: Oracle Solaris documents no POLLRDHUP, so a peer's shutdown(SHUT_WR)
// shows as Readable (the read that returns 0) and a full close as Hangup (POLLHUP).
var hostPortSys = portSys{}
