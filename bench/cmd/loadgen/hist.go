package main

import "math/bits"

// hist is a log-linear latency histogram in nanoseconds: exact below 128 ns, then 64
// buckets per power of two, so a quantile is within 1/64 (1.6%) of the true value, in a
// fixed 17 KiB whatever the number of samples.
type hist struct {
	counts [64 * 36]uint64 // reaches 2^35 ns (34 s); longer goes into the last bucket
	n      uint64
}

func (h *hist) add(ns int64) {
	if ns < 0 {
		ns = 0
	}
	v := uint64(ns)
	idx := int(v)
	if v >= 128 {
		e := bits.Len64(v) - 7
		idx = e*64 + int(v>>e)
	}
	if idx >= len(h.counts) {
		idx = len(h.counts) - 1
	}
	h.counts[idx]++
	h.n++
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the middle of the bucket that holds quantile q, in nanoseconds.
func (h *hist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	if rank >= h.n {
		rank = h.n - 1
	}
	var seen uint64
	for idx, c := range h.counts {
		seen += c
		if seen > rank {
			if idx < 128 {
				return float64(idx)
			}
			e := idx/64 - 1
			lo := uint64(idx-e*64) << e
			return float64(lo) + float64(uint64(1)<<e)/2
		}
	}
	return 0
}
