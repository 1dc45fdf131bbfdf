package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/logagent/logagent/bench/internal/benchkit"
)

func (e *env) report(w io.Writer, rows []row, build, total interface{ Seconds() float64 }) {
	o := e.o
	var perPart []string
	for _, n := range e.pre.perPartition {
		perPart = append(perPart, fmt.Sprint(n))
	}
	fmt.Fprintf(w, "\ntransferbench: %d documents: nginx-like lines avg %.1f B in agent envelopes avg %.1f B", e.docs,
		float64(e.pre.lineBytes)/float64(e.docs), float64(e.pre.valueBytes)/float64(e.docs))
	if e.srcAvg > 0 {
		fmt.Fprintf(w, ", documents avg %.1f B (parse %s)", e.srcAvg, o.parse)
	}
	fmt.Fprintf(w, "\ntopic: %d partitions (%s docs), %d files (keys host+path), pre-filled in %.2f s by a sarama AsyncProducer (snappy, acks all, idempotent)\n",
		o.partitions, strings.Join(perPart, "/"), len(e.files), e.pre.seconds)
	fmt.Fprintf(w, "broker: kfake (devstack child); engine: ZincSearch v0.4.10 /es API (zincsearch-es child, WAL sync 100ms, a fresh one per Zinc run); all on 127.0.0.1\n")
	fmt.Fprintf(w, "transfer: logtransfer, new consumer group per run, batch max_docs %d, max_bytes 5MiB, max_wait %v, parse %s; indexer olivere/elastic %s; sarama %s\n",
		o.batch, o.maxWait, o.parse, benchkit.DepVersion("github.com/olivere/elastic/v7"), benchkit.DepVersion("github.com/IBM/sarama"))
	fmt.Fprintf(w, "bare: the transfer's documents and batches, transfer.NewElastic's Bulk, %d goroutines (one per partition, one batch in flight each)\n", o.partitions)
	fmt.Fprintf(w, "%s\n\n", benchkit.Machine())

	ref := map[string]row{}
	for _, r := range rows {
		if r.bare {
			ref[r.kind] = r
		}
	}
	if len(rows) > 0 { // the outage run alone has none
		e.table(w, rows, ref)
	}
	for _, c := range e.engine {
		fmt.Fprintf(w, "zincsearch during %s: %.0f µs CPU/doc until acked (%.2f cores); %.2f cores over %.1f s until %d docs were searchable",
			c.run, benchkit.MicrosEach(c.toAcked, c.docs), c.toAcked.Seconds()/c.ackedSpan.Seconds(),
			c.toEnd.Seconds()/c.endSpan.Seconds(), c.endSpan.Seconds(), c.searchable)
		if c.searchable > 0 {
			fmt.Fprintf(w, " (%.0f µs CPU per searchable doc)", benchkit.MicrosEach(c.toEnd, c.searchable))
		}
		fmt.Fprintln(w)
	}
	for _, r := range e.outages {
		r.report(w)
	}
	for _, s := range e.shares {
		fmt.Fprintln(w, s)
	}
	for _, n := range e.notes {
		fmt.Fprintln(w, "note: "+n)
	}
	var targets []string
	for _, r := range rows {
		if b, ok := ref[r.kind]; ok && strings.HasPrefix(r.name, "transfer → zinc") {
			ratio := r.rate() / b.rate()
			targets = append(targets, fmt.Sprintf("%s %.2f (%s)", strings.TrimPrefix(r.name, "transfer → zinc, "), ratio, benchkit.Verdict(ratio >= 0.9)))
		}
	}
	if len(targets) > 0 {
		fmt.Fprintf(w, "target: transfer/bare docs/s to acked ≥ 0.90: %s\n", strings.Join(targets, "; "))
		// Zinc is CPU-bound on a small machine: CPU that other processes
		// take during one run and not the other moves the ratio.
		a, okA := e.others["transfer → zinc"]
		b, okB := e.others["bare"]
		if okA && okB && max(a, b) > 0.2 {
			fmt.Fprintf(w, "WARNING: other processes used %.2f cores during the transfer run and %.2f during the bare load (of %d): the ratio is not reliable; run again on a quiet machine\n",
				a, b, runtime.NumCPU())
		}
	}
	fmt.Fprintf(w, "command: %s (effective: -docs %d -partitions %d -files-per-partition %d -batch %d -max-wait %v -parse %s -runs %s -outage %v -timeout %v)\n",
		prog.Command(),
		o.docs, o.partitions, o.filesPerPart, o.batch, o.maxWait, o.parse, strings.Join(o.runs, ","), o.outage, o.timeout)
	fmt.Fprintf(w, "load average: %s before the runs, %s after (other work shares these CPUs)\n", e.loadBefore, benchkit.LoadAvg())
	fmt.Fprintf(w, "time: %.1f s in all (build %.1f s)\n", total.Seconds(), build.Seconds())
}

