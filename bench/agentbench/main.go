// Command agentbench measures logagent's end-to-end shipping throughput
// against a bare sarama AsyncProducer, in one run on one broker.
//
// It builds cmd/logagent and cmd/devstack, starts devstack (embedded etcd and
// a kfake broker) as a child on free ports with one topic per run, writes a
// file of nginx-like lines (~200 bytes, deterministic) and then measures, each
// in its own child process so CPU time and peak RSS are taken the same way
// (wait4's rusage):
//
//   - bare:  a sarama AsyncProducer (this binary, -child bare) sending the
//     very envelopes the agent would send, pre-built in memory with the
//     agent's own encoder, with the agent's producer settings
//     (conf.Kafka.Sarama defaults plus what agent.NewShipper sets), until
//     every message is acknowledged;
//   - agent: the logagent binary shipping the file named in its etcd collect
//     config, from process start until the topic holds every line;
//   - raw:   the bare producer on the raw lines (no envelope), for context.
//
// Throughput is counted on the broker for every run: the time from the first
// record of the run's topic being visible (sum of partition high watermarks
// > 0) to all of them being visible. The agent also gets a row from process
// start, which includes its start-up (etcd, Kafka metadata).
//
// Usage: go run ./bench/agentbench [-lines 1000000] [-runs bare,agent,raw]
// or `make bench`. -profile DIR runs the logagent binary with -cpuprofile and
// the bare producer under the same profiler, writing DIR/agent.pprof and
// DIR/<format>-bare.pprof; inspect it with `go tool pprof -top DIR/agent.pprof`.
package main

import (
	"context"
	"flag"
	"time"

	"github.com/logagent/logagent/bench/internal/benchkit"
)

// prog prefixes what the bench says on stderr.
const prog benchkit.Prog = "agentbench"

type options struct {
	lines      int
	partitions int
	runs       []string
	timeout    time.Duration
	keep       bool
	profileDir string
	verbose    bool
	agentEnv   []string
}

func main() {
	child := flag.String("child", "", "internal: run as a measured child (bare | agent)")
	var o options
	var runs string
	flag.IntVar(&o.lines, "lines", 1_000_000, "lines in the generated file (and messages per run)")
	flag.IntVar(&o.partitions, "partitions", 3, "partitions per topic")
	flag.StringVar(&runs, "runs", "bare,agent,raw", "runs, in order: bare (envelopes), agent, raw (bare on raw lines)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "time limit of each run")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binaries, logs, data)")
	flag.StringVar(&o.profileDir, "profile", "", "write CPU profiles of the agent (its -cpuprofile) and the bare producer here")
	flag.BoolVar(&o.verbose, "v", false, "log progress details and sample record values")
	agentEnv := flag.String("agent-env", "", "extra environment for the agent child, comma-separated KEY=VALUE (e.g. GOGC=200)")
	childArgs := registerChildFlags()
	flag.Parse()

	if *child != "" {
		prog.Child(*child, map[string]func() error{
			"bare": func() error { return runBareChild(childArgs) },
		})
		return
	}

	o.runs = prog.Runs(runs, "bare", "agent", "raw")
	o.agentEnv = benchkit.List(*agentEnv)
	if o.lines < 1 || o.partitions < 1 || len(o.runs) == 0 {
		prog.Exit(2, "-lines and -partitions must be positive and -runs not empty")
	}
	o.profileDir = prog.ProfileDir(o.profileDir)
	prog.Main(func(ctx context.Context) error { return run(ctx, o) })
}
