package main

import (
	"fmt"
	"runtime"
	"time"

	"github.com/logagent/logagent/bench/internal/benchkit"
	"github.com/logagent/logagent/internal/proc"
)

// cpuSnap is the CPU used so far by the machine and by each process of a
// run, to show what else competed for the CPUs during a measured span.
type cpuSnap struct {
	t                        time.Time
	busy                     time.Duration // all CPUs, non-idle, since boot
	child, zinc, kafka, self time.Duration
}

func (e *env) snap(child *proc.Process) cpuSnap {
	s := cpuSnap{t: time.Now(), busy: benchkit.MachineBusy(), self: benchkit.SelfCPU()}
	if child != nil {
		s.child, _ = child.CPUSoFar()
	}
	if e.zinc != nil {
		s.zinc, _ = e.zinc.proc.CPUSoFar()
	}
	if e.devstack != nil {
		s.kafka, _ = e.devstack.Process.CPUSoFar()
	}
	return s
}

// share describes how the CPUs were used between two snapshots, in cores.
func share(name string, a, b cpuSnap) (desc string, others float64) {
	wall := b.t.Sub(a.t).Seconds()
	if wall <= 0 {
		return "", 0
	}
	c := func(d time.Duration) float64 { return d.Seconds() / wall }
	busy, child, z, k, self := c(b.busy-a.busy), c(b.child-a.child), c(b.zinc-a.zinc), c(b.kafka-a.kafka), c(b.self-a.self)
	others = max(0, busy-child-z-k-self)
	return fmt.Sprintf("cores busy during %s (%.1f s to acked): %.2f of %d; %s %.2f, zincsearch %.2f, kfake %.2f, this bench %.2f, other processes %.2f",
		name, wall, busy, runtime.NumCPU(), name, child, z, k, self, others), others
}
