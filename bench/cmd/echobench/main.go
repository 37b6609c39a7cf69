// Command echobench measures the echo servers of this module against each other.
//
// For each cell of the matrix (connections C, message size M) it starts every server as a
// child process (pinned to one core with taskset, the load generator to another), then, for
// each run, measures the servers one after the other (the order rotating from run to run):
// the load generator opens C connections, warms up, and then for -duration each connection
// sends an M-byte message and waits for its whole echo, in a loop. Around that window it
// reads the server's CPU time from /proc/PID/stat and, where perf can count, its syscalls
// and context switches with `perf stat -p PID`. It prints one markdown table per cell, and
// exits 1 if any server failed to echo correctly.
//
//	go run ./cmd/echobench            # the full matrix (about 11 minutes)
//	go run ./cmd/echobench -quick     # CI smoke: 1 run of 1 s, C=16, M=16, every server
//
// See README.md for what the columns mean.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rawpoll/poller/bench/python"
)

var allServers = []string{"poller", "raw", "net", "gnet", "python"}

func main() {
	os.Exit(mainErr())
}

func mainErr() int {
	conns := flag.String("conns", "16,256,1024", "comma-separated connection counts C")
	sizes := flag.String("sizes", "16,512,4096", "comma-separated message sizes M in bytes")
	runs := flag.Int("runs", 5, "runs per cell; each run measures every server once")
	duration := flag.Duration("duration", 2*time.Second, "measured window of one run of one server")
	warmup := flag.Duration("warmup", 300*time.Millisecond, "load before each window, not measured")
	servers := flag.String("servers", strings.Join(allServers, ","), "comma-separated servers: "+strings.Join(allServers, ", ")+
		"; a Go server may carry echoserver flags after a slash, joined by '+': raw/-poll0=false+-rawio=false")
	quick := flag.Bool("quick", false, "smoke test: -runs 1 -duration 1s -warmup 200ms -conns 16 -sizes 16, unless given")
	unpinned := flag.Bool("unpinned", false, "do not pin server and load generator to separate cores")
	serverCPU := flag.Int("server-cpu", 1, "core for the servers when pinned")
	clientCPU := flag.Int("client-cpu", 0, "core for the load generator when pinned")
	perfMode := flag.String("perf", "auto", "count syscalls and context switches with perf: auto or off")
	eagain := flag.Bool("eagain", false, "poller and raw servers read until EAGAIN even after a short read")
	basePort := flag.Int("port", 17100, "first TCP port on 127.0.0.1; server i listens on port+i")
	pythonBin := flag.String("python", "", "python3 for the selectors server (default: /usr/bin/python3, else python3 on PATH)")
	jsonOut := flag.String("json", "", "also write every sample as JSON to this file")
	verbose := flag.Bool("v", false, "print every sample as it is taken")
	quiet := flag.Float64("quiet", 0, "on a shared machine: before each measurement wait (at most -quiet-max) until the machine is less than this share busy, e.g. 0.2 (0: do not wait)")
	quietMax := flag.Duration("quiet-max", 30*time.Second, "longest wait for -quiet before one measurement")
	maxOther := flag.Float64("max-other", 0, "on a shared machine: measure again (twice at most, keeping the quietest) when other processes kept more than this share of all cores busy during the window (0: never)")
	from := flag.String("from", "", "print the tables of a -json file again (with the current table code) instead of measuring")
	flag.Parse()

	if *from != "" {
		return retable(*from)
	}
	if *quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("runs", func() { *runs = 1 })
		def("duration", func() { *duration = time.Second })
		def("warmup", func() { *warmup = 200 * time.Millisecond })
		def("conns", func() { *conns = "16" })
		def("sizes", func() { *sizes = "16" })
	}
	cs, err := intList(*conns)
	if err != nil {
		return usage("-conns: %v", err)
	}
	ms, err := intList(*sizes)
	if err != nil {
		return usage("-sizes: %v", err)
	}
	names := strings.Split(*servers, ",")
	for _, n := range names {
		if base, _, _ := strings.Cut(n, "/"); !contains(allServers, base) {
			return usage("-servers: unknown server %q", n)
		}
	}
	if *runs < 1 || *duration <= 0 || *warmup < 0 {
		return usage("-runs must be >= 1 and -duration > 0")
	}

	dir, err := os.MkdirTemp("", "echobench-")
	if err != nil {
		return fatal(err)
	}
	defer os.RemoveAll(dir)
	e := &env{dir: dir, serverCPU: *serverCPU, clientCPU: *clientCPU, eagain: *eagain, warmup: *warmup, verbose: *verbose, quiet: *quiet, quietMax: *quietMax, maxOther: *maxOther}

	// Setup, and what it found, printed so a table is never read without its conditions.
	fmt.Printf("# echobench\n\n")
	if err := build(e); err != nil {
		return fatal(err)
	}
	e.python = findPython(*pythonBin)
	notes := []string{fmt.Sprintf("%s, %d CPUs (%s), kernel %s", runtime.Version(), runtime.NumCPU(), cpuModel(), kernel())}
	switch ts, err := exec.LookPath("taskset"); {
	case *unpinned:
		notes = append(notes, "unpinned: servers and load generator share all cores")
	case err != nil:
		notes = append(notes, "unpinned: taskset not found (Debian: util-linux)")
	case runtime.NumCPU() < 2 || *serverCPU == *clientCPU:
		notes = append(notes, "unpinned: fewer than 2 cores, or -server-cpu equals -client-cpu")
	default:
		e.taskset = ts
		notes = append(notes, fmt.Sprintf("pinned with taskset: servers on CPU %d, load generator on CPU %d (so GOMAXPROCS is 1 on each side and the poller, raw and gnet servers run one loop)", *serverCPU, *clientCPU))
	}
	if *perfMode != "off" {
		ok, why := perfCheck()
		e.perf = ok
		if ok {
			notes = append(notes, "perf stat -p counts each server's syscalls (raw_syscalls:sys_enter), context switches and CPU time (task-clock) over each window"+why)
		} else {
			notes = append(notes, "no syscall counts: "+why+"; CPU time from /proc/PID/stat, context switches from /proc/PID/task/*/status instead")
		}
	} else {
		notes = append(notes, "perf off: no syscall counts; CPU time from /proc/PID/stat, context switches from /proc/PID/task/*/status")
	}
	if contains(names, "python") && e.python == "" {
		notes = append(notes, "python3 not found: the python server will fail")
	}
	if *eagain {
		notes = append(notes, "-eagain: poller and raw read until EAGAIN after every short read")
	}
	perMeasure := *warmup + *duration + 500*time.Millisecond
	var total time.Duration
	for _, c := range cs {
		total += time.Duration(len(ms)*len(names)**runs) * (perMeasure + time.Duration(c)*time.Millisecond/2)
	}
	notes = append(notes, fmt.Sprintf("matrix: C %v × M %v × %d servers × %d runs of %v (+%v warm-up): about %v",
		cs, ms, len(names), *runs, *duration, *warmup, total.Round(time.Second)))
	for _, n := range notes {
		fmt.Println("- " + n)
	}
	fmt.Println()

	var all []sample
	failed := false
	for _, c := range cs {
		for _, m := range ms {
			samples, ok := e.cell(names, c, m, *runs, *duration, *basePort)
			failed = failed || !ok
			all = append(all, samples...)
			printTable(os.Stdout, names, c, m, *runs, samples, e.perf)
		}
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(all, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return fatal(err)
		}
	}
	if failed {
		fmt.Println("FAIL: at least one server did not start or did not echo correctly (see the tables)")
		return 1
	}
	fmt.Println("ok: every server echoed every message correctly")
	return 0
}

