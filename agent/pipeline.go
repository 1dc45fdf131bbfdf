package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/etcd"
)

// pipeline is everything that reads and ships under one config: the
// shipper, the manager and its harvesters, the etcd client with the collect
// config's watch and the status publisher, and the registry's flush loop.
// The registry outlives it: a reload stops one pipeline and starts the next
// from the offsets it saved.
type pipeline struct {
	a       *Agent
	cfg     *conf.Agent
	reg     *Registry
	shipper *Shipper
	etcd    interface{ Close() error }

	stopReading, stopBackground context.CancelFunc
	readers, background         sync.WaitGroup
}

// startPipeline starts reading and shipping under cfg.
func (a *Agent) startPipeline(cfg *conf.Agent, reg *Registry) (*pipeline, error) {
	sc, err := cfg.Kafka.Sarama()
	if err != nil {
		return nil, err
	}
	stateDir, err := filepath.EvalSymlinks(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	cli, err := etcd.NewClient(cfg.Etcd)
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	applyMemoryLimit(cfg.Limits, a.log)
	p := &pipeline{a: a, cfg: cfg, reg: reg, etcd: cli}
	p.shipper = NewShipper(cfg.Kafka.Brokers, sc, a.metrics, a.log)
	mgr := NewManager(ManagerOptions{
		HostID: cfg.HostID, MaxLineBytes: int(cfg.Limits.MaxLineBytes), MaxMessageBytes: cfg.Kafka.MaxMessageBytes,
		MaxBytesInFlight: int64(cfg.Limits.MaxBytesInFlight),
		RescanInterval:   cfg.Files.RescanInterval, PollInterval: cfg.Files.PollInterval,
		RotateWait: cfg.Files.RotateWait, CloseInactive: cfg.Files.CloseInactive,
		MaxOpenFiles: cfg.Files.MaxOpenFiles, ForgetAfter: cfg.Files.ForgetAfter,
		Private: []string{stateDir}, Allows: cfg.Files.Allows,
	}, reg, p.shipper, a.metrics, a.log)
	a.mgr.Store(mgr)
	config := newLayeredConfig(cfg.Etcd.Prefix, cfg.HostID, cfg.Groups, cfg.StateDir, mgr, a.metrics, a.log, a.setConfigured)
	a.config.Store(config)
	config.loadCache()

	readCtx, stopReading := context.WithCancel(context.Background())
	bgCtx, stopBackground := context.WithCancel(context.Background())
	p.stopReading, p.stopBackground = stopReading, stopBackground
	p.readers.Go(func() { _ = mgr.Run(readCtx) })
	p.background.Go(func() {
		_ = etcd.NewSource(cli, config.keys(), a.log).Run(bgCtx, config.apply)
	})
	p.background.Go(func() {
		pub := etcd.NewStatusPublisher(cli, etcd.StatusKey(cfg.Etcd.Prefix, cfg.HostID), a.log)
		_ = pub.Run(bgCtx, func() collect.Status { return a.status(mgr, p.shipper) })
	})
	p.background.Go(func() { a.flushLoop(bgCtx, reg, cfg.Files.FlushInterval) })
	return p, nil
}

// stop drains the pipeline: stop reading, wait (bounded by
// files.shutdown_timeout) for in-flight acks, stop the background work, save
// the registry. What Kafka did not acknowledge is read again by whatever
// starts next, under the same ids.
func (p *pipeline) stop() error {
	log, timeout := p.a.log, p.cfg.Files.ShutdownTimeout
	log.Info("stopping: no more reading; waiting for in-flight acks", "timeout", timeout)
	p.stopReading()
	p.readers.Wait()
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), timeout)
	defer cancelDrain()
	closeCtx, cancelClose := context.WithTimeout(context.Background(), timeout+5*time.Second)
	defer cancelClose()
	if err := p.shipper.Close(drainCtx, closeCtx); err != nil {
		log.Warn("stopping with messages unacknowledged; they are sent again when reading starts again", "error", err)
	}
	p.stopBackground()
	p.background.Wait()
	p.etcd.Close()
	if err := p.reg.Save(); err != nil {
		return err
	}
	log.Info("stopped; registry saved")
	return nil
}
