package agent

import (
	"runtime/debug"
	"testing"

	"github.com/logagent/logagent/conf"
)

func TestMemoryLimitFollowsTheConfigUnlessGOMEMLIMITIsSet(t *testing.T) {
	was := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(was) })

	t.Setenv("GOMEMLIMIT", "")
	applyMemoryLimit(conf.Limits{MemoryLimit: 48 << 20}, testLogger(t))
	if got := debug.SetMemoryLimit(-1); got != 48<<20 {
		t.Fatalf("memory limit %d, want limits.memory_limit %d", got, 48<<20)
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	applyMemoryLimit(conf.Limits{MemoryLimit: 64 << 20}, testLogger(t))
	if got := debug.SetMemoryLimit(-1); got != 48<<20 {
		t.Fatalf("memory limit %d changed although GOMEMLIMIT is set", got)
	}
}
