// Command logctl is the operator's tool for logagent: it edits and validates
// each host's collect config in etcd, shows the agents' status, prints
// least-privilege etcd roles, and lists or replays dead-lettered messages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/logagent/logagent/internal/cli"
)

const usage = `logctl manages logagent's collect configs in etcd, shows agents' status and
handles the transfer's dead letters.

Usage:
  logctl collect get    LAYER | --all-hosts [-o json]
  logctl collect get    --effective --host H [--groups a,b]
  logctl collect set    LAYER -f config.json|-  [--dry-run] [--yes] [--brokers B | --transfer-config F]
  logctl collect add    LAYER --path P --topic T [--exclude G]... [--field k=v]...
                        (or LAYER --path P --disabled: drop an inherited entry)
                        [--start beginning|end] [--timestamp none|nginx|iso8601|syslog]
                        [--timestamp-layout L [--timezone Z]]
                        [--include-lines RE]... [--exclude-lines RE]... [--ignore-older D]
                        [--format envelope|raw] [--max-line-bytes N]
                        [--multiline-start RE | --multiline-continue RE]
                        [--multiline-max-lines N] [--multiline-timeout D] [--dry-run] [--yes]
                        [--brokers B | --transfer-config F]
  logctl collect rm     LAYER --path P [--dry-run] [--yes]
  logctl collect edit   LAYER               (opens $VISUAL or $EDITOR)
  logctl status         [--host H | --group G] [-o json]
  logctl etcd-roles     --host H [--groups a,b]   (default: the groups of H's status)
  logctl tail           --topic T [--host H] [--path GLOB] [--grep RE]
                        [--from-beginning | --since 10m] [--limit N] [-o json]
  logctl trace          EVENT_ID | --host H --path P --offset N  --transfer-config F
                        [--topic T] [--scan N] [-o json]
  logctl dlq ls         --topic web_log-dlq [--limit N] [-o json]
  logctl dlq replay     --topic web_log-dlq [--to web_log] [--from-offsets 0=120,2=7] [--dry-run]
  logctl version

LAYER is --host H (one host), --group G (the hosts with G in the groups of
their agent.yaml) or --common (every host); a host's config is the three
merged, most specific last (collect get --effective shows it).

etcd flags follow etcdctl (same names and ETCDCTL_* variables): --endpoints,
--user, --password, --cacert, --cert, --key, --insecure-skip-tls-verify,
--dial-timeout, --command-timeout; --prefix (LOGCTL_PREFIX) is etcd.prefix
of agent.yaml. Kafka flags of tail and dlq: --brokers (LOGCTL_BROKERS) or
--transfer-config /etc/logagent/transfer.yaml (its kafka section, with TLS
and SASL); given to collect add or set, they make it warn about a topic
Kafka does not have. Flags may come before or after the command. Run
"logctl <command> -h" for a command's flags.
`

// exitUsage is the exit status for a command line that cannot be run.
const exitUsage = 2

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one logctl command line and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	r := &runner{stdin: stdin, stdout: stdout, stderr: stderr}
	err := r.dispatch(ctx, args)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "logctl: %v\n\n%s", err, usage)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "logctl: %v\n", err)
		return 1
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

type runner struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func (r *runner) dispatch(ctx context.Context, args []string) error {
	args = hoistFlags(args)
	if len(args) == 0 {
		return usagef("no command")
	}
	cmd, rest := args[0], args[1:]
	sub := func() (string, []string, error) {
		if len(rest) == 0 {
			return "", nil, usagef("%s: which subcommand?", cmd)
		}
		return rest[0], rest[1:], nil
	}
	switch cmd {
	case "collect":
		name, a, err := sub()
		if err != nil {
			return err
		}
		return r.collect(ctx, name, a)
	case "status":
		return r.status(ctx, rest)
	case "etcd-roles":
		return r.etcdRoles(ctx, rest)
	case "tail":
		return r.tail(ctx, rest)
	case "trace":
		return r.trace(ctx, rest)
	case "dlq":
		name, a, err := sub()
		if err != nil {
			return err
		}
		return r.dlq(ctx, name, a)
	case "version", "-version", "--version":
		fmt.Fprintf(r.stdout, "logctl %s\n", cli.Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(r.stdout, usage)
		return nil
	}
	return usagef("unknown command %q", cmd)
}

// boolFlags are the flags that take no value.
var boolFlags = map[string]bool{"insecure-skip-tls-verify": true, "dry-run": true, "yes": true, "all-hosts": true,
	"h": true, "help": true, "version": true}

// hoistFlags moves flags written before the command, as etcdctl allows
// (logctl --endpoints X status), behind it, where the command parses them.
func hoistFlags(args []string) []string {
	var flags []string
	i := 0
	for i < len(args) && len(args[i]) > 1 && args[i][0] == '-' && args[i] != "--" {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		flags = append(flags, args[i])
		i++
		if !hasValue && !boolFlags[name] && i < len(args) {
			flags = append(flags, args[i])
			i++
		}
	}
	return append(args[i:len(args):len(args)], flags...)
}

// flagSet is a command's flags; parse errors are usage errors.
func (r *runner) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("logctl "+name, flag.ContinueOnError)
	fs.SetOutput(r.stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// outputFlag adds -o table|json.
func outputFlag(fs *flag.FlagSet) *string {
	return fs.String("o", "table", "output: table or json")
}

func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return usagef("-o %q: use table or json", o)
	}
	return nil
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
