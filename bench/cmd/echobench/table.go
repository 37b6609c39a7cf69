package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// stats are one server's figures in one cell, medians over its good runs.
type stats struct {
	ok, runs                int
	rps, rpsMin, rpsMax     float64
	p50, p99                float64
	cpu, taskClock, sys, cs float64 // per request; NaN when not measured
	procCPU                 float64 // cpu from /proc/PID/stat, which cpu is when perf did not count
	errs                    []string
}

func summarize(samples []sample, name string) stats {
	st := stats{}
	var rps, p50, p99, cpu, tc, sys, cs []float64
	for _, s := range samples {
		if s.Server != name {
			continue
		}
		st.runs++
		if s.Err != "" {
			st.errs = append(st.errs, s.Err)
			continue
		}
		st.ok++
		rps = append(rps, s.RPS)
		p50 = append(p50, s.P50us)
		p99 = append(p99, s.P99us)
		cpu = append(cpu, s.CPUus)
		if s.TaskClockUs >= 0 {
			tc = append(tc, s.TaskClockUs)
		}
		if s.Syscalls >= 0 {
			sys = append(sys, s.Syscalls)
		}
		if s.CtxSwitches >= 0 {
			cs = append(cs, s.CtxSwitches)
		}
	}
	st.rps, st.rpsMin, st.rpsMax = median(rps), minOf(rps), maxOf(rps)
	st.p50, st.p99 = median(p50), median(p99)
	st.cpu, st.taskClock, st.sys, st.cs = median(cpu), median(tc), median(sys), median(cs)
	st.procCPU = st.cpu
	if len(tc) == len(cpu) && len(tc) > 0 {
		// perf's task-clock is the same quantity as utime+stime, in nanoseconds rather
		// than 10 ms ticks: use it where every run has it.
		st.cpu = st.taskClock
	}
	return st
}

func printTable(w io.Writer, names []string, c, m, runs int, samples []sample, perf bool) {
	fmt.Fprintf(w, "### C=%d connections, M=%d B messages\n\n", c, m)
	fmt.Fprintln(w, "| server | req/s median [min–max] | ×raw | p50 µs | p99 µs | CPU µs/req | ×raw | syscalls/req | ×raw | ctx sw/req | ×raw |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	st := map[string]stats{}
	for _, n := range names {
		st[n] = summarize(samples, n)
	}
	raw, haveRaw := st["raw"]
	haveRaw = haveRaw && raw.ok > 0
	ratio := func(v, ref float64) string {
		if !haveRaw || math.IsNaN(v) || math.IsNaN(ref) || ref == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", v/ref)
	}
	for _, n := range names {
		s := st[n]
		if s.ok == 0 {
			fmt.Fprintf(w, "| %s | FAIL (%d/%d runs): %s | | | | | | | | | |\n", n, s.ok, s.runs, oneLine(s.errs))
			continue
		}
		label := n
		if s.ok < s.runs {
			label = fmt.Sprintf("%s (%d/%d runs ok)", n, s.ok, s.runs)
		}
		sysCol, csCol := num(s.sys, 2), num(s.cs, 3)
		if !perf && math.IsNaN(s.sys) {
			sysCol = "n/a"
		}
		fmt.Fprintf(w, "| %s | %s [%s–%s] | %s | %.1f | %.1f | %s | %s | %s | %s | %s | %s |\n",
			label, thousands(s.rps), thousands(s.rpsMin), thousands(s.rpsMax), ratio(s.rps, raw.rps),
			s.p50, s.p99, num(s.cpu, 2), ratio(s.cpu, raw.cpu), sysCol, ratio(s.sys, raw.sys),
			csCol, ratio(s.cs, raw.cs))
	}
	fmt.Fprintln(w)
	var others []float64
	for _, s := range samples {
		if s.Err == "" {
			others = append(others, s.OtherLoad)
		}
	}
	if len(others) > 0 {
		fmt.Fprintf(w, "Other processes kept %.0f%% of the machine busy during the median window (max %.0f%%).\n\n",
			100*median(others), 100*maxOf(others))
	}
	if t := targets(st, samples); t != "" {
		fmt.Fprintln(w, t)
		fmt.Fprintln(w)
	}
	for _, n := range names {
		if s := st[n]; s.ok > 0 && len(s.errs) > 0 {
			fmt.Fprintf(w, "- %s failed %d run(s): %s\n", n, len(s.errs), oneLine(s.errs))
		}
	}
}

// paired returns the median over runs of a's figure divided by b's figure in the same run.
// The servers of one run are measured back to back, so a drift of the machine between runs
// (which on a shared VM moves every server's CPU/request by 20% at times) cancels out in
// these ratios, where it does not in the ratio of two medians.
func paired(samples []sample, a, b string, f func(sample) float64) float64 {
	byRun := map[int]sample{}
	for _, s := range samples {
		if s.Server == b && s.Err == "" {
			byRun[s.Run] = s
		}
	}
	var r []float64
	for _, s := range samples {
		if o, ok := byRun[s.Run]; ok && s.Server == a && s.Err == "" && f(o) > 0 && f(s) >= 0 {
			r = append(r, f(s)/f(o))
		}
	}
	return median(r)
}

func cpuOf(s sample) float64 {
	if s.TaskClockUs >= 0 {
		return s.TaskClockUs
	}
	return s.CPUus
}

// targets checks the poller server against the project's goals for this cell, by the
// medians and by the paired ratios (see paired); a target is met when the paired ratio meets it.
func targets(st map[string]stats, samples []sample) string {
	p, raw := st["poller"], st["raw"]
	if p.ok == 0 || raw.ok == 0 {
		return ""
	}
	rps := func(s sample) float64 { return s.RPS }
	sys := func(s sample) float64 { return s.Syscalls }
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	var parts []string
	if !math.IsNaN(p.sys) && !math.IsNaN(raw.sys) {
		r := paired(samples, "poller", "raw", sys)
		parts = append(parts, fmt.Sprintf("syscalls/req ≤ raw: %s (paired %.3f×; medians %.3f vs %.3f)", mark(r <= 1), r, p.sys, raw.sys))
		if g := st["gnet"]; g.ok > 0 && !math.IsNaN(g.sys) {
			r := paired(samples, "poller", "gnet", sys)
			parts = append(parts, fmt.Sprintf("≤ gnet: %s (paired %.3f×; median %.3f)", mark(r <= 1), r, g.sys))
		}
	}
	r := paired(samples, "poller", "raw", cpuOf)
	parts = append(parts, fmt.Sprintf("CPU/req ≤ 1.03× raw: %s (paired %.3f×; medians %.3f×)", mark(r <= 1.03), r, p.cpu/raw.cpu))
	r = paired(samples, "poller", "raw", rps)
	parts = append(parts, fmt.Sprintf("req/s ≥ 0.97× raw: %s (paired %.3f×; medians %.3f×)", mark(r >= 0.97), r, p.rps/raw.rps))
	if n := st["net"]; n.ok > 0 {
		r := paired(samples, "poller", "net", rps)
		rc := paired(samples, "poller", "net", cpuOf)
		parts = append(parts, fmt.Sprintf("ahead of net: %s (paired %.2f× its req/s, %.2f× its CPU/req)", mark(r > 1), r, rc))
	}
	return "Targets for poller: " + strings.Join(parts, "; ") + "."
}

func oneLine(errs []string) string {
	if len(errs) == 0 {
		return ""
	}
	s := strings.ReplaceAll(errs[0], "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func num(v float64, prec int) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minOf(v []float64) float64 {
	m := math.Inf(1)
	for _, x := range v {
		m = math.Min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, x)
	}
	return m
}
