package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/etcd"
)

const (
	progressEvery = 3 * time.Second
	// catchUpWait bounds how long the summary waits for the agent to ship
	// the last lines written (it polls the file every 250 ms).
	catchUpWait = 10 * time.Second
	// agentStopGrace is above the agent's own 10 s drain timeout.
	agentStopGrace    = 20 * time.Second
	devstackStopGrace = 20 * time.Second
	startTimeout      = 90 * time.Second
)

// demo is one run: the children, the writer and what the progress line
// needs.
type demo struct {
	o        options
	l        layout
	devstack *child
	agent    *child
	kafka    *kafkaView
	writer   *logWriter
	brokers  []string
	etcdEPs  []string
	httpBase string
	started  time.Time // when the writer started
	sampled  bool      // the sample message has been shown
}

// runDemo starts everything, reports progress until Ctrl-C or -duration,
// then stops everything in order. It returns nil when every line written
// reached Kafka.
func runDemo(o options) error {
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	l, err := newLayout(o.dataDir)
	if err != nil {
		return err
	}
	d := &demo{o: o, l: l, httpBase: fmt.Sprintf("http://127.0.0.1:%d", o.httpPort)}
	// Safety net for error returns: nothing started here may outlive us.
	defer d.killChildren()

	if err := d.start(ctx); err != nil {
		interrupted := ctx.Err() != nil // before stopSignals, which cancels ctx
		stopSignals()
		// Stop gracefully even on failure: devstack then removes its ready
		// file and closes etcd cleanly.
		d.stopChildren()
		if interrupted {
			fmt.Println("interrupted while starting; stopped")
			return nil
		}
		return err
	}

	runCtx, cancelRun := ctx, context.CancelFunc(func() {})
	if o.duration > 0 {
		runCtx, cancelRun = context.WithTimeout(ctx, o.duration)
	}
	defer cancelRun()
	writerCtx, stopWriter := context.WithCancel(runCtx)
	defer stopWriter()
	writerErr := make(chan error, 1)
	var writerDone sync.WaitGroup
	d.started = time.Now()
	writerDone.Go(func() { writerErr <- d.writer.run(writerCtx) })

	loopErr := d.progressLoop(runCtx, writerErr)
	interrupted := ctx.Err() != nil // before stopSignals, which cancels ctx
	// From here a second Ctrl-C kills logdemo outright; the kernel then
	// kills the children (Pdeathsig).
	stopSignals()
	switch {
	case loopErr != nil:
		fmt.Println("\nstopping after an error (details at the end)")
	case interrupted:
		fmt.Println("\nstopping (interrupted): writer, then logagent, then devstack")
	default:
		fmt.Printf("\nstopping (-duration %v reached): writer, then logagent, then devstack\n", o.duration)
	}
	stopWriter()
	writerDone.Wait()
	sumErr := d.finish(loopErr == nil)
	return errors.Join(loopErr, sumErr)
}

// start brings up devstack, seeds etcd, starts the agent and prints the
// banner. On error the caller stops what did start.
func (d *demo) start(ctx context.Context) error {
	if pid := runningDevstack(d.l); pid != 0 {
		return fmt.Errorf("a demo is already running on %s (devstack pid %d): stop it first (Ctrl-C in its terminal, or kill %d)",
			display(d.l.data), pid, pid)
	}
	if err := checkPorts(d.o); err != nil {
		return err
	}
	agentBin, devstackBin, err := binaries(ctx, d.l, d.o.binDir)
	if err != nil {
		return err
	}
	if err := resetData(d.l); err != nil {
		return err
	}

	fmt.Printf("starting devstack (log %s)\n", display(d.l.devstackLog))
	if err := d.startDevstack(ctx, devstackBin); err != nil {
		return err
	}

	configJSON, err := d.seedEtcd(ctx)
	if err != nil {
		return err
	}
	if err := d.writeAgentYAML(); err != nil {
		return err
	}
	fmt.Printf("starting logagent (log %s)\n", display(d.l.agentLog))
	if d.agent, err = startChild("logagent", d.l.agentLog, agentBin, "-config", d.l.agentYAML); err != nil {
		return err
	}
	if err := waitAgentReady(ctx, d.agent, d.httpBase, startTimeout); err != nil {
		return err
	}
	if d.kafka, err = newKafkaView(d.brokers); err != nil {
		return err
	}
	d.writer = &logWriter{path: d.l.accessLog, rate: d.o.rate, gen: newLineGen()}
	d.banner(configJSON)
	return nil
}

