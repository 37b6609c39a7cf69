package main

import (
	"math"
	"testing"
)

func TestHistQuantile(t *testing.T) {
	for _, v := range []int64{0, 5, 127, 128, 129, 1000, 12345, 999_999, 7_000_000_000} {
		var h hist
		h.add(v)
		got := h.quantile(0.5)
		if math.Abs(got-float64(v)) > float64(v)/64+1 {
			t.Errorf("one sample %d: median %v", v, got)
		}
	}
	var h hist
	for i := int64(1); i <= 100000; i++ {
		h.add(i * 100)
	}
	for _, q := range []float64{0.5, 0.99} {
		want := q * 100000 * 100
		if got := h.quantile(q); math.Abs(got-want) > want/50 {
			t.Errorf("quantile %v = %v, want about %v", q, got, want)
		}
	}
}
