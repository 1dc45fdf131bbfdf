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

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/etcd"
	"github.com/logagent/logagent/internal/proc"
)

const (
	progressEvery = 3 * time.Second
	// catchUpWait bounds how long the summary waits for the agent to ship
	// the last lines written (it polls the file every 250 ms).
	catchUpWait = 10 * time.Second
	// The summary then waits for every line to be searchable. ZincSearch
	// indexes ~2000 documents/s on an idle core (~0.5 ms of CPU each; ~700/s
	// measured on 2 busy cores), so a long run at a high -rate leaves a
	// backlog: the wait lasts as long as
	// the counts move, up to searchWaitBase plus searchWaitPerDoc per
	// document still missing, and gives up after searchStallWait without
	// progress.
	searchWaitBase   = time.Minute
	searchWaitPerDoc = 4 * time.Millisecond
	searchStallWait  = 30 * time.Second
	// agentStopGrace is above the agent's own 10 s drain timeout.
	agentStopGrace = 20 * time.Second
	// transferStopGrace covers a batch in flight and leaving the group.
	transferStopGrace = 30 * time.Second
	// zincStopGrace is above the 10 s Zinc gives requests in flight.
	zincStopGrace     = 20 * time.Second
	devstackStopGrace = 20 * time.Second
	startTimeout      = 90 * time.Second
)

// demo is one run: the children, the writer and what the progress line
// needs.
type demo struct {
	o            options
	l            layout
	devstack     *proc.Process
	zinc         *proc.Process
	transfer     *proc.Process
	agent        *proc.Process
	kafka        *kafkaView
	search       *searchView
	writer       *logWriter
	brokers      []string
	etcdEPs      []string
	ctlBin       string    // logctl, for the commands the banner suggests
	httpBase     string    // the agent's /metrics and /readyz
	transferBase string    // logtransfer's
	started      time.Time // when the writer started
	sampled      bool      // the sample Kafka message has been shown
	searchShown  bool      // the sample search result has been shown
	appSlow      int       // lines of the application log with a slow latency
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
	d := &demo{
		o: o, l: l,
		httpBase:     fmt.Sprintf("http://127.0.0.1:%d", o.httpPort),
		transferBase: fmt.Sprintf("http://127.0.0.1:%d", o.transferPort),
		search:       &searchView{base: fmt.Sprintf("http://127.0.0.1:%d/es", o.zincPort)},
	}
	// Safety net for error returns: nothing started here may outlive us.
	defer proc.KillAll() // the last resort: normally every child has exited already

	if err := d.start(ctx); err != nil {
		interrupted := ctx.Err() != nil // before stopSignals, which cancels ctx
		stopSignals()
		// Stop gracefully even on failure: devstack then removes its ready
		// file and closes etcd cleanly, Zinc closes its indexes.
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
	stopSignals()
	// While logdemo waits for the pipeline to catch up, a second Ctrl-C cuts
	// the waiting short; a third kills logdemo outright, and the kernel then
	// kills the children (Pdeathsig; Zinc also stops at EOF on its stdin).
	skipCtx, stopSkip := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSkip()
	const order = "writer, then logagent, logtransfer, ZincSearch, devstack"
	switch {
	case loopErr != nil:
		fmt.Println("\nstopping after an error (details at the end)")
	case interrupted:
		fmt.Printf("\nstopping (interrupted): %s\n", order)
	default:
		fmt.Printf("\nstopping (-duration %v reached): %s\n", o.duration, order)
	}
	stopWriter()
	writerDone.Wait()
	sumErr := d.finish(skipCtx, stopSkip, loopErr == nil)
	return errors.Join(loopErr, sumErr)
}

// start brings up devstack and ZincSearch, seeds etcd, starts logtransfer
// and the agent and prints the banner. On error the caller stops what did
// start.
func (d *demo) start(ctx context.Context) error {
	if pid := proc.RunningDevstack(d.l.devstackDir); pid != 0 {
		return fmt.Errorf("a demo is already running on %s (devstack pid %d): stop it first (Ctrl-C in its terminal, or kill %d)",
			display(d.l.data), pid, pid)
	}
	if err := checkPorts(d.o); err != nil {
		return err
	}
	b, err := binaries(ctx, d.l, d.o.binDir, d.o.zincBin)
	if err != nil {
		return err
	}
	d.ctlBin = b.ctl
	if err := resetData(d.l); err != nil {
		return err
	}

	fmt.Printf("starting devstack (log %s)\n", display(d.l.devstackLog))
	if err := d.startDevstack(ctx, b.devstack); err != nil {
		return err
	}
	fmt.Printf("starting ZincSearch (log %s)\n", display(d.l.zincLog))
	if err := d.startZinc(ctx, b.zinc); err != nil {
		return err
	}

	config, err := d.seedEtcd(ctx)
	if err != nil {
		return err
	}
	if err := d.writeAgentYAML(); err != nil {
		return err
	}
	if err := d.writeTransferYAML(); err != nil {
		return err
	}
	// logtransfer first: joining its consumer group is the slowest start,
	// and it reads the topic from the oldest offset anyway.
	fmt.Printf("starting logtransfer (log %s)\n", display(d.l.transferLog))
	if d.transfer, err = proc.Start("logtransfer", d.l.transferLog, proc.Options{}, b.transfer, "-config", d.l.transferYAML); err != nil {
		return err
	}
	fmt.Printf("starting logagent (log %s)\n", display(d.l.agentLog))
	if d.agent, err = proc.Start("logagent", d.l.agentLog, proc.Options{}, b.agent, "-config", d.l.agentYAML); err != nil {
		return err
	}
	if err := waitReady(ctx, d.agent, d.httpBase+"/readyz", startTimeout); err != nil {
		return err
	}
	// Ready once its first consumer group session started.
	if err := waitReady(ctx, d.transfer, d.transferBase+"/readyz", startTimeout); err != nil {
		return err
	}
	if d.kafka, err = newKafkaView(d.brokers); err != nil {
		return err
	}
	d.writer = &logWriter{path: d.l.accessLog, rate: d.o.rate, gen: newLineGen()}
	d.banner(config)
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
		{o.transferPort, "logtransfer /metrics", "-transfer-http-port"},
		{o.zincPort, "ZincSearch", "-zinc-port"},
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
		"Or run on other ports, e.g.: go run ./cmd/logdemo -etcd-port 24790 -etcd-peer-port 24800 -kafka-port 29093 -http-port 9441 -transfer-http-port 9442 -zinc-port 24081",
		strings.Join(busy, "\n"), firstPort(busy), firstPort(busy))
}

