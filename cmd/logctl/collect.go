package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/ctl"
)

// collectFlags are the flags every collect subcommand shares.
type collectFlags struct {
	etcd   ctl.EtcdFlags
	host   string
	group  string
	common bool
	dryRun bool
	yes    bool
}

func (c *collectFlags) register(fs *flag.FlagSet, writes bool) {
	c.etcd.Register(fs)
	fs.StringVar(&c.host, "host", "", "the layer of this host (its agent's host_id)")
	fs.StringVar(&c.group, "group", "", "the layer of this group (the hosts with it in the groups of their agent.yaml)")
	fs.BoolVar(&c.common, "common", false, "the layer every host takes")
	if writes {
		fs.BoolVar(&c.dryRun, "dry-run", false, "show the diff, write nothing")
		fs.BoolVar(&c.yes, "yes", false, "do not ask before writing (asked only on a terminal)")
	}
}

// layer is the layer the flags name: exactly one of --host, --group and
// --common.
func (c *collectFlags) layer(cmd string) (collect.Layer, error) {
	n := 0
	for _, set := range []bool{c.host != "", c.group != "", c.common} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return collect.Layer{}, usagef("collect %s: name one layer: --host H, --group G or --common", cmd)
	case c.common:
		return collect.CommonLayer(), nil
	case c.group != "":
		return collect.GroupLayer(c.group), nil
	default:
		return collect.HostLayer(c.host), nil
	}
}

func (r *runner) collect(ctx context.Context, name string, args []string) error {
	var cf collectFlags
	fs := r.flagSet("collect " + name)
	cf.register(fs, name != "get")
	var (
		allHosts  = fs.Bool("all-hosts", false, "get: list every host's config")
		effective = fs.Bool("effective", false, "get --host H: the config the host runs, its layers merged, each entry with its layer")
		groups    = fs.String("groups", "", "get --effective: the host's groups, comma-separated (default: those its agent's status names)")
		output    = outputFlag(fs)
		file      = fs.String("f", "", "set: the new config, a JSON file or - for stdin")
		path      = fs.String("path", "", "add, rm: the entry's file path or glob")
		topic     = fs.String("topic", "", "add: Kafka topic")
		start     = fs.String("start", "", "add: beginning (default) or end")
		stamp     = fs.String("timestamp", "", "add: none (default), nginx, iso8601 or syslog")
		format    = fs.String("format", "", "add: envelope (default) or raw")
		maxLine   = fs.Int("max-line-bytes", 0, "add: split lines longer than this")
		layout    = fs.String("timestamp-layout", "", "add: a Go time layout at the start of the line, e.g. \"2006-01-02 15:04:05.000\" (instead of --timestamp)")
		timezone  = fs.String("timezone", "", "add: the zone of --timestamp-layout stamps that have none, e.g. Europe/Berlin (default UTC)")
		older     = fs.String("ignore-older", "", "add: register files unchanged for this long at their end when first seen, e.g. 72h")
		disabled  = fs.Bool("disabled", false, "add: an entry that removes the one with this path from a less specific layer (--common, --group)")
		ml        collect.Multiline
		excludes  multiFlag
		fields    multiFlag
	)
	fs.Var(&excludes, "exclude", "add: glob of files to skip (repeatable)")
	fs.Var(&fields, "field", "add: key=value added to every event (repeatable)")
	var includeLines, excludeLines multiFlag
	fs.Var(&includeLines, "include-lines", "add: ship only events matching this regexp (repeatable: any one)")
	fs.Var(&excludeLines, "exclude-lines", "add: drop events matching this regexp (repeatable)")
	fs.StringVar(&ml.StartPattern, "multiline-start", "", "add: regexp of the first line of a multiline event")
	fs.StringVar(&ml.ContinuePattern, "multiline-continue", "", "add: regexp of the lines that continue the event before")
	fs.IntVar(&ml.MaxLines, "multiline-max-lines", 0, "add: most lines of a multiline event (default 500)")
	fs.StringVar(&ml.Timeout, "multiline-timeout", "", "add: ship a multiline event nothing followed for this long (default 1s)")
	var kf kafkaFlags // add, set: warn about topics Kafka does not have
	kf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	err := checkOutput(*output)
	if err != nil {
		return err
	}
	if name != "get" && name != "set" && name != "add" && name != "rm" && name != "edit" {
		return usagef("unknown collect subcommand %q (get, set, add, rm, edit)", name)
	}
	var layer collect.Layer
	switch {
	case name == "get" && *allHosts:
	case name == "get" && *effective:
		if cf.host == "" || cf.group != "" || cf.common {
			return usagef("collect get --effective: --host H is required, and no other layer")
		}
	default:
		if layer, err = cf.layer(name); err != nil {
			return err
		}
	}

	kafka, checkTopics, err := kf.settings()
	if err != nil {
		return err
	}
	warnTopics := func(topics ...string) {
		if checkTopics {
			ctl.WarnMissingTopics(kafka, topics, r.stderr)
		}
	}

	cli, err := cf.etcd.Connect()
	if err != nil {
		return err
	}
	defer cli.Close()
	c := ctl.NewCollect(cli, cf.etcd.Prefix(), cf.etcd.CommandTimeout(), r.stdout)
	opt := ctl.WriteOptions{DryRun: cf.dryRun}
	if !cf.yes && isTerminal(r.stdin) {
		opt.Confirm = r.confirm
	}

	switch name {
	case "get":
		switch {
		case *allHosts:
			return r.listHosts(ctx, c, *output)
		case *effective:
			var gs []string // nil: from the host's status; --groups "" is none
			if flagSet(fs, "groups") {
				gs = append([]string{}, ctl.SplitList(*groups)...)
			}
			return c.Effective(ctx, cf.host, gs, r.stdout)
		}
		return c.Get(ctx, layer, r.stdout)
	case "set":
		value, err := r.readConfig(*file)
		if err != nil {
			return err
		}
		if entries, err := collect.ParseCollectConfig(value); err == nil { // Set reports an invalid one
			warnTopics(collect.Topics(entries)...)
		}
		return c.Set(ctx, layer, value, opt)
	case "add":
		if *path == "" || *topic == "" && !*disabled {
			return usagef("collect add: --path and --topic (or --disabled) are required")
		}
		ts, err := timestampFlags(*stamp, *layout, *timezone)
		if err != nil {
			return err
		}
		e := collect.Entry{Path: *path, Topic: *topic, Exclude: excludes, Start: *start, Timestamp: ts, MaxLineBytes: *maxLine, Format: *format, Disabled: *disabled,
			IncludeLines: includeLines, ExcludeLines: excludeLines, IgnoreOlder: *older}
		if ml != (collect.Multiline{}) {
			e.Multiline = &ml
		}
		entry, err := entryJSON(e, fields)
		if err != nil {
			return err
		}
		if e.Topic != "" {
			warnTopics(e.Topic)
		}
		return c.Add(ctx, layer, entry, opt)
	case "rm":
		if *path == "" {
			return usagef("collect rm: --path is required")
		}
		return c.Remove(ctx, layer, *path, opt)
	default: // edit
		editor := os.Getenv("VISUAL")
		if editor == "" {
			editor = os.Getenv("EDITOR")
		}
		if editor == "" {
			editor = "vi"
		}
		return c.Edit(ctx, layer, editor, opt)
	}
}

