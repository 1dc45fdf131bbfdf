package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/logagent/logagent/bench/internal/benchkit"
)

// summary is a run's rows over the rounds: medians of rate and CPU, the
// highest memory figures.
type summary struct {
	name                   string
	rate, minRate, maxRate float64
	micros                 float64
	rssKiB, fileRSSKiB     int64
	heap, goroutines       float64
	brokerCores            float64
}

func summarize(rows []row) []summary {
	var order []string
	byName := map[string][]row{}
	for _, r := range rows {
		if byName[r.name] == nil {
			order = append(order, r.name)
		}
		byName[r.name] = append(byName[r.name], r)
	}
	var out []summary
	for _, name := range order {
		rs := byName[name]
		s := summary{name: name}
		var rates, micros, broker []float64
		for _, r := range rs {
			rates = append(rates, r.rate())
			micros = append(micros, r.microsPerLine())
			broker = append(broker, r.brokerCores)
			s.rssKiB = max(s.rssKiB, r.rssKiB)
			s.fileRSSKiB = max(s.fileRSSKiB, r.FileRSSKiB)
			s.heap = max(s.heap, r.HeapInUse)
		}
		s.rate, s.micros, s.brokerCores = median(rates), median(micros), median(broker)
		s.minRate, s.maxRate = slices.Min(rates), slices.Max(rates)
		out = append(out, s)
	}
	return out
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func mib(bytes float64) string {
	if bytes == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", bytes/(1<<20))
}

func (e *env) reportThroughput(rows []row, size int64, load string, build, total time.Duration) {
	w, o := os.Stdout, e.o
	sums := summarize(rows)
	ref := map[string]float64{}
	for _, s := range sums {
		ref[s.name] = s.rate
	}
	fmt.Fprintf(w, "\nagentbench: %d lines, %.1f MB file (avg %.1f B/line), one topic per run with %d partitions, %d round(s), medians\n",
		o.lines, float64(size)/1e6, float64(size)/float64(o.lines), o.partitions, o.repeat)
	e.header(w)
	width := benchkit.NameWidth(sums, func(s summary) string { return s.name })
	fmt.Fprintf(w, "%-*s %9s %17s %10s %9s %11s %9s %9s %9s %7s\n", width, "run", "lines/s", "min-max", "÷ceiling", "÷forget",
		"CPU µs/line", "RSS MiB", "file MiB", "heap MiB", "broker")
	for _, s := range sums {
		fmt.Fprintf(w, "%-*s %9.0f %17s %10s %9s %11.2f %9.1f %9.1f %9s %7.2f\n", width, s.name, s.rate,
			fmt.Sprintf("%.0f-%.0f", s.minRate, s.maxRate), ratio(s.rate, ref[runCeiling]), ratio(s.rate, ref[runForget]),
			s.micros, float64(s.rssKiB)/1024, float64(s.fileRSSKiB)/1024, mib(s.heap), s.brokerCores)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "runs: forget = bare sarama, Return.Successes off, not idempotent, 5 requests in flight;")
	fmt.Fprintln(w, "  ceiling = bare sarama at-least-once: idempotent, 1 request in flight, every success read; both send the raw lines;")
	fmt.Fprintln(w, "  ceiling-envelope = the ceiling sending the agent's envelopes; agent / agent-raw = the logagent binary, format envelope / raw;")
	if o.before != "" {
		fmt.Fprintf(w, "  before = the logagent binary built at %s, envelopes\n", o.before)
	}
	fmt.Fprintln(w, "lines/s: from the child's exec to every line visible on the broker (high watermarks, polled every 10 ms);")
	fmt.Fprintln(w, "  CPU: the child's user+sys until then; RSS: its ru_maxrss; file: the highest RssFile in its /proc status, the pages")
	fmt.Fprintln(w, "  of its executable (part of RSS, and a floor under it); heap: the highest go_memstats_heap_inuse_bytes on its")
	fmt.Fprintln(w, "  /metrics; both sampled every 50 ms; broker: the broker's CPU in cores from first to last record")
	e.targets(w, sums, ref[runCeiling])
	e.footer(w, load, build, total)
}

// targets prints the throughput targets against this run's figures.
func (e *env) targets(w io.Writer, sums []summary, ceilingRate float64) {
	if ceilingRate == 0 {
		return
	}
	for _, s := range sums {
		switch s.name {
		case runAgent:
			fmt.Fprintf(w, "target agent: %.2f of the ceiling (≥ 0.90: %s), %.2f µs/line (≤ 3.0: %s), RSS %.1f MiB (≤ 40: %s)\n",
				s.rate/ceilingRate, benchkit.Verdict(s.rate >= 0.9*ceilingRate), s.micros, benchkit.Verdict(s.micros <= 3),
				float64(s.rssKiB)/1024, benchkit.Verdict(s.rssKiB <= 40<<10))
		case runAgentRaw:
			fmt.Fprintf(w, "target agent-raw: %.2f of the ceiling (≥ 0.95: %s)\n", s.rate/ceilingRate, benchkit.Verdict(s.rate >= 0.95*ceilingRate))
		}
	}
}

func ratio(v, ref float64) string {
	if ref == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v/ref)
}

