// Package agent tails the files named in the collect config and ships every
// line to Kafka, at least once.
//
// Data flow: Manager (discovery) starts a harvester per file; a harvester cuts
// lines into encoded events and hands them in batches to the Shipper (sarama
// AsyncProducer); each batch's ack advances the file's contiguous watermark in
// the Registry, which is persisted every second. Nothing else moves an offset.
package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/ops"
)

// Agent is the logagent daemon: config source, manager, shipper, registry.
type Agent struct {
	cfg     atomic.Pointer[conf.Agent] // the config in force; a reload replaces it
	version string
	log     *slog.Logger
	level   *slog.LevelVar // nil: the log level is not the agent's to change
	prom    *prometheus.Registry
	metrics *Metrics
	started time.Time
	ready   atomic.Bool
	reloads chan reloadRequest

	config atomic.Pointer[layeredConfig] // the running pipeline's
	// configured is closed once a collect config is in force: the cached
	// one, or etcd's first answer (even a rejected one: the decision is made).
	configured     chan struct{}
	configuredOnce sync.Once
	mgr            atomic.Pointer[Manager] // the running pipeline's, for Alive
}

// Options are what the process gives an agent besides its config.
type Options struct {
	// Level is the logger's level, set by a reload of log_level.
	Level *slog.LevelVar
}

// New prepares an agent from a validated config.
func New(cfg *conf.Agent, version string, log *slog.Logger, o Options) *Agent {
	prom := ops.NewRegistry()
	a := &Agent{version: version, log: log, level: o.Level, prom: prom, metrics: NewMetrics(prom), started: time.Now(),
		configured: make(chan struct{}), reloads: make(chan reloadRequest)}
	a.cfg.Store(cfg)
	return a
}

// firstConfigWait bounds how long ready waits for a first collect config
// when there is no cached one and etcd does not answer: systemd would
// otherwise fail the start (and restart the agent in a loop) although the
// agent applies the config whenever etcd comes back.
const firstConfigWait = 30 * time.Second

const registryFileName = "registry.json"

// Run ships until ctx is done, then drains: stop reading, wait (bounded) for
// in-flight acks, save the registry. ready is called once the main loop runs
// and a collect config is in force (cached, or etcd's first answer), or after
// firstConfigWait without either. It does not wait for Kafka: the producer
// connects in the background and lines wait in their files meanwhile. A
// reload that changes how the agent reads or ships restarts the pipeline in
// the process the same way (drain, save, start again from the registry).
func (a *Agent) Run(ctx context.Context, ready func()) error {
	cfg := a.cfg.Load()
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	reg, err := OpenRegistry(filepath.Join(cfg.StateDir, registryFileName))
	if err != nil {
		return err
	}
	httpSrv, err := ops.Serve(cfg.HTTPListen, a.prom, &a.ready)
	if err != nil {
		return err
	}
	defer httpSrv.Close()
	p, err := a.startPipeline(cfg, reg)
	if err != nil {
		return err
	}
	a.ready.Store(true)
	a.log.Info("logagent running", "version", a.version, "host_id", cfg.HostID, "state_dir", cfg.StateDir)
	var signaller sync.WaitGroup
	signaller.Go(func() { a.signalReady(ctx, ready) })
	defer signaller.Wait()
	for {
		select {
		case <-ctx.Done():
			a.ready.Store(false)
			return p.stop()
		case req := <-a.reloads:
			if p, err = a.apply(req, p, reg); err != nil {
				return err
			}
		}
	}
}

func (a *Agent) signalReady(ctx context.Context, ready func()) {
	wait := time.NewTimer(firstConfigWait)
	defer wait.Stop()
	select {
	case <-ctx.Done():
		return
	case <-a.configured:
	case <-wait.C:
		a.log.Warn("no collect config yet: etcd has not answered and none is cached; running idle until it does",
			"waited", firstConfigWait, "endpoints", a.cfg.Load().Etcd.Endpoints)
	}
	if ready != nil {
		ready()
	}
}

// Alive reports whether the file manager's loop still turns: it wakes at
// least every files.rescan_interval. Run must have started.
func (a *Agent) Alive() bool {
	return a.mgr.Load().SinceLastTurn() < max(3*a.cfg.Load().Files.RescanInterval, time.Minute)
}

func (a *Agent) setConfigured() { a.configuredOnce.Do(func() { close(a.configured) }) }

// status is what the status key says: the config in force, and every file
// with its topic's send error, if Kafka refuses or cannot take it now.
func (a *Agent) status(mgr *Manager, shipper *Shipper) collect.Status {
	cs := a.config.Load().status()
	files := mgr.Status()
	for i := range files {
		if err, since, failing := shipper.TopicError(files[i].Topic); failing {
			files[i].SendError, files[i].SendErrorSince = err.Error(), &since
		}
	}
	cfg := a.cfg.Load()
	st := collect.Status{Host: cfg.HostID, Groups: cfg.Groups, Version: a.version, StartTime: a.started, Config: cs, Files: files}
	st.LimitFiles(collect.MaxStatusFiles)
	return st
}

func (a *Agent) flushLoop(ctx context.Context, reg *Registry, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := reg.Save(); err != nil {
				a.metrics.RegistrySaveErrors.Inc()
				a.log.Error("registry not saved; retrying", "error", err)
			}
		}
	}
}