func firstPort(busy []string) string {
	f := strings.Fields(busy[0]) // "port N (...)"
	return f[1]
}

func (d *demo) startDevstack(ctx context.Context, bin string) error {
	ds, err := proc.StartDevstack(ctx, proc.DevstackConfig{
		Bin:            bin,
		EtcdClientPort: d.o.etcdPort, EtcdPeerPort: d.o.etcdPeerPort, KafkaPort: d.o.kafkaPort,
		Topics: []string{topic, dlqTopic, appTopic, appDLQTopic}, Partitions: partitions,
		DataDir: d.l.devstackDir,
		LogPath: d.l.devstackLog,
		Timeout: startTimeout,
	})
	if err != nil {
		return err
	}
	d.devstack, d.etcdEPs, d.brokers = ds.Process, ds.EtcdEndpoints, ds.KafkaBrokers
	return nil
}

// seedEtcd creates the empty sample log and puts the collect config naming
// it, before the agent starts, so the agent's first read of etcd finds it.
func (d *demo) seedEtcd(ctx context.Context) (seeded, error) {
	f, err := os.OpenFile(d.l.accessLog, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return seeded{}, fmt.Errorf("create sample log: %w", err)
	}
	f.Close()
	if d.appSlow, err = writeAppLog(d.l.appLog, time.Now()); err != nil {
		return seeded{}, err
	}
	common, err := commonConfig(d.l.accessLog, d.l.appLog)
	if err != nil {
		return seeded{}, err
	}
	value, err := demoConfig(d.l.accessLog, "demo")
	if err != nil {
		return seeded{}, err
	}
	cli, err := newEtcdClient(d.etcdEPs)
	if err != nil {
		return seeded{}, err
	}
	defer cli.Close()
	if _, err := putLayer(ctx, cli, collect.CommonLayer(), common); err != nil {
		return seeded{}, fmt.Errorf("seed the common collect config: %w", err)
	}
	if _, err := putLayer(ctx, cli, collect.HostLayer(hostID), value); err != nil {
		return seeded{}, fmt.Errorf("seed the collect config: %w", err)
	}
	return seeded{common: common, host: value}, nil
}