func (r *runner) listHosts(ctx context.Context, c *ctl.Collect, output string) error {
	hosts, err := c.Hosts(ctx)
	if err != nil {
		return err
	}
	if output == "json" {
		enc := json.NewEncoder(r.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(hosts)
	}
	fmt.Fprintf(r.stdout, "%-24s %10s %8s  %s\n", "HOST", "REVISION", "ENTRIES", "VALID")
	for _, h := range hosts {
		valid := "yes"
		if h.Error != "" {
			valid = "NO: " + strings.ReplaceAll(h.Error, "\n", "; ")
		}
		fmt.Fprintf(r.stdout, "%-24s %10d %8d  %s\n", h.Host, h.Revision, h.Entries, valid)
	}
	return nil
}

func (r *runner) readConfig(file string) ([]byte, error) {
	switch file {
	case "":
		return nil, usagef("collect set: -f FILE (or - for stdin) is required")
	case "-":
		return io.ReadAll(r.stdin)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return b, nil
}

// entryJSON builds one collect entry from add's flags; unset fields are
// left out so the agent's defaults apply.
// entryJSON is e with the --field key=value pairs, as JSON.
// timestampFlags is the timestamp setting of --timestamp, or of
// --timestamp-layout and --timezone.
func timestampFlags(named, layout, zone string) (collect.Timestamp, error) {
	switch {
	case layout == "" && zone == "":
		return collect.Timestamp{Format: named}, nil
	case named != "":
		return collect.Timestamp{}, usagef("collect add: --timestamp or --timestamp-layout, not both")
	}
	return collect.Timestamp{Format: collect.TimestampLayout, Layout: layout, Timezone: zone}, nil
}

func entryJSON(e collect.Entry, fields []string) ([]byte, error) {
	for _, kv := range fields {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--field %q: use key=value", kv)
		}
		if e.Fields == nil {
			e.Fields = map[string]string{}
		}
		e.Fields[k] = v
	}
	return json.Marshal(e)
}

func (r *runner) confirm() bool {
	fmt.Fprint(r.stderr, "Write this? [y/N] ")
	line, _ := bufio.NewReader(r.stdin).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}

// isTerminal reports whether in is an interactive terminal (then logctl asks
// before writing).
func isTerminal(in io.Reader) bool {
	f, ok := in.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
