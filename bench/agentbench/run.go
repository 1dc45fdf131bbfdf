package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/logagent/logagent/bench/internal/benchkit"
	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/etcd"
	"github.com/logagent/logagent/internal/proc"
)

const (
	hostID     = "bench"
	etcdPrefix = "/logagent/"
)

// The throughput runs. Every one ships the same file to a topic of its own.
const (
	runForget          = "forget"
	runCeiling         = "ceiling"
	runCeilingEnvelope = "ceiling-envelope"
	runAgent           = "agent"
	runAgentRaw        = "agent-raw"
	runBefore          = "before" // the agent built at -before REV, envelopes
)

var allRuns = []string{runForget, runCeiling, runCeilingEnvelope, runAgent, runAgentRaw}

func topicOf(run string) string { return "bench_" + strings.ReplaceAll(run, "-", "_") }

// row is one measured run.
type row struct {
	name   string
	lines  int64
	span   time.Duration // process start to every line visible on the broker
	cpu    time.Duration // the child's user+sys over the span
	rssKiB int64         // the child's peak RSS (ru_maxrss)
	// Sampled from the agent's /metrics (zero for the bare children).
	peaks
	brokerCores float64 // the broker's CPU over the span, in cores
}

func (r row) rate() float64          { return float64(r.lines) / r.span.Seconds() }
func (r row) microsPerLine() float64 { return benchkit.MicrosEach(r.cpu, r.lines) }

// env is what the runs of one bench share.
type env struct {
	*benchkit.Workspace // Bin: logagent, devstack (and logagent-before)
	o                   options
	stack               *proc.Devstack
	counter             *counter
	notes               []string
}

// setUp builds the binaries and starts devstack with the topics.
func setUp(ctx context.Context, o options, topics []string, kafkaMemory bool) (*env, time.Duration, error) {
	ws, err := prog.NewWorkspace(ctx)
	if err != nil {
		return nil, 0, err
	}
	e := &env{Workspace: ws, o: o}
	prog.Logf("building logagent and devstack")
	build, err := ws.Build(ctx, "./cmd/logagent", "./cmd/devstack")
	if err == nil && o.before != "" {
		prog.Logf("building logagent at %s", o.before)
		err = ws.BuildAt(ctx, o.before, "./cmd/logagent", "logagent-before")
	}
	if err == nil {
		prog.Logf("starting devstack (etcd + kfake, Kafka in memory: %v)", kafkaMemory)
		e.stack, err = ws.StartDevstack(ctx, benchkit.Devstack{Topics: topics, Partitions: o.partitions, KafkaMemory: kafkaMemory})
	}
	if err == nil {
		e.counter, err = newCounter(e.stack.KafkaBrokers)
	}
	if err != nil {
		e.close(true)
		return nil, 0, err
	}
	return e, build, nil
}

func (e *env) close(failed bool) {
	if e.counter != nil {
		e.counter.close()
	}
	e.Close(e.o.keep || failed && e.o.verbose)
}

// throughput ships one file with every run, -repeat times, runs interleaved
// so that a change in the machine's load falls on all of them alike.
func throughput(ctx context.Context, o options) (err error) {
	began := time.Now()
	runs := o.runs
	if o.before != "" {
		runs = append(runs, runBefore)
	}
	var topics []string
	for _, r := range runs {
		topics = append(topics, topicOf(r))
	}
	e, build, err := setUp(ctx, o, topics, !o.kafkaDisk)
	if err != nil {
		return err
	}
	defer func() { e.close(err != nil) }()

	logFile := filepath.Join(e.Dir, "logs", "access.log")
	prog.Logf("writing %d lines", o.lines)
	size, err := writeLogFile(logFile, o.lines, "")
	if err != nil {
		return err
	}
	load := benchkit.LoadAvg()
	var rows []row
	for i := range o.repeat {
		got, err := benchkit.RunAll(ctx, prog, runs, o.timeout, func(ctx context.Context, run string) ([]row, error) {
			r, err := e.runOnce(ctx, run, logFile)
			return []row{r}, err
		})
		if err != nil {
			return fmt.Errorf("round %d: %w", i+1, err)
		}
		rows = append(rows, got...)
	}
	e.reportThroughput(rows, size, load, build, time.Since(began))
	return nil
}

