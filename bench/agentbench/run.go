package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/logagent/logagent/bench/internal/benchkit"
	"github.com/logagent/logagent/etcd"
	"github.com/logagent/logagent/internal/proc"
)

const (
	hostID     = "bench"
	etcdPrefix = "/logagent/"
)

var runTopics = map[string]string{"bare": "bench_bare", "agent": "bench_agent", "raw": "bench_raw"}

// row is one line of the report table.
type row struct {
	name    string
	lines   int64         // messages in the measured span
	span    time.Duration // the measured span
	cpu     time.Duration // the child's CPU over that span
	rssKiB  int64         // the child's peak RSS (whole life)
	rssNote string
	isBare  bool          // the reference for the ratio column
	broker  time.Duration // devstack's CPU over the span
}

func (r row) rate() float64 { return float64(r.lines) / r.span.Seconds() }

// env is what the runs share.
type env struct {
	*benchkit.Workspace // Bin: logagent and devstack
	o                   options
	logFile             string
	stack               *proc.Devstack
	counter             *counter
	notes               []string
	envBytes            float64 // average envelope size, from the bare child
	loadBefore          string
}

func run(ctx context.Context, o options) (err error) {
	began := time.Now()
	ws, err := prog.NewWorkspace(ctx)
	if err != nil {
		return err
	}
	e := &env{Workspace: ws, o: o}
	defer func() {
		if e.counter != nil {
			e.counter.close()
		}
		ws.Close(o.keep || err != nil && o.verbose)
	}()

	prog.Logf("building logagent and devstack")
	buildTime, err := ws.Build(ctx, "./cmd/logagent", "./cmd/devstack")
	if err != nil {
		return err
	}

	var topics []string
	for _, r := range o.runs {
		topics = append(topics, runTopics[r])
	}
	prog.Logf("starting devstack (etcd + kfake, topics %s)", strings.Join(topics, ","))
	if e.stack, err = ws.StartDevstack(ctx, topics, o.partitions); err != nil {
		return err
	}
	if e.counter, err = newCounter(e.stack.KafkaBrokers); err != nil {
		return err
	}

	prog.Logf("writing %d lines", o.lines)
	if err := os.MkdirAll(filepath.Join(e.Dir, "logs"), 0o755); err != nil {
		return err
	}
	e.logFile = filepath.Join(e.Dir, "logs", "access.log")
	size, err := writeLogFile(e.logFile, o.lines)
	if err != nil {
		return err
	}

	e.loadBefore = benchkit.LoadAvg()
	rows, err := benchkit.RunAll(ctx, prog, o.runs, o.timeout, func(ctx context.Context, run string) ([]row, error) {
		switch run {
		case "bare":
			return e.runBare(ctx, "envelope")
		case "raw":
			return e.runBare(ctx, "raw")
		default: // "agent"
			return e.runAgent(ctx)
		}
	})
	if err != nil {
		return err
	}

	e.report(os.Stdout, rows, size, buildTime, time.Since(began))
	return nil
}

// runBare runs the bare producer child on the file's lines.
func (e *env) runBare(ctx context.Context, format string) ([]row, error) {
	topic := runTopics["bare"]
	name := "bare producer, envelopes"
	if format == "raw" {
		topic, name = runTopics["raw"], "bare producer, raw lines"
	}
	base, err := e.counter.count(topic)
	if err != nil {
		return nil, err
	}
	args := []string{"-child", "bare", "-brokers", strings.Join(e.stack.KafkaBrokers, ","), "-topic", topic,
		"-file", e.logFile, "-format", format, "-host", hostID}
	if e.o.profileDir != "" {
		args = append(args, "-cpuprofile", filepath.Join(e.o.profileDir, format+"-bare.pprof"))
	}
	var out bytes.Buffer
	logPath := filepath.Join(e.Dir, "bare-"+format+".log")
	p, err := proc.Start("bare "+format, logPath, proc.Options{Stdout: &out, Stdin: true}, e.Self, args...)
	if err != nil {
		return nil, err
	}
	pr, err := waitForRecords(ctx, e.counter, topic, base, int64(e.o.lines), p, e.stack.Process)
	p.Stdin.Close()
	if err != nil {
		_ = p.Stop(syscall.SIGKILL, 5*time.Second)
		return nil, fmt.Errorf("%w\n%s", err, proc.Tail(logPath, 4000))
	}
	if err := p.Stop(0, 60*time.Second); err != nil { // signal 0: just wait
		return nil, fmt.Errorf("%w\n%s", err, proc.Tail(logPath, 4000))
	}
	var rep bareReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return nil, fmt.Errorf("bare child report %q: %w", out.String(), err)
	}
	if err := e.checkCount(topic, base); err != nil {
		return nil, err
	}
	e.sample(topic)
	_, rss, err := p.Rusage()
	if err != nil {
		return nil, err
	}
	if format == "envelope" {
		e.envBytes = rep.AvgValueBytes
	}
	e.note("%s: child's own clock, first send to last ack: %.3f s, %.0f lines/s, %.2f µs CPU/line; %d send errors",
		name, rep.SendSeconds, float64(rep.Messages)/rep.SendSeconds,
		float64(rep.SendCPUNanos)/1e3/float64(rep.Messages), rep.Errors)
	return []row{{
		name: name, lines: int64(e.o.lines) - pr.atFirst, span: pr.done.Sub(pr.first),
		cpu: pr.cpuAtDone - pr.cpuAtFirst, rssKiB: rss, rssNote: "holds all msgs", isBare: format == "envelope",
		broker: pr.brokerAtDone - pr.brokerAtFirst,
	}}, nil
}