// checkPorts fails early, with what to do, when a demo port is taken: the
// children would otherwise die with a bind error deep in their logs.
func checkPorts(o options) error {
	var busy []string
	for _, p := range []struct {
		port       int
		what, flag string
	}{
		{o.etcdPort, "etcd client", "-etcd-port"},
		{o.etcdPeerPort, "etcd peer", "-etcd-peer-port"},
		{o.kafkaPort, "kafka (kfake)", "-kafka-port"},
		{o.httpPort, "logagent /metrics", "-http-port"},
	} {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)))
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				busy = append(busy, fmt.Sprintf("  port %d (%s, flag %s) is in use", p.port, p.what, p.flag))
				continue
			}
			return fmt.Errorf("check port %d (%s): %w", p.port, p.what, err)
		}
		ln.Close()
	}
	if len(busy) == 0 {
		return nil
	}
	return fmt.Errorf("demo ports are taken:\n%s\n"+
		"Is another demo still running? Stop it with Ctrl-C in its terminal.\n"+
		"To see who holds a port: ss -ltnp 'sport = :%s'   (or: lsof -i :%s)\n"+
		"Or run on other ports, e.g.: go run ./cmd/logdemo -etcd-port 24790 -etcd-peer-port 24800 -kafka-port 29093 -http-port 9432",
		strings.Join(busy, "\n"), firstPort(busy), firstPort(busy))
}

func firstPort(busy []string) string {
	f := strings.Fields(busy[0]) // "port N (...)"
	return f[1]
}