func (e *env) runOnce(ctx context.Context, run, logFile string) (row, error) {
	switch run {
	case runForget:
		return e.runBare(ctx, run, forget, "raw", logFile)
	case runCeiling:
		return e.runBare(ctx, run, ceiling, "raw", logFile)
	case runCeilingEnvelope:
		return e.runBare(ctx, run, ceiling, "envelope", logFile)
	}
	bin, format := filepath.Join(e.Bin, "logagent"), collect.FormatEnvelope
	switch run {
	case runAgentRaw:
		format = collect.FormatRaw
	case runBefore:
		bin = filepath.Join(e.Bin, "logagent-before")
	}
	return e.shipWithAgent(ctx, run, bin, []collect.Entry{{Path: logFile, Topic: topicOf(run), Format: format}}, "", int64(e.o.lines))
}

// runBare runs a bare child until the broker holds every line of the file.
func (e *env) runBare(ctx context.Context, run, mode, format, logFile string) (row, error) {
	topic := topicOf(run)
	base, err := e.counter.count(topic)
	if err != nil {
		return row{}, err
	}
	args := []string{"-child", mode, "-brokers", strings.Join(e.stack.KafkaBrokers, ","), "-topic", topic,
		"-file", logFile, "-format", format}
	if e.o.profileDir != "" {
		args = append(args, "-cpuprofile", filepath.Join(e.o.profileDir, run+".pprof"))
	}
	var out bytes.Buffer
	logPath := filepath.Join(e.Dir, run+".log")
	p, err := proc.Start(run, logPath, proc.Options{Stdout: &out, Stdin: true}, e.Self, args...)
	if err != nil {
		return row{}, err
	}
	smp := startSampler(p, "", sampleInterval(0))
	pr, err := waitForRecords(ctx, e.counter, topic, base, int64(e.o.lines), p, e.stack.Process)
	pk := smp.Stop()
	p.Stdin.Close()
	if err == nil {
		err = p.Stop(0, 60*time.Second) // signal 0: it exits once stdin closes
	}
	if err != nil {
		_ = p.Stop(syscall.SIGKILL, 5*time.Second)
		return row{}, fmt.Errorf("%w\n%s", err, proc.Tail(logPath, 4000))
	}
	var rep bareReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return row{}, fmt.Errorf("%s report %q: %w", run, out.String(), err)
	}
	if err := e.checkCount(topic, base, int64(e.o.lines)); err != nil {
		return row{}, err
	}
	_, rss, err := p.Rusage()
	if err != nil {
		return row{}, err
	}
	if rep.Errors > 0 {
		e.note("%s: %d send errors", run, rep.Errors)
	}
	return e.rowOf(run, pr, p, rss, pk), nil
}

// rowOf is a run's row: from the child's start to the last line visible.
func (e *env) rowOf(name string, pr progress, p *proc.Process, rssKiB int64, pk peaks) row {
	span := pr.done.Sub(p.Started)
	return row{name: name, lines: pr.total, span: span, cpu: pr.cpuAtDone, rssKiB: rssKiB,
		peaks:       pk,
		brokerCores: (pr.brokerAtDone - pr.brokerAtFirst).Seconds() / pr.done.Sub(pr.first).Seconds()}
}

// agentRun is a logagent child and the sampler of its /metrics.
type agentRun struct {
	p       *proc.Process
	sampler *sampler
	logPath string
}