// runAgent ships the file with logagent and measures it from process start.
func (e *env) runAgent(ctx context.Context) ([]row, error) {
	topic := runTopics["agent"]
	state := filepath.Join(e.Dir, "agent-state")
	cfgPath := filepath.Join(e.Dir, "agent.yaml")
	cfg := fmt.Sprintf("host_id: %s\nstate_dir: %s\nhttp_listen: \"off\"\nkafka:\n  brokers: [%s]\netcd:\n  endpoints: [%s]\n  prefix: %s\n",
		hostID, state, strings.Join(e.stack.KafkaBrokers, ", "), strings.Join(e.stack.EtcdEndpoints, ", "), etcdPrefix)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	if err := e.putCollectConfig(ctx, topic); err != nil {
		return nil, err
	}
	base, err := e.counter.count(topic)
	if err != nil {
		return nil, err
	}

	args, label := []string{"-config", cfgPath}, ""
	if e.o.profileDir != "" {
		args = append(args, "-cpuprofile", filepath.Join(e.o.profileDir, "agent.pprof"))
		label = " (profiled)"
	}
	if len(e.o.agentEnv) > 0 {
		label += " " + strings.Join(e.o.agentEnv, " ")
	}
	logPath := filepath.Join(e.Dir, "agent.log")
	p, err := proc.Start("logagent", logPath, proc.Options{Env: e.o.agentEnv}, filepath.Join(e.Bin, "logagent"), args...)
	if err != nil {
		return nil, err
	}
	pr, err := waitForRecords(ctx, e.counter, topic, base, int64(e.o.lines), p, e.stack.Process)
	if err != nil {
		_ = p.Stop(syscall.SIGKILL, 5*time.Second)
		return nil, fmt.Errorf("%w\nagent log:\n%s", err, proc.Tail(logPath, 4000))
	}
	stopped := time.Now()
	if err := p.Stop(syscall.SIGTERM, 30*time.Second); err != nil {
		return nil, fmt.Errorf("%w\nagent log:\n%s", err, proc.Tail(logPath, 4000))
	}
	shutdown := time.Since(stopped)
	if err := e.checkCount(topic, base); err != nil {
		return nil, err
	}
	e.sample(topic)
	cpu, rss, err := p.Rusage()
	if err != nil {
		return nil, err
	}
	logText, _ := os.ReadFile(logPath)
	warns := bytes.Count(logText, []byte("level=WARN")) + bytes.Count(logText, []byte("level=ERROR"))
	e.note("agent: first record %.3f s after start; SIGTERM to exit %.3f s (in the from-start CPU); %d warnings/errors in its log",
		pr.first.Sub(p.Started).Seconds(), shutdown.Seconds(), warns)
	return []row{
		{name: "agent, 1st record → all acked" + label, lines: int64(e.o.lines) - pr.atFirst, span: pr.done.Sub(pr.first),
			cpu: pr.cpuAtDone - pr.cpuAtFirst, rssKiB: rss, broker: pr.brokerAtDone - pr.brokerAtFirst},
		{name: "agent, from process start" + label, lines: int64(e.o.lines), span: pr.done.Sub(p.Started),
			cpu: cpu, rssKiB: rss},
	}, nil
}

// checkCount verifies a finished run wrote exactly one record per line.
func (e *env) checkCount(topic string, base int64) error {
	got, err := e.counter.count(topic)
	if err != nil {
		return err
	}
	if got-base != int64(e.o.lines) {
		return fmt.Errorf("%s holds %d records after the run, want exactly %d", topic, got-base, e.o.lines)
	}
	return nil
}

// sample records a run's first record (sizes, headers; with -v the value),
// showing that the runs sent the same kind of message.
func (e *env) sample(topic string) {
	m, err := e.counter.firstRecord(topic)
	if err != nil {
		e.note("%s: could not read a sample record: %v", topic, err)
		return
	}
	var hs []string
	for _, h := range m.Headers {
		hs = append(hs, string(h.Key)+"="+string(h.Value))
	}
	e.note("%s: first record: partition %d, key %q, headers [%s], value %d B", topic, m.Partition, m.Key, strings.Join(hs, " "), len(m.Value))
	if e.o.verbose {
		e.note("%s: first value: %s", topic, m.Value)
	}
}

