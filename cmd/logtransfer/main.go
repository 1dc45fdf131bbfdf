// Command logtransfer consumes log events from Kafka as a consumer group and
// bulk-indexes them into Elasticsearch.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/cli"
	"github.com/logagent/logagent/internal/ops"
	"github.com/logagent/logagent/internal/preflight"
	"github.com/logagent/logagent/internal/service"
	"github.com/logagent/logagent/transfer"
)

func main() {
	connect := flag.Bool("connect", false, "with -check: also read the topics' metadata from Kafka and ask Elasticsearch, with the configured TLS and credentials")
	flags := cli.ParseFlags("logtransfer", "/etc/logagent/transfer.yaml")
	cfg, err := conf.LoadTransfer(flags.Config)
	if err != nil {
		cli.Fatal("logtransfer", err)
	}
	if flags.Check || *connect {
		check(flags, cfg, *connect)
		return
	}
	if err := cli.Run(flags.CPUProfile, func(ctx context.Context, stop context.CancelFunc) error {
		return run(ctx, stop, cfg)
	}); err != nil {
		cli.Fatal("logtransfer", err)
	}
}

func run(ctx context.Context, stop context.CancelFunc, cfg *conf.Transfer) error {
	log := cli.Logger(cfg.LogLevel)

	prom := ops.NewRegistry()
	var ready atomic.Bool
	srv, err := ops.Serve(cfg.HTTPListen, prom, &ready)
	if err != nil {
		return err
	}
	defer srv.Close()

	conv, err := transfer.NewConverter(cfg)
	if err != nil {
		return err
	}
	idx, err := transfer.NewElastic(cfg, log)
	if err != nil {
		return err
	}
	defer idx.Stop()
	metrics := transfer.NewMetrics(prom)
	// Retention needs only the engine: it starts before Kafka is reachable.
	stopRetention, err := startRetention(ctx, cfg, idx, metrics, log)
	if err != nil {
		return err
	}
	defer stopRetention()
	// The watchdog only proves the process is not wedged: the consumer has
	// no loop that turns while Kafka is idle.
	life := service.Start(ctx, log, func() bool { return true })
	service.Status(log, "waiting for Kafka")
	dlq, err := transfer.ConnectDeadLetters(ctx, cfg, log)
	if err != nil {
		stopped := ctx.Err() != nil // SIGTERM while Kafka was away is a clean stop
		stop()
		life.Wait()
		if stopped {
			log.Info("logtransfer stopped before Kafka was reachable")
			return nil
		}
		return err
	}
	defer dlq.Close()
	t := transfer.New(cfg, conv, idx, dlq, transfer.Policy{}, metrics, log)
	log.Info("logtransfer starting", "version", cli.Version, "group", cfg.GroupID, "topics", cfg.Topics)
	err = t.Run(ctx, func() {
		ready.Store(true)
		life.Ready(fmt.Sprintf("consuming %v as group %s", cfg.Topics, cfg.GroupID))
	})
	ready.Store(false)
	stop()
	life.Wait()
	log.Info("logtransfer stopped")
	return err
}

// startRetention runs index retention beside the consumer when
// retention_days is set. The returned func stops it and waits until it has.
func startRetention(ctx context.Context, cfg *conf.Transfer, es *transfer.Elastic, m *transfer.Metrics, log *slog.Logger) (stop func(), err error) {
	if cfg.RetentionDays == 0 {
		return func() {}, nil
	}
	r, err := transfer.NewRetention(cfg, es, m, log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}, nil
}

// check is -check [-connect]: it prints a line per check and exits 1 if one
// failed.
func check(flags cli.Flags, cfg *conf.Transfer, connect bool) {
	if !flags.Check {
		cli.Fatal("logtransfer", errors.New("-connect goes with -check"))
	}
	ctx, stop := cli.SignalContext()
	defer stop()
	if err := preflight.Transfer(ctx, flags.Config, cfg, connect, os.Stdout, cli.Logger("warn")); err != nil {
		stop()
		os.Exit(1)
	}
}
