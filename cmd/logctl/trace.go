package main

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/logagent/logagent/ctl"
)

// trace is logctl trace: one line, from its file through Kafka to the
// search engine.
func (r *runner) trace(ctx context.Context, args []string) error {
	var opt ctl.TraceOptions
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		opt.ID, args = args[0], args[1:]
	}
	fs := r.flagSet("trace")
	var ef ctl.EtcdFlags
	ef.Register(fs)
	var kf kafkaFlags
	kf.register(fs)
	fs.StringVar(&opt.Host, "host", "", "the line's host (with --path and --offset, instead of an event id)")
	fs.StringVar(&opt.Path, "path", "", "the line's file")
	fs.Int64Var(&opt.Offset, "offset", 0, "the line's byte offset in the file")
	fs.StringVar(&opt.Topic, "topic", "", "look only in this topic (default: every topic of the transfer)")
	fs.IntVar(&opt.Scan, "scan", ctl.DefaultTraceScan, "read at most this many of each partition's newest messages")
	output := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	if opt.ID == "" && (opt.Host == "" || opt.Path == "") {
		return usagef("trace: an event id, or --host, --path and --offset")
	}
	if kf.transferConfig == "" {
		return usagef("trace: --transfer-config is required (the transfer's Kafka, group and engine)")
	}
	cfg, err := kf.transfer()
	if err != nil {
		return err
	}
	opt.Transfer = cfg
	if cli, err := ef.Connect(); err == nil { // the agent's status is a bonus
		defer cli.Close()
		opt.Etcd, opt.Prefix = cli, ef.Prefix()
	}
	rep, err := ctl.Trace(ctx, opt)
	if err != nil {
		return err
	}
	if *output == "json" {
		enc := json.NewEncoder(r.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return ctl.WriteTrace(r.stdout, rep)
}
