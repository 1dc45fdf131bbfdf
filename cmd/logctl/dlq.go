package main

import (
	"context"
	"flag"
	"os"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/ctl"
)

func (r *runner) dlq(ctx context.Context, name string, args []string) error {
	if name != "ls" && name != "replay" {
		return usagef("unknown dlq subcommand %q (ls, replay)", name)
	}
	fs := r.flagSet("dlq " + name)
	var kf kafkaFlags
	kf.register(fs)
	var (
		topic  = fs.String("topic", "", "the dead-letter topic, e.g. web_log-dlq")
		to     = fs.String("to", "", "replay: send to this topic instead of each message's source.topic")
		limit  = fs.Int("limit", 0, "at most this many messages (0: all)")
		from   = fs.String("from-offsets", "", "start partitions at these offsets, e.g. 0=120,2=7 (printed by an interrupted replay)")
		dryRun = fs.Bool("dry-run", false, "replay: check and show, send nothing")
		output = outputFlag(fs)
	)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	if *topic == "" {
		return usagef("dlq %s: --topic is required", name)
	}
	kafka, given, err := kf.settings()
	if err != nil {
		return err
	}
	if !given {
		return usagef("dlq: --brokers (or LOGCTL_BROKERS) or --transfer-config is required")
	}
	offsets, err := ctl.ParseOffsets(*from)
	if err != nil {
		return usagef("--from-offsets: %v", err)
	}
	opt := ctl.DLQOptions{Kafka: kafka, Topic: *topic, To: *to, Limit: *limit, FromOffsets: offsets, DryRun: *dryRun}
	if name == "ls" {
		return ctl.DLQList(ctx, opt, r.stdout, *output == "json")
	}
	_, err = ctl.DLQReplay(ctx, opt, r.stdout) // it prints its own summary
	return err
}

// kafkaFlags say how to reach Kafka: --brokers, or the kafka section (TLS,
// SASL and all) of a transfer.yaml.
type kafkaFlags struct {
	brokers, transferConfig string
}

func (k *kafkaFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.brokers, "brokers", os.Getenv("LOGCTL_BROKERS"), "comma-separated Kafka brokers (LOGCTL_BROKERS)")
	fs.StringVar(&k.transferConfig, "transfer-config", "", "take Kafka settings (TLS, SASL) from this transfer.yaml")
}

// transfer loads the --transfer-config, with --brokers replacing its
// brokers.
func (k *kafkaFlags) transfer() (*conf.Transfer, error) {
	t, err := conf.LoadTransfer(k.transferConfig)
	if err != nil {
		return nil, err
	}
	if k.brokers != "" {
		t.Kafka.Brokers = ctl.SplitList(k.brokers)
	}
	return t, nil
}

// settings takes the transfer's kafka section when a transfer config is
// given (--brokers replacing its brokers), else plain brokers; given is
// false when neither was.
func (k *kafkaFlags) settings() (_ conf.Kafka, given bool, _ error) {
	if k.transferConfig != "" {
		t, err := k.transfer()
		if err != nil {
			return conf.Kafka{}, false, err
		}
		return t.Kafka, true, nil
	}
	if k.brokers == "" {
		return conf.Kafka{}, false, nil
	}
	return conf.Kafka{Brokers: ctl.SplitList(k.brokers)}, true, nil
}
