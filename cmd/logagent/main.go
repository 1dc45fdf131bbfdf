// Command logagent tails the files named in etcd and ships every line to Kafka.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"

	"github.com/logagent/logagent/agent"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/cli"
	"github.com/logagent/logagent/internal/preflight"
	"github.com/logagent/logagent/internal/service"
)

func main() {
	connect := flag.Bool("connect", false, "with -check: also read the collect config from etcd and the topics' metadata from Kafka, with the configured TLS and credentials")
	flags := cli.ParseFlags("logagent", "/etc/logagent/agent.yaml")
	cfg, err := conf.LoadAgent(flags.Config)
	if err != nil {
		cli.Fatal("logagent", err)
	}
	if flags.Check || *connect {
		check(flags, cfg, *connect)
		return
	}
	err = cli.Run(flags.CPUProfile, func(ctx context.Context, stop context.CancelFunc, reload <-chan os.Signal) error {
		level := cli.Level(cfg.LogLevel)
		log := cli.Logger(level)
		a := agent.New(cfg, cli.Version, log, agent.Options{Level: level})
		life := service.Start(ctx, log, a.Alive)
		reloader := make(chan struct{})
		go func() {
			defer close(reloader)
			reloadOnSignal(ctx, a, reload, flags.Config, log)
		}()
		err := a.Run(ctx, func() { life.Ready("shipping; status in etcd and on " + cfg.HTTPListen) })
		stop()
		<-reloader
		life.Wait()
		return err
	})
	if err != nil {
		cli.Fatal("logagent", err)
	}
}

// check is -check [-connect]: it prints a line per check and exits 1 if one
// failed.
func check(flags cli.Flags, cfg *conf.Agent, connect bool) {
	if !flags.Check {
		cli.Fatal("logagent", errors.New("-connect goes with -check"))
	}
	ctx, stop := cli.SignalContext()
	defer stop()
	if err := preflight.Agent(ctx, flags.Config, cfg, connect, os.Stdout); err != nil {
		stop()
		os.Exit(1)
	}
}

// reloadOnSignal reloads agent.yaml on each SIGHUP until ctx is done: read
// and validated as at start, then applied (the agent logs what it applied
// and what needs a restart); a file that does not load changes nothing.
func reloadOnSignal(ctx context.Context, a *agent.Agent, reload <-chan os.Signal, cfgPath string, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
		}
		log.Info("reload requested (SIGHUP)", "config", cfgPath)
		next, err := conf.LoadAgent(cfgPath)
		if err == nil {
			_, err = a.Reload(ctx, next)
		}
		if err != nil && ctx.Err() == nil {
			log.Error("config reload rejected; the running config stays", "error", err)
		}
	}
}
