package benchkit

import (
	"crypto/sha256"
	"fmt"
	"testing"
)

// The benches compare runs over the same lines, and earlier reports were
// made with this sequence: it must not change by accident.
func TestNginxLinesSequence(t *testing.T) {
	const want = "a29aee3de4ca33dd5eb694af31f2b9b95160689ea1b029938568033d226a3023" // first 1000 lines
	a, b := NewNginxLines(), NewNginxLines()
	h := sha256.New()
	var total int
	const n = 10000
	for i := range n {
		la, lb := a.Append(nil), b.Append(nil)
		if string(la) != string(lb) {
			t.Fatalf("line %d: two generators differ:\n%s\n%s", i, la, lb)
		}
		if i < 1000 {
			h.Write(la)
			h.Write([]byte{'\n'})
		}
		total += len(la)
	}
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != want {
		t.Errorf("sha256 of the first 1000 lines = %s, want %s", got, want)
	}
	if avg := float64(total) / n; avg < 190 || avg > 210 {
		t.Errorf("average line %.1f bytes, want ~200", avg)
	}
}
