// Command logdemo runs the first half of the logagent pipeline on one
// machine, with no Docker: devstack (embedded etcd and kfake, a
// Kafka-protocol dev broker that is not Apache Kafka) and logagent as child
// processes, a goroutine appending nginx access lines to a sample log, and a
// progress line every 3 seconds comparing lines written with messages in
// Kafka. `make demo` runs it.
//
// Everything lives under -data (default .demo in the repo root): the
// devstack data, the agent's state dir, the sample log logs/access.log, the
// generated agent.yaml and the children's logs. Each run starts afresh: it
// removes what an earlier run left there (those paths only).
//
// Two flags talk to a running demo instead of starting one:
//
//	go run ./cmd/logdemo -status              the agent's status key and the collect config
//	go run ./cmd/logdemo -set-config '<json>' validate and put a new collect config
//
// Ctrl-C (or -duration) stops the writer, lets the agent catch up, stops the
// agent, then devstack, and prints a summary. It exits 0 when every line
// written reached Kafka.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"
)

// Fixed names of the demo's world.
const (
	hostID     = "demo-host"
	etcdPrefix = "/logagent/"
	topic      = "web_log"
	partitions = 3
)

// errUsage reports a flag error the flag package has already printed.
var errUsage = errors.New("usage error")

type options struct {
	duration     time.Duration
	rate         float64
	dataDir      string
	binDir       string
	etcdPort     int
	etcdPeerPort int
	kafkaPort    int
	httpPort     int

	status       bool
	setConfig    string
	setConfigSet bool // -set-config was given (an empty value is still an error to report)
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(os.Stderr, "logdemo: %v\n", err)
		}
		os.Exit(2)
	}
	switch {
	case o.status:
		err = showStatus(o)
	case o.setConfigSet:
		err = setConfig(o)
	default:
		err = runDemo(o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "logdemo: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("logdemo", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	fs.Float64Var(&o.rate, "rate", 50, "nginx access lines appended per second")
	fs.StringVar(&o.dataDir, "data", ".demo", "data directory; a relative path is taken from the repo root")
	fs.StringVar(&o.binDir, "bin", "", "directory holding logagent and devstack (default: <repo>/bin, built if missing)")
	fs.IntVar(&o.etcdPort, "etcd-port", 23790, "etcd client port on 127.0.0.1")
	fs.IntVar(&o.etcdPeerPort, "etcd-peer-port", 23800, "etcd peer port on 127.0.0.1")
	fs.IntVar(&o.kafkaPort, "kafka-port", 29092, "kfake (Kafka protocol) port on 127.0.0.1")
	fs.IntVar(&o.httpPort, "http-port", 9431, "the agent's /metrics port on 127.0.0.1")
	fs.BoolVar(&o.status, "status", false, "print the running demo agent's status key and collect config, then exit")
	fs.StringVar(&o.setConfig, "set-config", "", "validate this collect config JSON, put it for the running demo, then exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: logdemo [flags]\n\nRuns devstack + logagent + an nginx log writer locally; Ctrl-C stops it.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, errUsage
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "set-config" {
			o.setConfigSet = true
		}
	})
	if o.status && o.setConfigSet {
		return o, errors.New("-status and -set-config: give one of them")
	}
	if o.duration < 0 {
		return o, fmt.Errorf("-duration: %v is negative", o.duration)
	}
	if o.rate <= 0 || o.rate > 100000 {
		return o, fmt.Errorf("-rate: %v, want more than 0 and at most 100000 lines/s", o.rate)
	}
	if o.dataDir == "" {
		return o, errors.New("-data: must not be empty")
	}
	seen := map[int]string{}
	for _, p := range []struct {
		name string
		port int
	}{{"-etcd-port", o.etcdPort}, {"-etcd-peer-port", o.etcdPeerPort}, {"-kafka-port", o.kafkaPort}, {"-http-port", o.httpPort}} {
		if p.port < 1 || p.port > 65535 {
			return o, fmt.Errorf("%s: %d is not a port", p.name, p.port)
		}
		if other, dup := seen[p.port]; dup {
			return o, fmt.Errorf("%s and %s: both are %d; they must differ", other, p.name, p.port)
		}
		seen[p.port] = p.name
	}
	return o, nil
}
