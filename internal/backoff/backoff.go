// Package backoff is the retry pacing both daemons use: exponential, capped,
// with jitter so that many agents or transfer instances do not retry in step.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay is the wait before retry number attempt (1 for the first): initial
// doubled per attempt up to max, then a random point in its upper half.
func Delay(attempt int, initial, max time.Duration) time.Duration {
	d := initial << min(attempt-1, 30)
	if d <= 0 || d > max {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}

// Sleep waits d or until ctx is done, and then returns ctx's error.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
