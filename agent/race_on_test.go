//go:build race

package agent

// raceDetector: this test binary runs under the race detector, which makes
// allocations bigger and pools leakier.
const raceDetector = true