func (d *demo) startDevstack(ctx context.Context, bin string) error {
	// resetData removed the devstack dir; this only guards against a
	// concurrent writer of the same path.
	if err := os.Remove(d.l.readyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale %s: %w", d.l.readyFile, err)
	}
	var err error
	d.devstack, err = startChild("devstack", d.l.devstackLog, bin,
		"-etcd-client-port", strconv.Itoa(d.o.etcdPort), "-etcd-peer-port", strconv.Itoa(d.o.etcdPeerPort),
		"-kafka-port", strconv.Itoa(d.o.kafkaPort), "-topics", topic, "-partitions", strconv.Itoa(partitions),
		"-data", d.l.devstackDir)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(startTimeout)
	for {
		// DEVSTACK_PID tells our devstack's file from one a killed run left.
		vars, err := readReady(d.l.readyFile)
		if err == nil && vars["DEVSTACK_PID"] == strconv.Itoa(d.devstack.pid()) {
			d.etcdEPs = strings.Split(vars["ETCD_ENDPOINTS"], ",")
			d.brokers = strings.Split(vars["KAFKA_BROKERS"], ",")
			return nil
		}
		if d.devstack.exited() {
			return d.devstack.died()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("devstack not ready after %v; the end of %s:\n%s",
				startTimeout, display(d.l.devstackLog), tail(d.l.devstackLog, 3000))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// seedEtcd creates the empty sample log and puts the collect config naming
// it, before the agent starts, so the agent's first read of etcd finds it.
func (d *demo) seedEtcd(ctx context.Context) ([]byte, error) {
	f, err := os.OpenFile(d.l.accessLog, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create sample log: %w", err)
	}
	f.Close()
	value, err := demoConfig(d.l.accessLog, "demo")
	if err != nil {
		return nil, err
	}
	cli, err := newEtcdClient(d.etcdEPs)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	if _, err := putCollectConfig(ctx, cli, value); err != nil {
		return nil, fmt.Errorf("seed the collect config: %w", err)
	}
	return value, nil
}

// agentYAML is the subset of conf.Agent the demo sets; the rest keeps the
// agent's defaults.
type agentYAML struct {
	HostID     string `yaml:"host_id"`
	StateDir   string `yaml:"state_dir"`
	HTTPListen string `yaml:"http_listen"`
	Kafka      struct {
		Brokers []string `yaml:"brokers"`
	} `yaml:"kafka"`
	Etcd struct {
		Endpoints []string `yaml:"endpoints"`
		Prefix    string   `yaml:"prefix"`
	} `yaml:"etcd"`
}

func (d *demo) writeAgentYAML() error {
	var a agentYAML
	a.HostID = hostID
	a.StateDir = d.l.stateDir
	a.HTTPListen = fmt.Sprintf("127.0.0.1:%d", d.o.httpPort)
	a.Kafka.Brokers = d.brokers
	a.Etcd.Endpoints = d.etcdEPs
	a.Etcd.Prefix = etcdPrefix
	b, err := yaml.Marshal(&a)
	if err != nil {
		return fmt.Errorf("encode agent.yaml: %w", err)
	}
	b = append([]byte("# Written by logdemo on every run; edits are lost.\n"), b...)
	if err := os.WriteFile(d.l.agentYAML, b, 0o644); err != nil {
		return fmt.Errorf("write agent config: %w", err)
	}
	// Catch a config the agent would refuse here, with its exact message.
	if _, err := conf.LoadAgent(d.l.agentYAML); err != nil {
		return fmt.Errorf("generated agent config: %w", err)
	}
	return nil
}

func (d *demo) banner(configJSON []byte) {
	o := d.o
	p := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	p("")
	p("logdemo: the first half of the logagent pipeline, on this machine")
	p("  nginx log  %s  (~%g lines/s appended by logdemo)", display(d.l.accessLog), o.rate)
	p("  logagent   %s -config %s  (pid %d, log %s)", display(d.agent.cmd.Path), display(d.l.agentYAML), d.agent.pid(), display(d.l.agentLog))
	p("  etcd       %s  embedded etcd (development stand-in, in devstack)", strings.Join(d.etcdEPs, ","))
	p("  kafka      %s  kfake: Kafka-protocol dev broker, not Apache Kafka (in devstack; topic %s, %d partitions)",
		strings.Join(d.brokers, ","), topic, partitions)
	p("  devstack   pid %d, data %s, log %s", d.devstack.pid(), display(d.l.devstackDir), display(d.l.devstackLog))
	p("  config     %s = %s", etcd.CollectKey(etcdPrefix, hostID), configJSON)
	p("")
	p("Look around from another terminal:")
	cmd := func(c, comment string) { p("  %-58s # %s", c, comment) }
	cmd(fmt.Sprintf("kcat -b %s -t %s -C -o -5 -e", d.brokers[0], topic), "the last 5 messages of each partition")
	cmd(fmt.Sprintf("curl -s 127.0.0.1:%d/metrics | grep ^logagent_", o.httpPort), "the agent's metrics")
	cmd(ctlCommand(o, "-status"), "the agent's status key in etcd")
	if newConfig, err := demoConfig(d.l.accessLog, "live-edit"); err == nil {
		p("  # change the collect config live (here the env field); the agent applies it at once:")
		p("  %s", ctlCommand(o, "-set-config", shellQuote(string(newConfig))))
	}
	p("Ctrl-C stops everything.")
	p("")
}

// progressLoop prints a progress line every few seconds until ctx ends, a
// child dies or the writer fails.
func (d *demo) progressLoop(ctx context.Context, writerErr <-chan error) error {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.agent.done:
			return d.agent.died()
		case <-d.devstack.done:
			return d.devstack.died()
		case err := <-writerErr:
			if err != nil {
				return err
			}
			return nil // the writer only returns nil when ctx ended
		case <-t.C:
			d.progress(ctx)
		}
	}
}

// progress prints one line: lines written, messages in Kafka, what the
// agent says it has acknowledged and still has to ship.
func (d *demo) progress(ctx context.Context) {
	inKafka, kerr := d.kafka.count()
	m, merr := scrapeAgent(ctx, d.httpBase)
	// Read after the counts, so a line counted in Kafka is always counted
	// as written too.
	written := d.writer.written.Load()
	kafkaCol := "?"
	if kerr == nil {
		kafkaCol = strconv.FormatInt(inKafka, 10)
	}
	line := fmt.Sprintf("%5s  written %6d   in Kafka %6s", time.Since(d.started).Round(time.Second), written, kafkaCol)
	if merr == nil {
		line += fmt.Sprintf("   agent acked %6d, lag %d lines / %s", m.acked, max(0, written-m.acked), humanBytes(m.lagBytes))
		if m.sendErrors > 0 {
			line += fmt.Sprintf(", send errors %d", m.sendErrors)
		}
	}
	fmt.Println(line)
	if kerr != nil {
		fmt.Printf("       (kafka: %v)\n", kerr)
	}
	if merr != nil && ctx.Err() == nil {
		fmt.Printf("       (%v)\n", merr)
	}
	if !d.sampled && kerr == nil && inKafka > 0 {
		msg, err := d.kafka.latest(ctx)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Printf("       (sample message: %v)\n", err)
			}
			return
		}
		d.sampled = true
		fmt.Printf("\nsample message, the newest in its partition (the agent's envelope around one nginx line):\n%s\n", formatMessage(msg))
	}
}

