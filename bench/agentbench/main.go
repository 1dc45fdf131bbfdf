// Command agentbench measures the real logagent binary against the bare
// limits of its Kafka client, in one run on one broker, the way an outsider
// would: every shipper is a child process, timed from its exec until the
// broker holds every line, its CPU and peak RSS taken from /proc and wait4.
//
// It builds cmd/logagent and cmd/devstack and starts devstack (embedded etcd
// and a kfake broker) on free ports. By default kfake keeps records in
// memory: with its data dir and synchronous writes every produce request
// waits for an fsync, the broker becomes the bottleneck, the batches shrink
// and the clients' CPU per line grows (the reason earlier figures of this
// bench disagreed with an outside measurement on an in-memory broker).
//
// Modes:
//
//   - throughput (default): one file of -lines nginx-like lines (~200 B)
//     shipped by each run of -runs, -repeat rounds interleaved, medians:
//     forget and ceiling (bare sarama AsyncProducers, this binary as -child,
//     reading the file line by line with the agent's producer settings),
//     ceiling-envelope (the ceiling sending the agent's envelopes), agent and
//     agent-raw (the logagent binary), and with -before REV the logagent
//     binary built at REV. Ratios are to the ceiling and to forget.
//   - -files N: N files of -lines-per-file lines under one glob, with
//     -max-open-files; time to ship, peak RSS, heap in use, goroutines
//     (with -before REV, first for the agent built at REV).
//   - -rotation: lines written at -rate into a file renamed every
//     -rotate-every lines, with late lines into the renamed file.
//   - -outage D: lines written at -rate while the broker (all of devstack,
//     so etcd too, on a data dir with synchronous writes) is down for D.
//
// Usage: go run ./bench/agentbench [flags], or make bench. -profile DIR
// writes CPU profiles of every child (the agent's -cpuprofile); read them
// with go tool pprof -top DIR/agent.pprof.
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
	repeat     int
	before     string
	timeout    time.Duration
	keep       bool
	profileDir string
	verbose    bool
	agentEnv   []string

	files        int
	linesPerFile int
	maxOpenFiles int

	rotation    bool
	outage      time.Duration
	rate        int
	rotateEvery int
	kafkaDisk   bool
}

func main() {
	child := flag.String("child", "", "internal: run as a bare shipper (forget | ceiling)")
	var o options
	var runs string
	flag.IntVar(&o.lines, "lines", 2_000_000, "lines to ship (throughput; -rotation: default 20 s of -rate; -outage: default -rate until 20 s after the outage)")
	flag.IntVar(&o.partitions, "partitions", 3, "partitions per topic")
	flag.StringVar(&runs, "runs", "forget,ceiling,ceiling-envelope,agent,agent-raw", "throughput: runs, in order")
	flag.IntVar(&o.repeat, "repeat", 3, "throughput: rounds of every run (medians are printed)")
	flag.StringVar(&o.before, "before", "", "throughput and -files: also run logagent built at this git revision (e.g. 35c43e2)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "time limit of each run")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binaries, logs, data)")
	flag.StringVar(&o.profileDir, "profile", "", "write CPU profiles of the children here")
	flag.BoolVar(&o.verbose, "v", false, "keep the directory of a failed run")
	agentEnv := flag.String("agent-env", "", "extra environment for the agent child, comma-separated KEY=VALUE (e.g. GOGC=200)")
	flag.IntVar(&o.files, "files", 0, "many-files mode: this many files under one glob")
	flag.IntVar(&o.linesPerFile, "lines-per-file", 100, "-files: lines in each file")
	flag.IntVar(&o.maxOpenFiles, "max-open-files", 0, "-files, -rotation, -outage: the agent's files.max_open_files (0: its default)")
	flag.BoolVar(&o.rotation, "rotation", false, "rotation mode: write at -rate, rename every -rotate-every lines")
	flag.DurationVar(&o.outage, "outage", 0, "outage mode: write at -rate, the broker down this long mid-run")
	flag.IntVar(&o.rate, "rate", 0, "-rotation, -outage: lines written per second (default 50000 with -rotation, 10000 with -outage)")
	flag.IntVar(&o.rotateEvery, "rotate-every", 50_000, "-rotation: lines between renames")
	flag.BoolVar(&o.kafkaDisk, "kafka-disk", false, "throughput, -files, -rotation: kfake on a data dir with an fsync per produce request (as -outage always is)")
	childArgs := registerChildFlags()
	flag.Parse()

	if *child != "" {
		prog.Child(*child, map[string]func() error{
			forget:  func() error { return runBareChild(forget, childArgs) },
			ceiling: func() error { return runBareChild(ceiling, childArgs) },
		})
		return
	}
	o.runs = prog.Runs(runs, allRuns...)
	o.agentEnv = benchkit.List(*agentEnv)
	if o.lines < 1 || o.partitions < 1 || o.repeat < 1 || o.files < 0 || o.linesPerFile < 1 || o.rotateEvery < 1 {
		prog.Exit(2, "-lines, -partitions, -repeat, -lines-per-file and -rotate-every must be positive")
	}
	o.profileDir = prog.ProfileDir(o.profileDir)
	linesSet := false
	flag.Visit(func(f *flag.Flag) { linesSet = linesSet || f.Name == "lines" })
	mode := throughput
	switch {
	case o.files > 0:
		mode = manyFiles
	case o.rotation:
		mode, o.rate = rotation, orDefault(o.rate, 50_000)
		if !linesSet {
			o.lines = 20 * o.rate // 20 s of writing
		}
	case o.outage > 0:
		mode, o.rate = outage, orDefault(o.rate, 10_000)
		if !linesSet { // writing before, during and 20 s after the outage
			o.lines = int((outageAfter + o.outage + 20*time.Second).Seconds() * float64(o.rate))
		}
	}
	prog.Main(func(ctx context.Context) error { return mode(ctx, o) })
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}
