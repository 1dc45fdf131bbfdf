// Command transferbench measures logtransfer's indexing throughput against a
// bare bulk load of the same documents into the same search engine, in one
// run on one kfake broker and ZincSearch.
//
// It builds cmd/logtransfer and cmd/devstack, starts devstack (its kfake
// broker; the embedded etcd is unused) as a child on free ports, creates one
// topic with -partitions partitions (and its DLQ topic), and pre-fills it
// with -docs envelopes of nginx-like lines built with the agent's own
// encoder (agent.EncodeEnvelopes), from several files whose keys the hash
// partitioner spreads evenly. Then, each measured process a child of its own
// so CPU time and peak RSS are taken the same way:
//
//   - transfer: the logtransfer binary, a fresh consumer group reading the
//     topic from the start into ZincSearch (index {topic}-{date}), until
//     the group's committed offsets cover every message (it commits a batch
//     only once the engine acknowledged it; its /metrics
//     logtransfer_documents_indexed_total is then checked to equal -docs);
//     then SIGTERM, and a size-0 _search with track_total_hits is polled
//     until every document is searchable or -search-wait has passed;
//   - bare: this binary (-child bare) reads the topic back, converts the
//     messages with transfer.NewConverter under the same config (the bodies
//     the transfer sends; only the index differs: bare-{topic}-{date}), cuts
//     the same batches, installs the same template and sends them with the
//     transfer's own Indexer (transfer.NewElastic's Bulk), one goroutine per
//     partition with one batch in flight each: the transfer's concurrency.
//     Its clock starts at its first bulk;
//   - sink: the transfer again (new group) against an HTTP server in this
//     process that answers every _bulk instantly with a success item per
//     document: the transfer's own ceiling;
//   - outage: the transfer again (new group) into a fresh ZincSearch that
//     is stopped (SIGTERM) once a quarter of the documents are committed,
//     kept down for -outage and started again on the same port and data:
//     how soon after the engine answers again the committed offsets move,
//     and when all are committed. Nothing is committed while it is down.
//
// ZincSearch (the zincsearch-es binary scripts/build-zinc.sh builds, set up
// like internal/testenv's StartZinc) is started fresh, with an empty data
// dir, for each of the two Zinc runs and stopped after it: Zinc keeps
// indexing for minutes after it acknowledged a bulk (~2.5 ms of CPU per
// nginx document here), and a run must not compete with the previous run's
// backlog. Nothing but the transfer and the sink run during the sink run.
//
// Each run also has a "1st ack → all" row, from the first acknowledged batch
// to the last, which leaves out start-up (group join, template). The report
// shows how busy the machine's CPUs were during each run and with what:
// on a shared 2-CPU machine other work changes the numbers.
//
// Usage: go run ./bench/transferbench [-docs 200000] [-runs transfer,bare,sink,outage] [-outage 30s]
// (`make bench` runs it; TRANSFERBENCHFLAGS passes flags). -profile DIR runs
// the logtransfer binary with -cpuprofile and the bare load under the same
// profiler, writing
// DIR/transfer-zinc.pprof, DIR/transfer-sink.pprof and DIR/bare.pprof;
// inspect them with `go tool pprof -top DIR/transfer-sink.pprof`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/logagent/logagent/bench/internal/benchkit"
	"github.com/logagent/logagent/internal/proc"
	"github.com/logagent/logagent/internal/zincenv"
)

// prog prefixes what the bench says on stderr.
const prog benchkit.Prog = "transferbench"

const hostID = "bench"

type options struct {
	docs         int
	partitions   int
	filesPerPart int
	batch        int
	maxWait      time.Duration
	parse        string
	runs         []string
	timeout      time.Duration
	outage       time.Duration
	keep         bool
	profileDir   string
	verbose      bool
	zincEnv      []string
	searchWait   time.Duration
	transferEnv  []string
}