// seeded is the collect config the demo writes: a common layer and the
// host's own, which overrides it.
type seeded struct {
	common, host []byte
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

func (d *demo) banner(config seeded) {
	o := d.o
	p := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	p("")
	p("logdemo: the whole logagent pipeline on this machine:")
	p("  nginx log -> logagent -> Kafka topic %s -> logtransfer -> search engine (indices %s)", topic, indexPattern)
	p("")
	p("  nginx log    %s  (~%g lines/s appended by logdemo)", display(d.l.accessLog), o.rate)
	p("  app log      %s  (%d lines written at the start) -> topic %s -> a grok pipeline -> indices %s (they count in indexed below)", display(d.l.appLog), appLines, appTopic, appIndexPattern)
	p("  logagent     %s -config %s  (pid %d, log %s)", display(d.agent.Path()), display(d.l.agentYAML), d.agent.Pid(), display(d.l.agentLog))
	p("  logtransfer  %s -config %s  (pid %d, log %s)", display(d.transfer.Path()), display(d.l.transferYAML), d.transfer.Pid(), display(d.l.transferLog))
	p("               group %s, topics [%s], parse %s: nginx, dead letters to %s", transferGroup, topic, topic, dlqTopic)
	p("  config       %s = %s", etcd.LayerKey(etcdPrefix, collect.CommonLayer()), config.common)
	p("               %s = %s", etcd.CollectKey(etcdPrefix, hostID), config.host)
	p("               (the host's entry overrides the common one with the same path: logctl collect get --effective --host %s)", hostID)
	p("")
	p("Development stand-ins, not production services:")
	p("  etcd         %s  embedded etcd (in devstack)", strings.Join(d.etcdEPs, ","))
	p("  kafka        %s  kfake: Kafka-protocol dev broker, not Apache Kafka (in devstack; topic %s, %d partitions; %s)",
		strings.Join(d.brokers, ","), topic, partitions, dlqTopic)
	p("  devstack     pid %d, data %s, log %s", d.devstack.Pid(), display(d.l.devstackDir), display(d.l.devstackLog))
	p("  search       %s  ZincSearch: Elasticsearch-compatible dev engine, not Elasticsearch", d.search.base)
	p("               user %s, password %s (demo credentials); pid %d, data %s, log %s",
		zincUser, zincPassword, d.zinc.Pid(), display(d.l.zincDir), display(d.l.zincLog))
	p("")
	p("Look around from another terminal:")
	cmd := func(comment, c string) { p("  # %s\n  %s", comment, c) }
	cmd("the last 5 messages of each partition", fmt.Sprintf("kcat -b %s -t %s -C -o -5 -e", d.brokers[0], topic))
	cmd("the agent's and logtransfer's metrics", fmt.Sprintf("curl -s 127.0.0.1:%d/metrics | grep ^logagent_; curl -s 127.0.0.1:%d/metrics | grep ^logtransfer_", o.httpPort, o.transferPort))
	cmd("how many documents are searchable (Zinc has no _count)", d.search.curlSearch(countBody))
	cmd("the newest document", d.search.curlSearch(newestBody))
	cmd("three requests that got a 404", d.search.curlSearch(`{"size":3,"query":{"term":{"http.response.status_code":404}}}`))
	cmd("requests per status code", d.search.curlSearch(`{"size":0,"aggs":{"status":{"terms":{"field":"http.response.status_code"}}}}`))
	cmd(fmt.Sprintf("the application log's slow requests (%s, parsed by the grok pipeline of %s: a range on a number)", display(d.l.appLog), appTopic),
		d.search.curlSearchIn(appIndexPattern, slowBody))
	cmd("the application log's pipeline on a line of your own", fmt.Sprintf("echo '2026-12-04 10:00:00.000 WARN [req=ab12] disk 91%% latency=7ms' | %s test-pipeline -config %s -topic %s",
		display(d.transfer.Path()), display(d.l.transferYAML), appTopic))
	ctl, eps := display(d.ctlBin), strings.Join(d.etcdEPs, ",")
	cmd("the agent's status: files, acked offsets, lag, config applied", fmt.Sprintf("%s status --endpoints %s", ctl, eps))
	cmd("the collect config in etcd", fmt.Sprintf("%s collect get --host %s --endpoints %s", ctl, hostID, eps))
	cmd("change it live: validated as the agent does, shown as a diff, written with a compare-and-swap",
		fmt.Sprintf("%s collect edit --host %s --endpoints %s", ctl, hostID, eps))
	cmd("dead-lettered documents, if any", fmt.Sprintf("%s dlq ls --brokers %s --topic %s", display(d.ctlBin), d.brokers[0], dlqTopic))
	cmd("what the agent ships, live (the 404s)", fmt.Sprintf("%s tail --brokers %s --topic %s --grep '\" 404 '", ctl, d.brokers[0], topic))
	cmd("one line end to end: file, Kafka, search (an event.id from a document above)",
		fmt.Sprintf("%s trace EVENT_ID --transfer-config %s --endpoints %s", ctl, display(d.l.transferYAML), eps))
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
		case <-d.agent.Done():
			return d.agent.Died()
		case <-d.transfer.Done():
			return d.transfer.Died()
		case <-d.zinc.Done():
			return d.zinc.Died()
		case <-d.devstack.Done():
			return d.devstack.Died()
		case err := <-writerErr:
			if err != nil {
				return err
			}
			return nil // the writer only returns nil when ctx ended
		case <-t.C:
			if ctx.Err() != nil {
				return nil // both were ready; the run is over
			}
			d.progress(ctx)
		}
	}
}

