package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat: USER_HZ, 100 on every Linux ABI.
const userHZ = 100

// procCPU returns the CPU time, user plus system, that process pid and all its threads
// have used, from /proc/PID/stat (10 ms resolution).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces: count from the
	// last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime or stime", pid)
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// procCtxSwitches returns the voluntary plus involuntary context switches of pid's live
// threads, from /proc/PID/task/*/status, and how many threads there are.
func procCtxSwitches(pid int) (switches uint64, threads int, err error) {
	dirs, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(dirs) == 0 {
		return 0, 0, fmt.Errorf("no threads for pid %d", pid)
	}
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread just exited
		}
		threads++
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "voluntary_ctxt_switches:") ||
				strings.HasPrefix(line, "nonvoluntary_ctxt_switches:") {
				v, _ := strconv.ParseUint(strings.TrimSpace(line[strings.IndexByte(line, ':')+1:]), 10, 64)
				switches += v
			}
		}
	}
	return switches, threads, nil
}

// loadAvg returns the first field of /proc/loadavg: how busy the machine was, which on a
// shared 2-core box says how noisy a cell's numbers are.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// machineBusy returns the CPU time all cores have spent busy (not idle, not waiting for
// I/O), from the first line of /proc/stat, and how many cores there are.
func machineBusy() (time.Duration, int, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	lines := strings.Split(string(b), "\n")
	f := strings.Fields(lines[0])
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", lines[0])
	}
	var busy uint64
	for i, s := range f[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		switch i {
		case 3, 4: // idle, iowait
		case 8, 9: // guest, guest_nice: already counted in user and nice
		default:
			busy += v
		}
	}
	cores := 0
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "cpu") {
			cores++
		}
	}
	return time.Duration(busy) * time.Second / userHZ, cores, nil
}

// machineLoad returns the share of the machine's cores that were busy over d.
func machineLoad(d time.Duration) float64 {
	b0, n, err := machineBusy()
	if err != nil || n == 0 {
		return 0
	}
	t0 := time.Now()
	time.Sleep(d)
	b1, _, _ := machineBusy()
	return float64(b1-b0) / float64(time.Since(t0)) / float64(n)
}

// waitQuiet waits, at most maxWait, until the machine is less than limit busy (a share of
// all cores); it returns the last load it saw.
func waitQuiet(limit float64, maxWait time.Duration) float64 {
	deadline := time.Now().Add(maxWait)
	for {
		l := machineLoad(250 * time.Millisecond)
		if l < limit || time.Now().After(deadline) {
			return l
		}
		time.Sleep(250 * time.Millisecond)
	}
}