// startAgent writes an agent.yaml (host_id name, a fresh state_dir, metrics
// on a free port, then extraYAML), puts the collect config in etcd and starts
// bin on it.
func (e *env) startAgent(ctx context.Context, name, bin string, entries []collect.Entry, extraYAML string) (*agentRun, error) {
	ports, err := benchkit.FreePorts(1)
	if err != nil {
		return nil, err
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	dir := filepath.Join(e.Dir, name)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "agent.yaml")
	cfg := fmt.Sprintf("host_id: %s\nstate_dir: %s\nhttp_listen: %q\nkafka:\n  brokers: [%s]\netcd:\n  endpoints: [%s]\n  prefix: %s\n%s",
		name, filepath.Join(dir, "state"), metricsAddr, strings.Join(e.stack.KafkaBrokers, ", "),
		strings.Join(e.stack.EtcdEndpoints, ", "), etcdPrefix, extraYAML)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	if err := e.putCollectConfig(ctx, name, entries); err != nil {
		return nil, err
	}
	args := []string{"-config", cfgPath}
	if e.o.profileDir != "" {
		args = append(args, "-cpuprofile", filepath.Join(e.o.profileDir, name+".pprof"))
	}
	logPath := filepath.Join(dir, "agent.log")
	p, err := proc.Start(name, logPath, proc.Options{Env: e.o.agentEnv}, bin, args...)
	if err != nil {
		return nil, err
	}
	return &agentRun{p: p, sampler: startSampler(p, metricsAddr, sampleInterval(e.o.files)), logPath: logPath}, nil
}

// stop ends the agent with SIGTERM and returns its peak RSS and the peaks
// its /metrics showed.
func (a *agentRun) stop() (int64, peaks, error) {
	pk := a.sampler.Stop()
	if err := a.p.Stop(syscall.SIGTERM, 30*time.Second); err != nil {
		return 0, pk, fmt.Errorf("%w\nagent log:\n%s", err, proc.Tail(a.logPath, 4000))
	}
	_, rss, err := a.p.Rusage()
	return rss, pk, err
}

func (a *agentRun) fail(err error) error {
	a.sampler.Stop()
	_ = a.p.Stop(syscall.SIGKILL, 5*time.Second)
	return fmt.Errorf("%w\nagent log:\n%s", err, proc.Tail(a.logPath, 4000))
}

// shipWithAgent runs the agent on entries (all on one topic) until the
// topic holds want more records than before, then stops it.
func (e *env) shipWithAgent(ctx context.Context, name, bin string, entries []collect.Entry, extraYAML string, want int64) (row, error) {
	topic := entries[0].Topic
	base, err := e.counter.count(topic)
	if err != nil {
		return row{}, err
	}
	a, err := e.startAgent(ctx, name, bin, entries, extraYAML)
	if err != nil {
		return row{}, err
	}
	pr, err := waitForRecords(ctx, e.counter, topic, base, want, a.p, e.stack.Process)
	if err != nil {
		return row{}, a.fail(err)
	}
	rss, pk, err := a.stop()
	if err != nil {
		return row{}, err
	}
	if err := e.checkCount(topic, base, want); err != nil {
		return row{}, err
	}
	logText, _ := os.ReadFile(a.logPath)
	if warns := bytes.Count(logText, []byte("level=WARN")) + bytes.Count(logText, []byte("level=ERROR")); warns > 0 {
		e.note("%s: %d warnings/errors in its log (%s)", name, warns, a.logPath)
	}
	return e.rowOf(name, pr, a.p, rss, pk), nil
}

// checkCount verifies a finished run wrote exactly want records: every line
// once, none twice.
func (e *env) checkCount(topic string, base, want int64) error {
	got, err := e.counter.count(topic)
	if err != nil {
		return err
	}
	if got-base != want {
		return fmt.Errorf("%s holds %d records after the run, want exactly %d", topic, got-base, want)
	}
	return nil
}

func (e *env) putCollectConfig(ctx context.Context, host string, entries []collect.Entry) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.stack.EtcdEndpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("etcd client: %w", err)
	}
	defer cli.Close()
	val, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, etcd.CollectKey(etcdPrefix, host), string(val)); err != nil {
		return fmt.Errorf("put collect config: %w", err)
	}
	return nil
}

func (e *env) note(format string, args ...any) {
	e.notes = append(e.notes, fmt.Sprintf(format, args...))
}