// counts is one reading of the pipeline, taken downstream first so that
// every document counted downstream is also counted upstream: searchable,
// then indexed, then Kafka, then written. -1 is unknown (see the errors).
type counts struct {
	searchable, indexed, inKafka, written int64
	deadLettered                          int64
	agent                                 agentMetrics
	searchErr, transferErr, kafkaErr      error
	agentErr                              error
}

func (d *demo) read(ctx context.Context, withAgent bool) counts {
	c := counts{searchable: -1, indexed: -1, inKafka: -1}
	if n, err := d.search.count(ctx); err == nil {
		c.searchable = n
	} else {
		c.searchErr = err
	}
	if !d.transfer.Exited() {
		if m, err := scrapeTransfer(ctx, d.transferBase); err == nil {
			c.indexed, c.deadLettered = m.indexed, m.deadLettered
		} else {
			c.transferErr = err
		}
	}
	if n, err := d.kafka.count(); err == nil {
		c.inKafka = n
	} else {
		c.kafkaErr = err
	}
	if withAgent {
		c.agent, c.agentErr = scrapeAgent(ctx, d.httpBase)
	}
	c.written = d.writer.written.Load()
	return c
}

func num(n int64) string {
	if n < 0 {
		return "?"
	}
	return strconv.FormatInt(n, 10)
}

