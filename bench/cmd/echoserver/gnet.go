package main

import (
	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
)

// echoHandler echoes through gnet's public API: whatever arrived is written back.
type echoHandler struct {
	gnet.BuiltinEventEngine
}

func (*echoHandler) OnTraffic(c gnet.Conn) gnet.Action {
	buf, err := c.Next(-1)
	if err != nil {
		return gnet.Close
	}
	if _, err := c.Write(buf); err != nil {
		return gnet.Close
	}
	return gnet.None
}

// runGnet runs gnet's default (level-triggered) event loops, one per core with its own
// SO_REUSEPORT listener, like the poller and raw servers.
func runGnet(addr string, loops int) error {
	return gnet.Run(&echoHandler{}, "tcp://"+addr,
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(loops),
		gnet.WithReusePort(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogLevel(logging.WarnLevel), // no per-connection logging in the window
	)
}
