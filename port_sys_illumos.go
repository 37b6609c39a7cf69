//go:build illumos

package poller

// hostPortSys: illumos has POLLRDHUP (sys/poll.h, "read-side hangup", 2015).
var hostPortSys = portSys{RDHUP: true}