// progress prints one line: lines written, messages in Kafka, documents
// logtransfer indexed and documents searchable, and the agent's lag; and
// once each, a sample Kafka message and a sample search result.
func (d *demo) progress(ctx context.Context) {
	// Not cut short when the run ends meanwhile: the reads are bounded by
	// their clients' timeouts, and a line of question marks would only
	// confuse.
	ctx = context.WithoutCancel(ctx)
	c := d.read(ctx, true)
	line := fmt.Sprintf("%5s  written %6d   in Kafka %6s   indexed %6s   searchable %6s",
		time.Since(d.started).Round(time.Second), c.written, num(c.inKafka), num(c.indexed), num(c.searchable))
	if c.agentErr == nil {
		line += fmt.Sprintf("   agent lag %d lines / %s", max(0, c.written-c.agent.acked), humanBytes(c.agent.lagBytes))
		if c.agent.sendErrors > 0 {
			line += fmt.Sprintf(", send errors %d", c.agent.sendErrors)
		}
	}
	if c.deadLettered > 0 {
		line += fmt.Sprintf("   dead-lettered %d (see %s)", c.deadLettered, dlqTopic)
	}
	fmt.Println(line)
	for _, err := range []error{c.kafkaErr, c.agentErr, c.transferErr, c.searchErr} {
		if err != nil {
			fmt.Printf("       (%v)\n", err)
		}
	}
	if !d.sampled && c.inKafka > 0 {
		msg, err := d.kafka.latest(ctx)
		switch {
		case err == nil:
			d.sampled = true
			fmt.Printf("\nsample message, the newest in its partition (the agent's envelope around one nginx line):\n%s\n", formatMessage(msg))
		default:
			fmt.Printf("       (sample message: %v)\n", err)
		}
	}
	if !d.searchShown && c.searchable > 0 {
		d.showSearchSample(ctx)
	}
}

// showSearchSample prints the newest searchable document and the command
// that finds it.
func (d *demo) showSearchSample(ctx context.Context) {
	h, err := d.search.newest(ctx)
	if err != nil {
		fmt.Printf("       (sample search: %v)\n", err)
		return
	}
	d.searchShown = true
	fmt.Printf("\nsample search result, the newest document in %s (logtransfer parsed the nginx line into ECS fields):\n%s", indexPattern, formatHit(h))
	fmt.Printf("  found with: %s\n\n", d.search.curlSearch(newestBody))
}