// cell measures every server runs times at C=c, M=m, servers interleaved within each run.
func (e *env) cell(names []string, c, m, runs int, d time.Duration, basePort int) ([]sample, bool) {
	fmt.Fprintf(os.Stderr, "cell C=%d M=%d (load average %s)\n", c, m, loadAvg())
	ok := true
	srv := map[string]*server{}
	var samples []sample
	for i, n := range names {
		port := basePort + i
		if err := portFree(port); err != nil {
			samples = append(samples, sample{Server: n, Conns: c, Size: m, Err: err.Error()})
			ok = false
			continue
		}
		s, err := e.startServer(n, port)
		if err != nil {
			samples = append(samples, sample{Server: n, Conns: c, Size: m, Err: err.Error()})
			ok = false
			continue
		}
		srv[n] = s
	}
	defer func() {
		for _, s := range srv {
			s.stop()
		}
	}()
	for r := 0; r < runs; r++ {
		for k := range names {
			n := names[(k+r)%len(names)]
			s := srv[n]
			if s == nil {
				continue
			}
			smp := e.measureQuietly(s, c, m, d)
			smp.Run = r + 1
			if smp.Err != "" {
				ok = false
				fmt.Fprintf(os.Stderr, "  run %d %-6s FAIL: %s\n", r+1, n, smp.Err)
			} else if smp.PerfErr != "" {
				fmt.Fprintf(os.Stderr, "  run %d %-6s perf failed, no syscall count: %s\n", r+1, n, smp.PerfErr)
			}
			if smp.Err == "" && e.verbose {
				fmt.Fprintf(os.Stderr, "  run %d %-6s %9.0f req/s  p50 %6.1f µs  p99 %7.1f µs  cpu %.2f (task-clock %.2f) µs/req  %.2f syscalls/req  %.3f cs/req  threads %v  others %.0f%%\n",
					r+1, n, smp.RPS, smp.P50us, smp.P99us, smp.CPUus, smp.TaskClockUs, smp.Syscalls, smp.CtxSwitches, smp.Threads, 100*smp.OtherLoad)
			}
			samples = append(samples, smp)
		}
	}
	return samples, ok
}

