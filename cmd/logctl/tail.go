package main

import (
	"context"
	"regexp"

	"github.com/logagent/logagent/ctl"
)

// tail is logctl tail: what the agents ship to a topic, live.
func (r *runner) tail(ctx context.Context, args []string) error {
	fs := r.flagSet("tail")
	var kf kafkaFlags
	kf.register(fs)
	var opt ctl.TailOptions
	fs.StringVar(&opt.Topic, "topic", "", "the topic to follow, e.g. web_log")
	fs.StringVar(&opt.Host, "host", "", "only this host's lines")
	fs.StringVar(&opt.Path, "path", "", "only the lines of files matching this glob: with a / the whole path (** for any directories), else the base name")
	grep := fs.String("grep", "", "only lines whose message matches this regexp (RE2)")
	fs.BoolVar(&opt.FromBeginning, "from-beginning", false, "start at the oldest offsets (default: the end)")
	fs.DurationVar(&opt.Since, "since", 0, "start at what arrived this long ago, e.g. 10m")
	fs.IntVar(&opt.Limit, "limit", 0, "stop after this many lines (0: until Ctrl-C)")
	output := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	if opt.Topic == "" {
		return usagef("tail: --topic is required")
	}
	if opt.FromBeginning && opt.Since > 0 {
		return usagef("tail: --from-beginning or --since, not both")
	}
	if *grep != "" {
		re, err := regexp.Compile(*grep)
		if err != nil {
			return usagef("tail: --grep: %v", err)
		}
		opt.Grep = re
	}
	kafka, given, err := kf.settings()
	if err != nil {
		return err
	}
	if !given {
		return usagef("tail: --brokers (or LOGCTL_BROKERS) or --transfer-config is required")
	}
	opt.Kafka, opt.JSON = kafka, *output == "json"
	return ctl.Tail(ctx, opt, r.stdout)
}