// finish waits (bounded) for the agent to ship the last lines and stops it,
// waits (bounded) for logtransfer and ZincSearch to make them searchable and
// stops those, stops devstack, and prints the summary. With clean false (a
// child died) it still stops what runs but does not wait for the counts.
// skip is cancelled by a second Ctrl-C, which ends the waiting; stopSkip
// then restores the default handling, so a third one kills logdemo.
func (d *demo) finish(skip context.Context, stopSkip func(), clean bool) error {
	skipped := false
	// pause sleeps for dur and reports false if the user asked to stop waiting.
	pause := func(dur time.Duration) bool {
		if !skipped {
			select {
			case <-skip.Done():
				skipped = true
				stopSkip()
				fmt.Println("interrupted again: not waiting any longer; stopping (Ctrl-C once more kills logdemo)")
			case <-time.After(dur):
			}
		}
		return !skipped
	}
	ctx := context.Background() // the reads below have their own timeouts

	written := d.writer.written.Load()
	var inKafka int64 = -1
	var countErr error
	if clean {
		deadline := time.Now().Add(catchUpWait)
		for {
			inKafka, countErr = d.kafka.count()
			if countErr == nil && inKafka >= written || time.Now().After(deadline) || !pause(200*time.Millisecond) {
				break
			}
		}
	}
	if countErr != nil {
		inKafka = -1
	}
	var errs []error
	if !d.agent.Exited() {
		fmt.Println("stopping logagent (SIGTERM; it drains in-flight messages and saves its registry)")
		if err := d.agent.Stop(syscall.SIGTERM, agentStopGrace); err != nil {
			errs = append(errs, fmt.Errorf("stop logagent: %w (see %s)", err, display(d.l.agentLog)))
		}
	}
	// Count again: the agent may have shipped more while draining.
	if clean && !d.devstack.Exited() {
		if n, err := d.kafka.count(); err == nil {
			inKafka, countErr = n, nil
		}
	}

	// Every line written is one document: re-sent messages carry the same
	// event id, and logtransfer indexes them under the same _id.
	final := counts{searchable: -1, indexed: -1}
	var waited time.Duration
	if clean && !d.transfer.Exited() && !d.zinc.Exited() {
		var target int64 = written
		if countErr == nil && inKafka < written {
			target = inKafka // lines missing in Kafka cannot become searchable
		}
		final, waited = d.waitSearchable(ctx, target, pause)
		if !d.searchShown && final.searchable > 0 {
			d.showSearchSample(ctx)
		}
	}
	var appVerdict, delay string
	var appErr error
	if clean && !d.transfer.Exited() && !d.zinc.Exited() {
		actx, cancel := context.WithTimeout(context.Background(), appLogWait+10*time.Second)
		appVerdict, appErr = d.checkAppLog(actx, pause)
		delay = d.delaySummary(actx)
		cancel()
	}

	if !d.transfer.Exited() {
		fmt.Println("stopping logtransfer (SIGTERM; it leaves its consumer group)")
		if err := d.transfer.Stop(syscall.SIGTERM, transferStopGrace); err != nil {
			errs = append(errs, fmt.Errorf("stop logtransfer: %w (see %s)", err, display(d.l.transferLog)))
		}
	}
	if !d.zinc.Exited() {
		fmt.Println("stopping ZincSearch (SIGTERM; it closes its indexes)")
		if err := d.zinc.Stop(syscall.SIGTERM, zincStopGrace); err != nil {
			errs = append(errs, fmt.Errorf("stop ZincSearch: %w (see %s)", err, display(d.l.zincLog)))
		}
	}
	d.kafka.close()
	if !d.devstack.Exited() {
		fmt.Println("stopping devstack")
		if err := d.devstack.Stop(syscall.SIGTERM, devstackStopGrace); err != nil {
			errs = append(errs, fmt.Errorf("stop devstack: %w (see %s)", err, display(d.l.devstackLog)))
		}
	}

	elapsed := time.Since(d.started).Round(time.Second)
	fmt.Println()
	head := fmt.Sprintf("summary: written=%d in_kafka=%s indexed=%s searchable=%s after %v",
		written, num(inKafka), num(final.indexed), num(final.searchable), elapsed)
	if !clean {
		inKafka = -1
		head = fmt.Sprintf("summary: written=%d in_kafka=? indexed=? searchable=? after %v", written, elapsed)
	}
	var verdict []string
	switch {
	case !clean:
		verdict = append(verdict, "stopped early")
	case countErr != nil:
		errs = append(errs, fmt.Errorf("count the messages in Kafka: %w", countErr))
	case inKafka < written:
		verdict = append(verdict, fmt.Sprintf("%d lines did NOT reach Kafka within %v", written-inKafka, catchUpWait))
		errs = append(errs, fmt.Errorf("%d of %d written lines are not in Kafka; see %s", written-inKafka, written, display(d.l.agentLog)))
	}
	if clean {
		searchLogs := fmt.Sprintf("see %s and %s", display(d.l.transferLog), display(d.l.zincLog))
		switch {
		case final.searchable < 0:
			err := final.searchErr
			if err == nil {
				err = errors.New("logtransfer or ZincSearch had stopped")
			}
			errs = append(errs, fmt.Errorf("count the searchable documents: %w; %s", err, searchLogs))
		case final.searchable < written:
			why := fmt.Sprintf("after waiting %v", waited.Round(time.Second))
			if skipped {
				why = "the wait was cut short"
			}
			verdict = append(verdict, fmt.Sprintf("%d written lines are NOT searchable (%s)", written-final.searchable, why))
			errs = append(errs, fmt.Errorf("%d of %d written lines are not searchable in ZincSearch (%s); %s",
				written-final.searchable, written, why, searchLogs))
		case final.searchable > written:
			verdict = append(verdict, fmt.Sprintf("%d documents MORE than lines written", final.searchable-written))
			errs = append(errs, fmt.Errorf("%d documents are searchable for %d written lines: a line was indexed under two ids; %s",
				final.searchable, written, searchLogs))
		case countErr == nil && inKafka >= written:
			ok := "every written line reached Kafka and is searchable"
			if inKafka > written {
				// At-least-once: a line re-sent after an error is in Kafka twice,
				// and indexed twice under the same _id.
				ok += fmt.Sprintf(" (%d more messages in Kafka: re-sends, one document each)", inKafka-written)
			}
			verdict = append(verdict, ok)
		}
		if final.deadLettered > 0 {
			verdict = append(verdict, fmt.Sprintf("%d documents dead-lettered to %s", final.deadLettered, dlqTopic))
		}
		if appVerdict != "" {
			verdict = append(verdict, appVerdict)
		}
		if appErr != nil {
			errs = append(errs, appErr)
		}
	}
	if len(verdict) > 0 {
		head += ": " + strings.Join(verdict, "; ")
	}
	if delay != "" {
		fmt.Println(delay)
	}
	fmt.Println(head)
	if d.l.root != "" && d.l.data == filepath.Join(d.l.root, ".demo") {
		fmt.Printf("files are kept in %s until the next run; `make clean` removes them\n", display(d.l.data))
	} else {
		fmt.Printf("files are kept in %s until the next run\n", display(d.l.data))
	}
	return errors.Join(errs...)
}