// measureQuietly is measure with the -quiet wait before it, and, with -max-other, up to
// two more tries when other processes kept the machine too busy during the window; it
// keeps the quietest try.
func (e *env) measureQuietly(s *server, c, m int, d time.Duration) sample {
	var best sample
	for try := 0; try < 3; try++ {
		before := -1.0
		if e.quiet > 0 {
			before = waitQuiet(e.quiet, e.quietMax)
		}
		smp := e.measure(s, c, m, d)
		smp.QuietWait = before
		if smp.Err != "" {
			return smp
		}
		if try == 0 || smp.OtherLoad < best.OtherLoad {
			best = smp
		}
		if e.maxOther <= 0 || smp.OtherLoad <= e.maxOther {
			break
		}
		if e.verbose {
			fmt.Fprintf(os.Stderr, "  (%s: others kept %.0f%% of the machine busy; trying again)\n", s.name, 100*smp.OtherLoad)
		}
	}
	return best
}

// retable prints the tables of the samples in a -json file, cells and servers in the order
// they were first measured.
func retable(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return fatal(err)
	}
	var all []sample
	if err := json.Unmarshal(b, &all); err != nil {
		return fatal(err)
	}
	type cellKey struct{ c, m int }
	var cells []cellKey
	var names []string
	seen := map[cellKey]bool{}
	perf := false
	for _, s := range all {
		k := cellKey{s.Conns, s.Size}
		if !seen[k] {
			seen[k] = true
			cells = append(cells, k)
		}
		if !contains(names, s.Server) {
			names = append(names, s.Server)
		}
		perf = perf || s.Syscalls >= 0
	}
	// Keep the usual order: the servers in allServers order, variants after.
	sort.SliceStable(names, func(i, j int) bool { return serverRank(names[i]) < serverRank(names[j]) })
	for _, k := range cells {
		var cs []sample
		for _, s := range all {
			if s.Conns == k.c && s.Size == k.m {
				cs = append(cs, s)
			}
		}
		printTable(os.Stdout, names, k.c, k.m, 0, cs, perf)
	}
	return 0
}

func serverRank(name string) int {
	base, _, variant := strings.Cut(name, "/")
	for i, s := range allServers {
		if s == base {
			if variant {
				return 2*i + 1
			}
			return 2 * i
		}
	}
	return 2 * len(allServers)
}

func build(e *env) error {
	out, err := exec.Command("go", "list", "-m").Output()
	if err != nil || strings.TrimSpace(string(out)) != "github.com/rawpoll/poller/bench" {
		return fmt.Errorf("run echobench from the bench module (cd bench && go run ./cmd/echobench): go list -m said %q", strings.TrimSpace(string(out)))
	}
	t := time.Now()
	cmd := exec.Command("go", "build", "-o", e.dir+string(filepath.Separator),
		"github.com/rawpoll/poller/bench/cmd/echoserver", "github.com/rawpoll/poller/bench/cmd/loadgen")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	e.echoBin = filepath.Join(e.dir, "echoserver")
	e.loadBin = filepath.Join(e.dir, "loadgen")
	e.pyScript = filepath.Join(e.dir, "selectors_echo.py")
	if err := os.WriteFile(e.pyScript, python.SelectorsEcho, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "built the servers and the load generator in %v\n", time.Since(t).Round(time.Millisecond))
	return nil
}

func findPython(flagged string) string {
	if flagged != "" {
		return flagged
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	if p, err := exec.LookPath("python3"); err == nil {
		return p
	}
	return ""
}

func portFree(port int) error {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("port %d is taken (choose another -port): %w", port, err)
	}
	return ln.Close()
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			return strings.TrimSpace(l[strings.IndexByte(l, ':')+1:])
		}
	}
	return "unknown CPU"
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func usage(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "echobench: "+format+"\n", args...)
	flag.Usage()
	return 2
}

func fatal(err error) int {
	fmt.Fprintln(os.Stderr, "echobench:", err)
	return 1
}
