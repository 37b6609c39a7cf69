package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// perfEvents are what perf counts over the window: every syscall entry, every context
// switch, and the on-CPU time (a nanosecond cross-check of /proc's 10 ms ticks).
const perfEvents = "raw_syscalls:sys_enter,context-switches,task-clock"

// perfCheck reports whether `perf stat` can count perfEvents here, trying
// kernel.perf_event_paranoid=-1 once if it cannot; the string says why not.
func perfCheck() (bool, string) {
	path, err := exec.LookPath("perf")
	if err != nil {
		return false, "perf is not installed (Debian: apt-get install linux-perf)"
	}
	try := func() (bool, string) {
		out, err := exec.Command(path, "stat", "-x,", "-e", perfEvents, "true").CombinedOutput()
		if err != nil {
			return false, fmt.Sprintf("perf stat failed: %v: %s", err, firstLine(out))
		}
		c, err := parsePerf(string(out))
		if err != nil {
			return false, err.Error()
		}
		if c.syscalls == 0 {
			return false, "perf counted no syscalls for `true`"
		}
		return true, ""
	}
	ok, why := try()
	if ok {
		return true, ""
	}
	if sysctl, err := exec.LookPath("sysctl"); err == nil && os.Geteuid() == 0 {
		if exec.Command(sysctl, "-w", "kernel.perf_event_paranoid=-1").Run() == nil {
			if ok, why2 := try(); ok {
				return true, " (after sysctl kernel.perf_event_paranoid=-1)"
			} else {
				why = why2
			}
		}
	}
	return false, why
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

type perfCounts struct {
	syscalls  uint64
	switches  uint64
	taskClock time.Duration
}

// parsePerf reads `perf stat -x,` output: value,unit,event,...
func parsePerf(out string) (perfCounts, error) {
	var c perfCounts
	seen := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			if strings.HasPrefix(f[0], "<not") {
				return c, fmt.Errorf("perf: %s %s", f[2], f[0])
			}
			continue
		}
		switch f[2] {
		case "raw_syscalls:sys_enter":
			c.syscalls, seen = uint64(v), seen+1
		case "context-switches", "cs":
			c.switches, seen = uint64(v), seen+1
		case "task-clock":
			c.taskClock, seen = time.Duration(v*float64(time.Millisecond)), seen+1 // msec
		}
	}
	if seen < 3 {
		return c, fmt.Errorf("perf: %d of 3 events in its output", seen)
	}
	return c, nil
}

// perfSession is one `perf stat -p PID` that starts with its counters disabled and is
// switched on and off through its control FIFO, so that it counts exactly the window
// between enable and disable, not its own start-up.
type perfSession struct {
	cmd     *exec.Cmd
	ctl     *os.File
	ack     *os.File
	ackRd   *bufio.Reader
	outPath string
}

func startPerf(dir string, pid int) (*perfSession, error) {
	ctlPath := filepath.Join(dir, "perf.ctl")
	ackPath := filepath.Join(dir, "perf.ack")
	outPath := filepath.Join(dir, "perf.out")
	for _, p := range []string{ctlPath, ackPath, outPath} {
		os.Remove(p)
	}
	for _, p := range []string{ctlPath, ackPath} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			return nil, fmt.Errorf("mkfifo: %w", err)
		}
	}
	// O_RDWR: opening a FIFO that way never blocks for the other end (Linux fifo(7)).
	ctl, err := os.OpenFile(ctlPath, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	ack, err := os.OpenFile(ackPath, os.O_RDWR, 0)
	if err != nil {
		ctl.Close()
		return nil, err
	}
	cmd := exec.Command("perf", "stat", "-x,", "-e", perfEvents,
		"--control", "fifo:"+ctlPath+","+ackPath, "-D", "-1",
		"-p", strconv.Itoa(pid), "-o", outPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		ctl.Close()
		ack.Close()
		return nil, err
	}
	return &perfSession{cmd: cmd, ctl: ctl, ack: ack, ackRd: bufio.NewReader(ack), outPath: outPath}, nil
}

// command sends "enable" or "disable" and waits for perf's ack.
func (s *perfSession) command(c string) error {
	if _, err := s.ctl.WriteString(c + "\n"); err != nil {
		return err
	}
	s.ack.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := s.ackRd.ReadString('\n')
	if err != nil {
		return fmt.Errorf("perf did not ack %q: %w", c, err)
	}
	// perf writes the C string "ack\n" with its NUL, which opens the next line.
	if a := strings.Trim(line, "\x00\n "); a != "ack" {
		return fmt.Errorf("perf answered %q to %q", a, c)
	}
	return nil
}

// stop ends perf and returns what it counted.
func (s *perfSession) stop() (perfCounts, error) {
	defer s.ctl.Close()
	defer s.ack.Close()
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
		return perfCounts{}, errors.New("perf did not exit on SIGINT")
	}
	out, err := os.ReadFile(s.outPath)
	if err != nil {
		return perfCounts{}, err
	}
	return parsePerf(string(out))
}

// kill ends perf without reading it, on an error path.
func (s *perfSession) kill() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.ctl.Close()
	s.ack.Close()
}
