// Command echoserver is one of the echo servers that echobench measures, chosen with -server:
//
//	poller  one edge-triggered github.com/rawpoll/poller loop per core, each with its own
//	        SO_REUSEPORT listener
//	raw     the same design on golang.org/x/sys/unix epoll directly: the reference ceiling
//	net     Go's net package, one goroutine per connection
//	gnet    github.com/panjf2000/gnet/v2 with multicore and SO_REUSEPORT
//
// (The Python selectors server is python/selectors_echo.py.) Every server listens on
// 127.0.0.1 only, echoes each byte it reads, and runs until it is killed.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
)

// lockLoops is -lock: each event loop runs on a goroutine locked to its thread.
var lockLoops bool

// lockLoop locks the calling loop goroutine to its thread when -lock asks; the goroutine
// never returns while the server runs, so it is never unlocked.
func lockLoop() {
	if lockLoops {
		runtime.LockOSThread()
	}
}

func main() {
	server := flag.String("server", "poller", "poller, raw, net or gnet")
	port := flag.Int("port", 7000, "TCP port on 127.0.0.1")
	loops := flag.Int("loops", 0, "event loops for poller, raw and gnet (0: GOMAXPROCS, which follows the CPU affinity)")
	eagain := flag.Bool("eagain", false, "poller and raw: after a short read, read again until EAGAIN (one more read per request)")
	poll0 := flag.Bool("poll0", false, "poller and raw: after a batch, poll with a zero timeout before blocking (see pollTimeout)")
	rawio := flag.Bool("rawio", true, "poller and raw: read and write with raw syscalls (see readFd)")
	park := flag.Bool("park", false, "poller: open the pollers with Config.Park (Waits park in the runtime poller)")
	lock := flag.Bool("lock", false, "poller and raw: lock each loop's goroutine to its thread (runtime.LockOSThread)")
	flag.Parse()
	rawIO = *rawio
	lockLoops = *lock

	if *loops <= 0 {
		*loops = runtime.GOMAXPROCS(0)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", *port)
	var err error
	switch *server {
	case "poller":
		err = runPoller(*port, *loops, *eagain, *poll0, *park)
	case "raw":
		err = runRaw(*port, *loops, *eagain, *poll0)
	case "net":
		err = runNet(addr)
	case "gnet":
		err = runGnet(addr, *loops)
	default:
		err = fmt.Errorf("unknown -server %q", *server)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "echoserver:", err)
		os.Exit(1)
	}
}
