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
	if len(os.Args) > 1 && os.Args[1] == "test-pipeline" {
		runTestPipeline(os.Args[2:])
		return
	}
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
	if err := cli.Run(flags.CPUProfile, func(ctx context.Context, stop context.CancelFunc, reload <-chan os.Signal) error {
		return run(ctx, stop, reload, flags.Config, cfg)
	}); err != nil {
		cli.Fatal("logtransfer", err)
	}
}

// run is the daemon: the transfer, its metrics endpoint and systemd
// notifications, and a config reload per SIGHUP.
func run(ctx context.Context, stop context.CancelFunc, reload <-chan os.Signal, cfgPath string, cfg *conf.Transfer) error {
	level := cli.Level(cfg.LogLevel)
	log := cli.Logger(level)

	prom := ops.NewRegistry()
	var ready atomic.Bool
	srv, err := ops.Serve(cfg.HTTPListen, prom, &ready)
	if err != nil {
		return err
	}
	defer srv.Close()

	t, err := transfer.New(cfg, transfer.NewMetrics(prom), log, transfer.Options{Level: level})
	if err != nil {
		return err
	}
	// The watchdog only proves the process is not wedged: the consumer has
	// no loop that turns while Kafka is idle.
	life := service.Start(ctx, log, func() bool { return true })
	service.Status(log, "waiting for Kafka")
	log.Info("logtransfer starting", "version", cli.Version, "group", cfg.GroupID, "topics", cfg.Topics)
	done := make(chan error, 1)
	go func() {
		done <- t.Run(ctx, func() {
			ready.Store(true)
			life.Ready(fmt.Sprintf("consuming %v as group %s", cfg.Topics, cfg.GroupID))
		})
	}()
	for {
		select {
		case <-reload:
			reloadConfig(ctx, t, cfgPath, log)
		case err := <-done:
			ready.Store(false)
			stop()
			life.Wait()
			log.Info("logtransfer stopped")
			return err
		}
	}
}

// reloadConfig reads and validates the config file as a start would, and
// hands it to the transfer; a file that does not load changes nothing.
func reloadConfig(ctx context.Context, t *transfer.Transfer, cfgPath string, log *slog.Logger) {
	log.Info("reload requested (SIGHUP)", "config", cfgPath)
	next, err := conf.LoadTransfer(cfgPath)
	if err == nil {
		_, err = t.Reload(ctx, next) // it logs what it applied
	}
	if err != nil && ctx.Err() == nil {
		log.Error("config reload rejected; the running config stays", "error", err)
	}
}

// check is -check [-connect]: it prints a line per check and exits 1 if one
// failed.
func check(flags cli.Flags, cfg *conf.Transfer, connect bool) {
	if !flags.Check {
		cli.Fatal("logtransfer", errors.New("-connect goes with -check"))
	}
	ctx, stop := cli.SignalContext()
	defer stop()
	if err := preflight.Transfer(ctx, flags.Config, cfg, connect, os.Stdout, cli.Logger(slog.LevelWarn)); err != nil {
		stop()
		os.Exit(1)
	}
}
