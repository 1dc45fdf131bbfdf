// Command logdemo runs the whole logagent pipeline on one machine, with no
// Docker: an nginx access log that logdemo appends to, logagent shipping it
// to Kafka, and logtransfer indexing it into a search engine. The services
// around them are development stand-ins: devstack (embedded etcd and kfake,
// a Kafka-protocol dev broker that is not Apache Kafka) and ZincSearch (an
// Elasticsearch-compatible dev engine that is not Elasticsearch, built by
// scripts/build-zinc.sh). Every 3 seconds a progress line compares lines
// written, messages in Kafka, documents indexed and documents searchable.
// `make demo` runs it.
//
// Everything lives under -data (default .demo in the repo root): the
// devstack and ZincSearch data, the agent's state dir, the sample log
// logs/access.log, the generated agent.yaml and transfer.yaml and the
// children's logs. Each run starts afresh: it removes what an earlier run
// left there (those paths only).
//
// The banner prints the logctl commands that talk to the running demo
// (status, editing the collect config live, dead letters).
//
// Ctrl-C (or -duration) stops the writer, lets the agent catch up and stops
// it, lets logtransfer and ZincSearch catch up and stops them, then
// devstack, and prints a summary (a second Ctrl-C cuts the waiting short).
// It exits 0 when every line written is searchable.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/logagent/logagent/internal/zincenv"
)

// Fixed names of the demo's world.
const (
	hostID     = "demo-host"
	etcdPrefix = "/logagent/"
	topic      = "web_log"
	dlqTopic   = "web_log-dlq" // logtransfer's dead-letter topic; it must exist
	partitions = 3
	// The index pattern of topic's documents (logtransfer's default index
	// is {topic}-{date}).
	indexPattern = topic + "-*"
	// The demo's ZincSearch admin, created in its fresh data dir. The
	// server listens on 127.0.0.1 only.
	zincUser     = "admin"
	zincPassword = "logdemo-Zinc-1"
	// transferGroup is logtransfer's consumer group.
	transferGroup = "logtransfer"
)

// errUsage reports a flag error the flag package has already printed.
var errUsage = errors.New("usage error")

type options struct {
	duration     time.Duration
	rate         float64
	dataDir      string
	binDir       string
	zincBin      string
	etcdPort     int
	etcdPeerPort int
	kafkaPort    int
	httpPort     int
	transferPort int
	zincPort     int
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
	if err := runDemo(o); err != nil {
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
	fs.StringVar(&o.binDir, "bin", "", "directory holding logagent, logtransfer and devstack (default: <repo>/bin, built if missing)")
	fs.StringVar(&o.zincBin, "zinc-bin", "", "the zincsearch-es binary (default: <repo>/"+zincenv.RelPath+", built by scripts/build-zinc.sh if missing)")
	fs.IntVar(&o.etcdPort, "etcd-port", 23790, "etcd client port on 127.0.0.1")
	fs.IntVar(&o.etcdPeerPort, "etcd-peer-port", 23800, "etcd peer port on 127.0.0.1")
	fs.IntVar(&o.kafkaPort, "kafka-port", 29092, "kfake (Kafka protocol) port on 127.0.0.1")
	fs.IntVar(&o.httpPort, "http-port", 9431, "the agent's /metrics port on 127.0.0.1")
	fs.IntVar(&o.transferPort, "transfer-http-port", 9432, "logtransfer's /metrics port on 127.0.0.1 (its http_listen)")
	fs.IntVar(&o.zincPort, "zinc-port", 24080, "ZincSearch port on 127.0.0.1 (the Elasticsearch API is under /es)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: logdemo [flags]\n\nRuns an nginx log writer + logagent + logtransfer locally, with devstack (etcd, kfake)\nand ZincSearch as development stand-ins; Ctrl-C stops it.\n\n")
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
	}{{"-etcd-port", o.etcdPort}, {"-etcd-peer-port", o.etcdPeerPort}, {"-kafka-port", o.kafkaPort}, {"-http-port", o.httpPort},
		{"-transfer-http-port", o.transferPort}, {"-zinc-port", o.zincPort}} {
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
