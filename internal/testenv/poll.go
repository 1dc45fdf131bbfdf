package testenv

import (
	"fmt"
	"testing"
	"time"
)

// Eventually polls cond until it returns true, and fails the test with the
// message if that does not happen within timeout. Polling starts at 5 ms and
// slows to 100 ms. Call it from the test goroutine (it uses t.Fatalf).
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msgf string, args ...any) {
	t.Helper()
	if !Within(timeout, cond) {
		t.Fatalf("not within %v: %s", timeout, fmt.Sprintf(msgf, args...))
	}
}

// Within polls cond like Eventually and reports whether it became true
// within timeout, for callers that explain a failure with what they saw.
func Within(timeout time.Duration, cond func() bool) bool {
	start := time.Now()
	interval := 5 * time.Millisecond
	for {
		if cond() {
			return true
		}
		if time.Since(start) >= timeout {
			return false
		}
		time.Sleep(interval)
		interval = min(interval*2, 100*time.Millisecond)
	}
}