// waitSearchable polls until target documents are searchable, the counts
// stop moving for searchStallWait, the wait passes its bound (see
// searchWaitBase), logtransfer or ZincSearch exits, or pause reports that
// the user cut it short. It prints a line every progressEvery and returns
// the last reading and how long it waited.
func (d *demo) waitSearchable(ctx context.Context, target int64, pause func(time.Duration) bool) (counts, time.Duration) {
	start := time.Now()
	c := d.read(ctx, false)
	if c.searchable >= target {
		return c, time.Since(start)
	}
	backlog := target - max(0, c.searchable)
	limit := searchWaitBase + time.Duration(backlog)*searchWaitPerDoc
	fmt.Printf("waiting for logtransfer and ZincSearch to catch up: %s of %d lines searchable (up to %v; Ctrl-C stops waiting)\n",
		num(c.searchable), target, limit.Round(time.Second))
	lastMove, lastPrint := start, start
	prev := c
	for pause(250 * time.Millisecond) {
		c = d.read(ctx, false)
		now := time.Now()
		// Dead-lettered documents will never be searchable.
		if c.searchable >= target || c.searchable >= 0 && c.searchable+c.deadLettered >= target {
			break
		}
		if c.searchable > prev.searchable || c.indexed > prev.indexed {
			lastMove = now
		}
		prev = c
		if d.transfer.Exited() || d.zinc.Exited() {
			break
		}
		if now.Sub(lastMove) > searchStallWait {
			fmt.Printf("       no progress for %v; giving up\n", searchStallWait)
			break
		}
		if now.Sub(start) > limit {
			fmt.Printf("       still not there after %v; giving up\n", limit.Round(time.Second))
			break
		}
		if now.Sub(lastPrint) >= progressEvery {
			lastPrint = now
			fmt.Printf("       indexed %s, searchable %s of %d\n", num(c.indexed), num(c.searchable), target)
			for _, err := range []error{c.transferErr, c.searchErr} {
				if err != nil {
					fmt.Printf("       (%v)\n", err)
				}
			}
		}
	}
	return c, time.Since(start)
}

// stopChildren stops whatever started, agent first, for an interrupted
// start.
func (d *demo) stopChildren() {
	if d.kafka != nil {
		d.kafka.close()
	}
	for _, s := range []struct {
		c     *proc.Process
		grace time.Duration
	}{{d.agent, agentStopGrace}, {d.transfer, transferStopGrace}, {d.zinc, zincStopGrace}, {d.devstack, devstackStopGrace}} {
		// One that already exited has been reported by start's error.
		if s.c != nil && !s.c.Exited() {
			if err := s.c.Stop(syscall.SIGTERM, s.grace); err != nil {
				fmt.Fprintf(os.Stderr, "logdemo: %v\n", err)
			}
		}
	}
}