func (e *env) header(w io.Writer) {
	store := "records in memory"
	if e.o.kafkaDisk || e.o.outage > 0 {
		store = "records on disk, an fsync per produce request"
	}
	fmt.Fprintf(w, "broker: one kfake (devstack child, %s) + embedded etcd, 127.0.0.1\n", store)
	fmt.Fprintf(w, "producer (agent and bare alike): sarama %s via conf.Kafka.Sarama defaults: Kafka 2.8.0, snappy, acks all, hash partitioner, key host+path, headers event.id + format + event.created\n",
		benchkit.DepVersion("github.com/IBM/sarama"))
	fmt.Fprintf(w, "%s\n\n", benchkit.Machine())
}

func (e *env) footer(w io.Writer, load string, build, total time.Duration) {
	for _, n := range e.notes {
		fmt.Fprintln(w, "note: "+n)
	}
	fmt.Fprintf(w, "command: %s\n", prog.Command())
	fmt.Fprintf(w, "load average: %s before, %s after (other work shares these CPUs)\n", load, benchkit.LoadAvg())
	fmt.Fprintf(w, "time: %.1f s in all (build %.1f s)\n", total.Seconds(), build.Seconds())
}

// many is what the many-files and fault modes print about one agent run.
type many struct {
	title  string
	detail []string
	row    row
}

func (e *env) reportAgent(m many, load string, build, total time.Duration) {
	w := os.Stdout
	fmt.Fprintf(w, "\nagentbench: %s\n", m.title)
	e.header(w)
	r := m.row
	fmt.Fprintf(w, "lines shipped:     %d, each once (the topic holds exactly that many)\n", r.lines)
	fmt.Fprintf(w, "time to ship:      %.2f s from the agent's exec (%.0f lines/s)\n", r.span.Seconds(), r.rate())
	fmt.Fprintf(w, "CPU:               %.2f s (%.2f µs/line)\n", r.cpu.Seconds(), r.microsPerLine())
	fmt.Fprintf(w, "peak RSS:          %.1f MiB (ru_maxrss, whole life), of which at most %.1f MiB file-backed (RssFile: the executable's pages)\n",
		float64(r.rssKiB)/1024, float64(r.FileRSSKiB)/1024)
	fmt.Fprintf(w, "peak heap in use:  %s MiB (go_memstats_heap_inuse_bytes, sampled every %v)\n", mib(r.HeapInUse), sampleInterval(e.o.files))
	fmt.Fprintf(w, "  of which at most %s MiB batch memory (logagent_bytes_in_flight), %s MiB read buffers (logagent_read_buffer_bytes)\n",
		mib(r.BytesInFlight), mib(r.ReadBuffers))
	fmt.Fprintf(w, "peak goroutines:   %.0f\n", r.Goroutines)
	for _, d := range m.detail {
		fmt.Fprintln(w, strings.TrimRight(d, "\n"))
	}
	e.footer(w, load, build, total)
}
