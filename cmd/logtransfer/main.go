// Command logtransfer consumes log events from Kafka as a consumer group and
// bulk-indexes them into Elasticsearch.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/cli"
	"github.com/logagent/logagent/internal/ops"
	"github.com/logagent/logagent/transfer"
)

func main() {
	flags := cli.ParseFlags("logtransfer", "/etc/logagent/transfer.yaml")
	cfg, err := conf.LoadTransfer(flags.Config)
	if err != nil {
		cli.Fatal("logtransfer", err)
	}
	if flags.Check {
		fmt.Printf("%s: OK (group %s, topics %v, %d Kafka brokers, Elasticsearch %v)\n",
			flags.Config, cfg.GroupID, cfg.Topics, len(cfg.Kafka.Brokers), cfg.Elasticsearch.URLs)
		return
	}
	if err := run(cfg); err != nil {
		cli.Fatal("logtransfer", err)
	}
}

func run(cfg *conf.Transfer) error {
	log := cli.Logger(cfg.LogLevel)
	ctx, stop := cli.SignalContext()
	defer stop()

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
	dlq, err := connectDLQ(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer dlq.Close()
	t := transfer.New(cfg, conv, idx, dlq, transfer.Policy{}, transfer.NewMetrics(prom), log)
	log.Info("logtransfer starting", "version", cli.Version, "group", cfg.GroupID, "topics", cfg.Topics)
	err = t.Run(ctx, func() { ready.Store(true) })
	ready.Store(false)
	log.Info("logtransfer stopped")
	return err
}

// connectDLQ retries while Kafka is unreachable, so the daemon can be started
// before its brokers.
func connectDLQ(ctx context.Context, cfg *conf.Transfer, log *slog.Logger) (*transfer.KafkaDeadLetters, error) {
	for attempt := 1; ; attempt++ {
		dlq, err := transfer.NewKafkaDeadLetters(cfg)
		if err == nil {
			return dlq, nil
		}
		if attempt == 1 || attempt%10 == 0 {
			log.Warn("Kafka not reachable yet; retrying", "brokers", cfg.Kafka.Brokers, "error", err, "attempt", attempt)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stopped before Kafka was reachable: %w", err)
		case <-time.After(min(time.Duration(attempt)*200*time.Millisecond, 5*time.Second)):
		}
	}
}