// table prints the throughput rows and what their columns mean.
func (e *env) table(w io.Writer, rows []row, ref map[string]row) {
	o := e.o
	width := benchkit.NameWidth(rows, func(r row) string { return r.name })
	srchCol := func(r row) string {
		switch {
		case r.srchSpan <= 0:
			return "-"
		case r.srchDone:
			return fmt.Sprintf("%.3f", r.srchSpan.Seconds())
		default:
			return fmt.Sprintf(">%.1f (%.0f%%)", r.srchSpan.Seconds(), 100*float64(r.srchCount)/float64(r.docs))
		}
	}
	sw := len("searchable")
	for _, r := range rows {
		sw = max(sw, len(srchCol(r)))
	}
	fmt.Fprintf(w, "%-*s %7s %9s %*s %8s %7s %7s %7s %8s\n", width, "", "", "seconds", sw, "seconds to", "", "ratio", "ratio", "CPU", "peak RSS")
	fmt.Fprintf(w, "%-*s %7s %9s %*s %8s %7s %7s %7s %8s\n", width, "run", "docs", "to acked", sw, "searchable", "docs/s", "acked", "search", "µs/doc", "MiB")
	for _, r := range rows {
		ratio, sratio := "-", "-"
		if b, ok := ref[r.kind]; ok && !r.bare {
			ratio = fmt.Sprintf("%.2f", r.rate()/b.rate())
			if r.searchRate() > 0 && b.searchRate() > 0 {
				sratio = fmt.Sprintf("%.2f", r.searchRate()/b.searchRate())
			}
		}
		fmt.Fprintf(w, "%-*s %7d %9.3f %*s %8.0f %7s %7s %7.2f %8s\n", width, r.name, r.docs, r.acked.Seconds(), sw, srchCol(r), r.rate(),
			ratio, sratio, benchkit.MicrosEach(r.cpu, r.docs), benchkit.RSS(r.rssKiB, r.rssNote))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "docs/s: docs / seconds to acked. ratio: docs/s (to acked, to searchable) over the bare load's row of the same kind.")
	fmt.Fprintln(w, "from exec: from the transfer's process start (group join, template, start-up included); bare: from its first bulk.")
	fmt.Fprintln(w, "1st ack → all: from the first batch acknowledged to the last, for the documents after the first batch.")
	fmt.Fprintln(w, "acked: transfer = its consumer group's committed offsets cover every message (polled on the broker every 25 ms; it commits a")
	fmt.Fprintln(w, "  batch once the engine acknowledged it; /metrics logtransfer_documents_indexed_total is checked = docs then); bare = its last bulk answered.")
	fmt.Fprintf(w, "searchable: a size-0 _search with track_total_hits on the run's index pattern returns the count (polled every 250 ms once acked),\n")
	fmt.Fprintf(w, "  waiting at most %v from the run's start; \">T (P%%)\": only P%% searchable after T s. ratio search: searchable docs per second.\n", o.searchWait)
	fmt.Fprintln(w, "Each Zinc run gets a fresh ZincSearch (empty data dir, same build and settings), stopped after the run: Zinc keeps indexing")
	fmt.Fprintln(w, "  long after it acknowledged a bulk, and a run must not compete with the previous run's backlog. None runs during the sink run.")
	fmt.Fprintln(w, "CPU: transfer from exec = its whole-life rusage (start-up and SIGTERM shutdown included; stopped once acked);")
	fmt.Fprintln(w, "  1st ack → all = /proc samples (10 ms ticks); bare = getrusage(SELF) over its load, reading and converting excluded.")
	fmt.Fprintln(w, "peak RSS: the child's VmHWM when acked (wait4's ru_maxrss would count this bench's memory shared until exec).")
}
