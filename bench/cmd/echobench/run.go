package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// env is what every measurement needs: the built binaries and how to place processes.
type env struct {
	dir       string // temp dir: binaries, python script, logs, perf FIFOs
	echoBin   string
	loadBin   string
	pyScript  string
	python    string // "" when no python3 was found
	taskset   string // "" when unpinned
	serverCPU int
	clientCPU int
	perf      bool
	eagain    bool
	warmup    time.Duration
	verbose   bool
	quiet     float64       // with -quiet: wait before each run until the machine is less busy than this
	quietMax  time.Duration // and at most this long
	maxOther  float64       // with -max-other: measure again when others were busier than this
}

// pinned prefixes argv with taskset -c cpu when pinning is on.
func (e *env) pinned(cpu int, argv ...string) *exec.Cmd {
	if e.taskset != "" {
		argv = append([]string{e.taskset, "-c", strconv.Itoa(cpu)}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	// taskset execs the program, so the pid is the program's; the death signal survives
	// exec and takes the child down if echobench dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// server is one running echo server.
type server struct {
	name string
	port int
	cmd  *exec.Cmd
	log  *os.File
	exit chan struct{} // closed when the process has exited
}

func (e *env) startServer(name string, port int) (*server, error) {
	var argv []string
	base, extra, _ := strings.Cut(name, "/")
	switch base {
	case "python":
		if e.python == "" {
			return nil, errors.New("no python3 found")
		}
		argv = []string{e.python, e.pyScript, strconv.Itoa(port)}
	default:
		argv = []string{e.echoBin, "-server", base, "-port", strconv.Itoa(port)}
		if e.eagain {
			argv = append(argv, "-eagain")
		}
		if extra != "" {
			argv = append(argv, strings.Split(extra, "+")...)
		}
	}
	logf, err := os.Create(filepath.Join(e.dir, strings.NewReplacer("/", "_", "=", "_").Replace(name)+".log"))
	if err != nil {
		return nil, err
	}
	cmd := e.pinned(e.serverCPU, argv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{name: name, port: port, cmd: cmd, log: logf, exit: make(chan struct{})}
	go func() { cmd.Wait(); close(s.exit) }()
	// Ready when it accepts a connection; bounded.
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.exit:
			return nil, fmt.Errorf("%s exited at start: %s", name, s.logTail())
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s: not listening after 15s: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) alive() bool {
	select {
	case <-s.exit:
		return false
	default:
		return true
	}
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.log.Name())
	t := strings.TrimSpace(string(b))
	if len(t) > 300 {
		t = "..." + t[len(t)-300:]
	}
	return t
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exit:
	case <-time.After(3 * time.Second):
		s.cmd.Process.Kill()
		<-s.exit
	}
	s.log.Close()
}

// loadResult mirrors loadgen's JSON line.
type loadResult struct {
	Seconds    float64 `json:"seconds"`
	Requests   uint64  `json:"requests"`
	Total      uint64  `json:"total"`
	RPS        float64 `json:"rps"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error"`
}

// sample is one measured window of one server.
type sample struct {
	Server   string  `json:"server"`
	Conns    int     `json:"conns"`
	Size     int     `json:"size"`
	Run      int     `json:"run"`
	RPS      float64 `json:"rps"`
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
	Requests uint64  `json:"requests"` // all echoes the server did in the window, drain included
	// Per request, over the window; negative when not measured.
	CPUus       float64 `json:"cpu_us_per_req"`       // /proc/PID/stat utime+stime
	TaskClockUs float64 `json:"taskclock_us_per_req"` // perf task-clock (ns resolution)
	Syscalls    float64 `json:"syscalls_per_req"`
	CtxSwitches float64 `json:"ctxsw_per_req"`
	CtxSource   string  `json:"ctxsw_source"`
	Threads     [2]int  `json:"threads"` // server threads at the window's start and end
	LoadAvg     string  `json:"loadavg"`
	// OtherLoad is the share of all cores that processes other than this server and the
	// load generator kept busy during the window (10 ms ticks): the noise in this sample.
	OtherLoad float64 `json:"other_load"`
	QuietWait float64 `json:"load_before"`          // the machine's load when the run began, with -quiet
	Err       string  `json:"error,omitempty"`      // the run failed: no figures
	PerfErr   string  `json:"perf_error,omitempty"` // perf failed: no syscall count
}

// measure runs the load generator against s once and samples s around the window.
func (e *env) measure(s *server, conns, size int, d time.Duration) (smp sample) {
	smp = sample{Server: s.name, Conns: conns, Size: size, CPUus: -1, TaskClockUs: -1, Syscalls: -1, CtxSwitches: -1, LoadAvg: loadAvg()}
	fail := func(err error) sample {
		smp.Err = err.Error()
		return smp
	}
	if !s.alive() {
		return fail(fmt.Errorf("server exited: %s", s.logTail()))
	}
	pid := s.cmd.Process.Pid
	lg := e.pinned(e.clientCPU, e.loadBin, "-addr", fmt.Sprintf("127.0.0.1:%d", s.port),
		"-conns", strconv.Itoa(conns), "-size", strconv.Itoa(size),
		"-duration", d.String(), "-warmup", e.warmup.String(), "-wait")
	stdin, err := lg.StdinPipe()
	if err != nil {
		return fail(err)
	}
	stdout, err := lg.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	var stderr strings.Builder
	lg.Stderr = &stderr
	if err := lg.Start(); err != nil {
		return fail(err)
	}
	lines := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	finished := false
	defer func() {
		if !finished {
			stdin.Close()
			lg.Process.Kill()
			lg.Wait()
		}
	}()
	// next waits for loadgen's next line; "" if it ended or timed out.
	next := func(timeout time.Duration) (string, error) {
		select {
		case l, ok := <-lines:
			if !ok {
				return "", errors.New("load generator ended early")
			}
			return l, nil
		case <-time.After(timeout):
			return "", fmt.Errorf("load generator silent for %v", timeout)
		}
	}
	result := func(l string) (loadResult, error) {
		var r loadResult
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			return r, fmt.Errorf("load generator said %q", l)
		}
		if r.Errors > 0 {
			return r, fmt.Errorf("%d failed connection(s) or bad echo: %s", r.Errors, r.FirstError)
		}
		return r, nil
	}

	l, err := next(60*time.Second + e.warmup)
	if err != nil {
		return fail(err)
	}
	if l != "READY" {
		_, err := result(l)
		if err == nil {
			err = fmt.Errorf("load generator said %q", l)
		}
		return fail(err)
	}
	if !s.alive() {
		return fail(fmt.Errorf("server exited: %s", s.logTail()))
	}

	var ps *perfSession
	if e.perf {
		// A perf failure costs this sample its syscall count, not its place.
		if ps, err = startPerf(e.dir, pid); err != nil {
			smp.PerfErr = err.Error()
		} else if err := ps.command("enable"); err != nil {
			smp.PerfErr = err.Error()
			ps.kill()
			ps = nil
		}
	}
	stopPerf := func() (perfCounts, error) {
		if ps == nil {
			return perfCounts{}, errors.New("no perf")
		}
		p := ps
		ps = nil
		if err := p.command("disable"); err != nil {
			p.kill()
			return perfCounts{}, err
		}
		return p.stop()
	}
	defer func() {
		if ps != nil {
			ps.kill()
		}
	}()

	busy0, cores, _ := machineBusy()
	lg0, _ := procCPU(lg.Process.Pid)
	t0 := time.Now()
	cpu0, err := procCPU(pid)
	if err != nil {
		return fail(err)
	}
	cs0, th0, err := procCtxSwitches(pid)
	if err != nil {
		return fail(err)
	}
	if _, err := io.WriteString(stdin, "GO\n"); err != nil {
		return fail(err)
	}
	l, err = next(d + 30*time.Second)
	if err != nil {
		return fail(err)
	}
	if l != "DONE" {
		_, err := result(l)
		if err == nil {
			err = fmt.Errorf("load generator said %q", l)
		}
		return fail(err)
	}
	cpu1, err1 := procCPU(pid)
	cs1, th1, err2 := procCtxSwitches(pid)
	lg1, _ := procCPU(lg.Process.Pid)
	busy1, _, _ := machineBusy()
	if wall := time.Since(t0); cores > 0 && wall > 0 {
		other := (busy1 - busy0) - (cpu1 - cpu0) - (lg1 - lg0)
		smp.OtherLoad = max(0, float64(other)/float64(wall)/float64(cores))
	}
	pc, perr := stopPerf()
	if err := errors.Join(err1, err2); err != nil {
		return fail(err)
	}
	l, err = next(10 * time.Second)
	if err != nil {
		return fail(err)
	}
	r, err := result(l)
	if err != nil {
		return fail(err)
	}
	stdin.Close() // loadgen closes its connections and exits
	finished = true
	if err := lg.Wait(); err != nil && stderr.Len() > 0 {
		return fail(fmt.Errorf("load generator: %v: %s", err, stderr.String()))
	}

	smp.RPS, smp.P50us, smp.P99us, smp.Requests = r.RPS, r.P50us, r.P99us, r.Total
	smp.Threads = [2]int{th0, th1}
	if r.Total == 0 {
		return fail(errors.New("no request completed"))
	}
	n := float64(r.Total)
	smp.CPUus = float64(cpu1-cpu0) / float64(time.Microsecond) / n
	smp.CtxSwitches, smp.CtxSource = float64(cs1-cs0)/n, "/proc"
	if e.perf && smp.PerfErr == "" && perr != nil {
		smp.PerfErr = perr.Error()
	}
	if e.perf && smp.PerfErr == "" {
		smp.Syscalls = float64(pc.syscalls) / n
		smp.CtxSwitches, smp.CtxSource = float64(pc.switches)/n, "perf"
		smp.TaskClockUs = float64(pc.taskClock) / float64(time.Microsecond) / n
	}
	return smp
}