// finish waits (bounded) for the agent to ship the last lines, stops the
// agent and devstack, and prints the summary. With clean false (a child died)
// it still stops what runs but does not wait for the counts.
func (d *demo) finish(clean bool) error {
	written := d.writer.written.Load()
	var inKafka int64 = -1
	var countErr error
	if clean {
		deadline := time.Now().Add(catchUpWait)
		for {
			inKafka, countErr = d.kafka.count()
			if countErr == nil && inKafka >= written || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	var errs []error
	if !d.agent.exited() {
		fmt.Println("stopping logagent (SIGTERM; it drains in-flight messages and saves its registry)")
		if err := d.agent.stop(agentStopGrace); err != nil {
			errs = append(errs, fmt.Errorf("stop logagent: %w (see %s)", err, display(d.l.agentLog)))
		}
	}
	// Count again: the agent may have shipped more while draining.
	if clean && !d.devstack.exited() {
		if n, err := d.kafka.count(); err == nil {
			inKafka, countErr = n, nil
		}
	}
	d.kafka.close()
	if !d.devstack.exited() {
		fmt.Println("stopping devstack")
		if err := d.devstack.stop(devstackStopGrace); err != nil {
			errs = append(errs, fmt.Errorf("stop devstack: %w (see %s)", err, display(d.l.devstackLog)))
		}
	}

	elapsed := time.Since(d.started).Round(time.Second)
	fmt.Println()
	switch {
	case !clean:
		fmt.Printf("summary: written=%d in_kafka=? after %v (stopped early)\n", written, elapsed)
	case countErr != nil:
		fmt.Printf("summary: written=%d in_kafka=? after %v\n", written, elapsed)
		errs = append(errs, fmt.Errorf("count the messages in Kafka: %w", countErr))
	case inKafka < written:
		fmt.Printf("summary: written=%d in_kafka=%d after %v: %d lines did NOT reach Kafka within %v\n",
			written, inKafka, elapsed, written-inKafka, catchUpWait)
		errs = append(errs, fmt.Errorf("%d of %d written lines are not in Kafka; see %s", written-inKafka, written, display(d.l.agentLog)))
	case inKafka > written:
		// At-least-once: a line re-sent after an error is in Kafka twice.
		fmt.Printf("summary: written=%d in_kafka=%d after %v: all written lines reached Kafka (%d more messages: re-sends)\n",
			written, inKafka, elapsed, inKafka-written)
	default:
		fmt.Printf("summary: written=%d in_kafka=%d after %v: all written lines reached Kafka\n", written, inKafka, elapsed)
	}
	if d.l.root != "" && d.l.data == filepath.Join(d.l.root, ".demo") {
		fmt.Printf("files are kept in %s until the next run; `make clean` removes them\n", display(d.l.data))
	} else {
		fmt.Printf("files are kept in %s until the next run\n", display(d.l.data))
	}
	return errors.Join(errs...)
}

// stopChildren stops whatever started, agent first, for an interrupted
// start.
func (d *demo) stopChildren() {
	if d.kafka != nil {
		d.kafka.close()
	}
	for _, c := range []*child{d.agent, d.devstack} {
		// One that already exited has been reported by start's error.
		if c != nil && !c.exited() {
			if err := c.stop(devstackStopGrace); err != nil {
				fmt.Fprintf(os.Stderr, "logdemo: %v\n", err)
			}
		}
	}
}

// killChildren is the last resort on the way out: normally every child has
// already exited and this does nothing.
func (d *demo) killChildren() {
	for _, c := range []*child{d.agent, d.devstack} {
		if c != nil {
			c.kill()
		}
	}
}
