package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/logagent/logagent/ctl"
)

func (r *runner) status(ctx context.Context, args []string) error {
	var ef ctl.EtcdFlags
	fs := r.flagSet("status")
	ef.Register(fs)
	var f ctl.Filter
	fs.StringVar(&f.Host, "host", "", "only this host (default: every host)")
	fs.StringVar(&f.Group, "group", "", "only the hosts whose agents take this group")
	output := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if f.Host != "" && f.Group != "" {
		return usagef("status: --host or --group, not both")
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
	statuses, err := ctl.Statuses(ctx, cli, ef.Prefix(), f, time.Now())
	if err != nil {
		return err
	}
	if *output == "json" {
		return ctl.WriteStatusJSON(r.stdout, statuses)
	}
	return ctl.WriteStatusTable(r.stdout, statuses)
}

func (r *runner) etcdRoles(ctx context.Context, args []string) error {
	var ef ctl.EtcdFlags
	fs := r.flagSet("etcd-roles")
	ef.Register(fs)
	host := fs.String("host", "", "the agent's host_id")
	groups := fs.String("groups", "", "the groups of the host's agent.yaml, comma-separated (default: those its agent's status names)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *host == "" {
		return usagef("etcd-roles: --host is required")
	}
	gs := ctl.SplitList(*groups)
	if !flagSet(fs, "groups") {
		var err error
		if gs, err = r.groupsFromStatus(ctx, ef, *host); err != nil {
			return fmt.Errorf("etcd-roles: %w", err)
		}
	}
	return ctl.WriteEtcdRoles(r.stdout, ef.Prefix(), *host, gs)
}

// groupsFromStatus reads the groups host's agent publishes in its status.
func (r *runner) groupsFromStatus(ctx context.Context, ef ctl.EtcdFlags, host string) ([]string, error) {
	cli, err := ef.Connect()
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	return ctl.NewCollect(cli, ef.Prefix(), ef.CommandTimeout(), r.stdout).GroupsOf(ctx, host)
}

// flagSet reports whether the command line set the flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
