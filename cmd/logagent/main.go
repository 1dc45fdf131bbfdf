// Command logagent tails the files named in etcd and ships every line to Kafka.
package main

import (
	"context"
	"fmt"

	"github.com/logagent/logagent/agent"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/cli"
	"github.com/logagent/logagent/internal/service"
)

func main() {
	flags := cli.ParseFlags("logagent", "/etc/logagent/agent.yaml")
	cfg, err := conf.LoadAgent(flags.Config)
	if err != nil {
		cli.Fatal("logagent", err)
	}
	if flags.Check {
		fmt.Printf("%s: OK (host_id %s, %d Kafka brokers, etcd %v)\n", flags.Config, cfg.HostID, len(cfg.Kafka.Brokers), cfg.Etcd.Endpoints)
		return
	}
	err = cli.Run(flags.CPUProfile, func(ctx context.Context, stop context.CancelFunc) error {
		log := cli.Logger(cfg.LogLevel)
		a := agent.New(cfg, cli.Version, log)
		life := service.Start(ctx, log, a.Alive)
		err := a.Run(ctx, func() { life.Ready("shipping; status in etcd and on " + cfg.HTTPListen) })
		stop()
		life.Wait()
		return err
	})
	if err != nil {
		cli.Fatal("logagent", err)
	}
}