func (e *env) putCollectConfig(ctx context.Context, topic string) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.stack.EtcdEndpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("etcd client: %w", err)
	}
	defer cli.Close()
	val, err := json.Marshal([]map[string]string{{"path": e.logFile, "topic": topic}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, etcd.CollectKey(etcdPrefix, hostID), string(val)); err != nil {
		return fmt.Errorf("put collect config: %w", err)
	}
	return nil
}

func (e *env) note(format string, args ...any) {
	e.notes = append(e.notes, fmt.Sprintf(format, args...))
}

func (e *env) report(w io.Writer, rows []row, size int64, build, total time.Duration) {
	o := e.o
	fmt.Fprintf(w, "\nagentbench: %d lines, %.1f MB file (avg %.1f B/line", o.lines, float64(size)/1e6, float64(size)/float64(o.lines))
	if e.envBytes > 0 {
		fmt.Fprintf(w, ", envelope avg %.1f B", e.envBytes)
	}
	fmt.Fprintf(w, "), one topic per run with %d partitions\n", o.partitions)
	fmt.Fprintf(w, "broker: one kfake (devstack child, data dir with SyncWrites) + embedded etcd, 127.0.0.1\n")
	fmt.Fprintf(w, "producer (agent and bare alike): sarama %s via conf.Kafka.Sarama defaults: Kafka 2.8.0, snappy, acks all, idempotent (MaxOpenRequests 1), hash partitioner, key host+path, headers event.id + format\n",
		benchkit.DepVersion("github.com/IBM/sarama"))
	fmt.Fprintf(w, "%s\n\n", benchkit.Machine())

	var bare float64
	for _, r := range rows {
		if r.isBare {
			bare = r.rate()
		}
	}
	width := benchkit.NameWidth(rows, func(r row) string { return r.name })
	fmt.Fprintf(w, "%-*s %9s %8s %10s %9s %12s %13s\n", width, "run", "lines", "seconds", "lines/s", "vs bare", "CPU µs/line", "peak RSS MiB")
	for _, r := range rows {
		ratio := "-"
		if bare > 0 {
			ratio = fmt.Sprintf("%.2f", r.rate()/bare)
		}
		fmt.Fprintf(w, "%-*s %9d %8.3f %10.0f %9s %12.2f  %s\n", width, r.name, r.lines, r.span.Seconds(), r.rate(), ratio,
			benchkit.MicrosEach(r.cpu, r.lines), benchkit.RSS(r.rssKiB, r.rssNote))
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		if r.broker > 0 {
			fmt.Fprintf(w, "broker (devstack) during %q: %.2f µs CPU/line, %.2f cores\n", r.name,
				benchkit.MicrosEach(r.broker, r.lines), r.broker.Seconds()/r.span.Seconds())
		}
	}
	fmt.Fprintln(w, "seconds: from the first record of the run's topic visible on the broker to all of them (polled every 10 ms);")
	fmt.Fprintln(w, "  \"from process start\" counts from the agent's exec. CPU: the child's user+sys over the same span (/proc, 10 ms ticks);")
	fmt.Fprintln(w, "  \"from process start\" uses the agent's whole-life rusage (start-up and SIGTERM shutdown included). RSS: ru_maxrss.")
	for _, n := range e.notes {
		fmt.Fprintln(w, "note: "+n)
	}
	for _, r := range rows {
		if strings.HasPrefix(r.name, "agent, from process start") && bare > 0 {
			ratio, cpu, rss := r.rate()/bare, benchkit.MicrosEach(r.cpu, r.lines), float64(r.rssKiB)/1024
			fmt.Fprintf(w, "targets (agent from process start): ratio %.2f (≥ 0.90: %s), CPU %.2f µs/line (≤ 3: %s), peak RSS %.1f MiB (≤ 50: %s)\n",
				ratio, benchkit.Verdict(ratio >= 0.9), cpu, benchkit.Verdict(cpu <= 3), rss, benchkit.Verdict(rss <= 50))
		}
	}
	fmt.Fprintf(w, "command: %s (effective: -lines %d -partitions %d -runs %s -timeout %v)\n",
		prog.Command(), o.lines, o.partitions, strings.Join(o.runs, ","), o.timeout)
	fmt.Fprintf(w, "load average: %s before, %s after (other work shares these CPUs)\n", e.loadBefore, benchkit.LoadAvg())
	fmt.Fprintf(w, "time: %.1f s in all (build %.1f s)\n", total.Seconds(), build.Seconds())
}
