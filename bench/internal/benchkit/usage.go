package benchkit

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/logagent/logagent/internal/proc"
)

// SelfCPU is this process's user+system time so far: how a -child measures
// itself.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// MachineBusy is the non-idle CPU time of all CPUs since boot (/proc/stat:
// user, nice, system, irq, softirq, steal; 0 if unknown): with the children's
// CPU, it shows what else competed for the CPUs.
func MachineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += v
	}
	return time.Duration(ticks) * proc.ClockTick
}

// LoadAvg is the 1, 5 and 15 minute load average ("?" if unknown), which a
// report shows from before and after its runs.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
