package main

import (
	"math"
	"testing"
)

func TestQuantile(t *testing.T) {
	bs := []bucket{{0.1, 10}, {0.2, 50}, {0.4, 90}, {0.8, 100}, {math.Inf(1), 100}}
	for q, want := range map[float64]float64{0.05: 0.05, 0.5: 0.2, 0.7: 0.3, 0.99: 0.76} {
		if got, ok := quantile(bs, q); !ok || math.Abs(got-want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, %v; want %v", q, got, ok, want)
		}
	}
	if _, ok := quantile([]bucket{{math.Inf(1), 0}}, 0.5); ok {
		t.Error("a quantile of nothing")
	}
	if got, _ := quantile([]bucket{{1, 0}, {math.Inf(1), 4}}, 0.5); got != 1 {
		t.Errorf("beyond the last bound: %v, want 1 (at least)", got)
	}
}
