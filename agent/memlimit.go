package agent

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/logagent/logagent/conf"
)

// applyMemoryLimit sets the Go runtime's soft memory limit to
// limits.memory_limit, unless GOMEMLIMIT is set: the operator's explicit
// choice for the process wins. Batch memory and read buffers are capped by
// the config; this keeps the garbage collector from letting the heap grow to
// twice what they and the rest hold when a thousand files are busy at once.
func applyMemoryLimit(l conf.Limits, log *slog.Logger) {
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		log.Info("memory limit from GOMEMLIMIT; limits.memory_limit not applied", "gomemlimit", env)
		return
	}
	debug.SetMemoryLimit(int64(l.MemoryLimit))
}