func main() {
	child := flag.String("child", "", "internal: run as a measured child (bare | transfer)")
	var o options
	var runs string
	flag.IntVar(&o.docs, "docs", 200_000, "documents: envelopes pre-filled into the topic, indexed by every run")
	flag.IntVar(&o.partitions, "partitions", 3, "partitions of the topic (the transfer's and the bare load's concurrency)")
	flag.IntVar(&o.filesPerPart, "files-per-partition", 2, "log files (origins, message keys) per partition")
	flag.IntVar(&o.batch, "batch", 1000, "batch.max_docs, for the transfer and the bare load alike")
	flag.DurationVar(&o.maxWait, "max-wait", 100*time.Millisecond, "the transfer's batch.max_wait (only each partition's last, partial batch waits for it)")
	flag.StringVar(&o.parse, "parse", "nginx", "the transfer's parse mode for the topic: nginx, combined, json or none")
	flag.StringVar(&runs, "runs", "transfer,bare,sink,outage", "runs, in order: transfer (into Zinc), bare (bulk load into Zinc), sink (transfer into an instant sink), outage (transfer into Zinc, which is stopped for -outage mid-stream)")
	flag.DurationVar(&o.outage, "outage", 30*time.Second, "how long the outage run keeps ZincSearch down")
	flag.DurationVar(&o.searchWait, "search-wait", 2*time.Minute, "longest wait, from a Zinc run's start, for every document to be searchable; then the searchable count is reported (200k documents need ~5 min on 2 CPUs)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "time limit of each run")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binaries, configs, logs, data)")
	flag.StringVar(&o.profileDir, "profile", "", "write CPU profiles of the transfer (its -cpuprofile) and the bare load here")
	flag.BoolVar(&o.verbose, "v", false, "more detail in notes")
	zincEnv := flag.String("zinc-env", "", "extra environment for ZincSearch, comma-separated KEY=VALUE (e.g. ZINC_WAL_SYNC_INTERVAL=1s)")
	transferEnv := flag.String("transfer-env", "", "extra environment for the transfer child, comma-separated KEY=VALUE (e.g. GOGC=200)")
	childArgs := registerChildFlags()
	pipelines := flag.Bool("pipelines", false, "measure the converter per document with no pipeline, parse: nginx, a 3-step grok pipeline and dissect, in this process, and exit")
	flag.Parse()

	if *pipelines {
		prog.Main(func(context.Context) error { return runPipelines(20_000, 9) })
		return
	}
	if *child != "" {
		prog.Child(*child, map[string]func() error{
			"bare": func() error { return runBareChild(childArgs) },
		})
		return
	}

	o.runs = prog.Runs(runs, "transfer", "bare", "sink", "outage")
	o.transferEnv = benchkit.List(*transferEnv)
	o.zincEnv = benchkit.List(*zincEnv)
	switch o.parse {
	case "nginx", "combined", "json", "none":
	default:
		prog.Exit(2, "-parse: %q is not nginx, combined, json or none", o.parse)
	}
	if o.searchWait <= 0 || o.docs < 1 || o.partitions < 1 || o.filesPerPart < 1 || o.batch < 1 || o.maxWait <= 0 || o.outage <= 0 || len(o.runs) == 0 {
		prog.Exit(2, "-docs, -partitions, -files-per-partition, -batch, -max-wait and -outage must be positive and -runs not empty")
	}
	o.profileDir = prog.ProfileDir(o.profileDir)
	prog.Main(func(ctx context.Context) error { return run(ctx, o) })
}

// env is what the runs share.
type env struct {
	*benchkit.Workspace // Bin: logtransfer and devstack
	o                   options
	runID               string
	topic               string
	docs                int
	brokers             []string
	devstack            *proc.Devstack
	zincBin             string
	zinc                *zinc // the running ZincSearch, if any
	samples             map[string]map[string]string
	files               []logFile
	pre                 prefillStats
	sampleIDs           []string
	srcAvg              float64
	engine              []engineCPU
	shares              []string           // CPU use during each run
	others              map[string]float64 // cores used by other processes during a Zinc run
	notes               []string
	outages             []outageResult
	loadBefore          string
}

func (e *env) note(format string, args ...any) {
	e.notes = append(e.notes, fmt.Sprintf(format, args...))
}

func run(ctx context.Context, o options) (err error) {
	began := time.Now()
	ws, err := prog.NewWorkspace(ctx)
	if err != nil {
		return err
	}
	e := &env{Workspace: ws, o: o, docs: o.docs, samples: map[string]map[string]string{}, others: map[string]float64{},
		runID: strconv.FormatInt(time.Now().Unix(), 36) + strconv.Itoa(os.Getpid()), topic: "transferbench"}
	defer func() { ws.Close(o.keep || err != nil && o.verbose) }()
	if e.zincBin, err = zincenv.Binary(ws.Root); err != nil {
		return err
	}

	prog.Logf("building logtransfer and devstack")
	buildTime, err := ws.Build(ctx, "./cmd/logtransfer", "./cmd/devstack")
	if err != nil {
		return err
	}

	prog.Logf("starting devstack (kfake)")
	topics := []string{e.topic, e.topic + "-dlq"} // created explicitly; the DLQ topic must exist
	if e.devstack, err = ws.StartDevstack(ctx, benchkit.Devstack{Topics: topics, Partitions: o.partitions}); err != nil {
		return err
	}
	e.brokers = e.devstack.KafkaBrokers

	if e.files, err = pickFiles(e.topic, o.partitions, o.filesPerPart, o.docs); err != nil {
		return err
	}
	prog.Logf("pre-filling %s with %d envelopes from %d files", e.topic, o.docs, len(e.files))
	if e.pre, err = prefill(ctx, e.brokers, e.topic, o.partitions, e.files, time.Now()); err != nil {
		return err
	}
	e.sampleIDs = e.pre.sampleIDs
	debug.FreeOSMemory() // the pre-fill's messages: children must not start from a big parent

	e.loadBefore = benchkit.LoadAvg()
	rows, err := benchkit.RunAll(ctx, prog, o.runs, o.timeout, func(ctx context.Context, run string) ([]row, error) {
		switch run {
		case "transfer":
			return e.runTransferZinc(ctx)
		case "bare":
			return e.runBare(ctx)
		case "outage":
			return e.runOutage(ctx)
		default: // "sink"
			return e.runTransferSink(ctx)
		}
	})
	if err != nil {
		return err
	}
	if slices.Contains(o.runs, "transfer") && slices.Contains(o.runs, "bare") {
		e.compareSamples()
	}
	e.report(os.Stdout, rows, buildTime, time.Since(began))
	return nil
}
