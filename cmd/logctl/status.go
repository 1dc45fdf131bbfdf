package main

import (
	"context"
	"time"

	"github.com/logagent/logagent/ctl"
)

func (r *runner) status(ctx context.Context, args []string) error {
	var ef ctl.EtcdFlags
	fs := r.flagSet("status")
	ef.Register(fs)
	host := fs.String("host", "", "only this host (default: every host)")
	output := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	cli, err := ef.Connect()
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, ef.CommandTimeout())
	defer cancel()
	statuses, err := ctl.Statuses(ctx, cli, ef.Prefix(), *host, time.Now())
	if err != nil {
		return err
	}
	if *output == "json" {
		return ctl.WriteStatusJSON(r.stdout, statuses)
	}
	return ctl.WriteStatusTable(r.stdout, statuses)
}

func (r *runner) etcdRoles(args []string) error {
	var ef ctl.EtcdFlags
	fs := r.flagSet("etcd-roles")
	ef.Register(fs)
	host := fs.String("host", "", "the agent's host_id")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *host == "" {
		return usagef("etcd-roles: --host is required")
	}
	return ctl.WriteEtcdRoles(r.stdout, ef.Prefix(), *host)
}
