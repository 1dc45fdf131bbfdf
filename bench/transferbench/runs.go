package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/bench/internal/benchkit"
	"github.com/logagent/logagent/internal/proc"
)

// row is one line of the report table.
type row struct {
	name  string
	docs  int64         // documents in the measured span
	acked time.Duration // span start to every document acknowledged
	// Searchability, for runs into Zinc: srchCount documents were
	// searchable srchSpan after the span's start; srchDone means that was
	// all of them (then srchSpan is the time to searchable).
	srchSpan  time.Duration
	srchCount int64
	srchDone  bool
	cpu       time.Duration // the measured process's CPU over the span
	rssKiB    int64         // its peak RSS
	rssNote   string
	kind      string // "start" or "first": rows of a kind are compared with bare's row of that kind
	bare      bool
}

func (r row) rate() float64 { return float64(r.docs) / r.acked.Seconds() }

// searchRate is documents searchable per second of the span.
func (r row) searchRate() float64 {
	if r.srchSpan <= 0 {
		return 0
	}
	return float64(r.srchCount) / r.srchSpan.Seconds()
}

// engineCPU is the search engine's CPU during a run.
type engineCPU struct {
	run                string
	docs               int64
	toAcked, toEnd     time.Duration // engine CPU from the run's start
	ackedSpan, endSpan time.Duration // wall
	searchable         int64
	searchDone         bool
}

// yamlConfig writes a transfer.yaml for a run.
func (e *env) yamlConfig(name, group, esURL, user, pass, index, httpListen string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "kafka:\n  brokers: [%s]\n  client_id: transferbench-%s\n", strings.Join(e.brokers, ", "), name)
	fmt.Fprintf(&b, "group_id: %s\ntopics: [%s]\n", group, e.topic)
	fmt.Fprintf(&b, "elasticsearch:\n  urls: [%q]\n", esURL)
	if user != "" {
		fmt.Fprintf(&b, "  username: %s\n  password: %q\n", user, pass)
	}
	fmt.Fprintf(&b, "index: %q\n", index)
	fmt.Fprintf(&b, "batch:\n  max_docs: %d\n  max_wait: %v\n", e.o.batch, e.o.maxWait)
	if e.o.parse != "none" {
		fmt.Fprintf(&b, "parse:\n  %s: %s\n", e.topic, e.o.parse)
	}
	fmt.Fprintf(&b, "http_listen: %q\nlog_level: info\n", httpListen)
	path := filepath.Join(e.Dir, name+".yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// freshZinc starts a ZincSearch with an empty data dir for one run, so that
// no run competes with an earlier run's indexing backlog (Zinc keeps
// indexing long after it acknowledged a bulk). done stops it.
func (e *env) freshZinc(ctx context.Context, name string) (done func(), err error) {
	z, err := startZinc(ctx, e.zincBin, filepath.Join(e.Dir, "zinc-"+name), e.o.zincEnv)
	if err != nil {
		return nil, err
	}
	e.zinc = z
	return func() {
		// Its data is thrown away: a slow shutdown (a backlog being
		// indexed) is cut short.
		_ = z.stop(10 * time.Second)
		e.zinc = nil
		_ = os.RemoveAll(filepath.Join(e.Dir, "zinc-"+name, "zinc"))
	}, nil
}

// transferRun is what one run of the transfer measured.
type transferRun struct {
	p                  *proc.Process
	firstAck, acked    time.Time
	atFirst            int64
	cpuFirst, cpuAcked time.Duration
	cpuTotal           time.Duration
	rssKiB             int64
	zStart, zAcked     time.Duration // Zinc's CPU
	srch               searchResult
	shutdown           time.Duration
	warnings           int
	polls              int
	final              map[string]float64 // /metrics once acked
	cpuShare           string
	others             float64 // cores other processes used meanwhile
}

// transferSpec says where one run of the transfer indexes and what else
// happens meanwhile.
type transferSpec struct {
	name, esURL, user, pass string
	// search, if set, is polled after the run until every document is
	// searchable or the search window ends.
	search *zinc
	// watch, if set, sees every read of the committed offsets, in the
	// polling goroutine (the outage run stops and starts the engine there).
	watch func(ctx context.Context, g *groupOffsets, committed int64, at time.Time) error
}

// runTransfer runs the transfer (the logtransfer binary, or this binary's
// profiled child with -profile) from a fresh consumer group on the
// pre-filled topic into spec.esURL, polls the group's committed offsets until
// they cover the whole topic, checks /metrics
// logtransfer_documents_indexed_total, stops it with SIGTERM and, for Zinc,
// polls a size-0 search until every document is searchable or the search
// window ends.
func (e *env) runTransfer(ctx context.Context, spec transferSpec) (*transferRun, error) {
	name := spec.name
	ports, err := benchkit.FreePorts(1)
	if err != nil {
		return nil, err
	}
	listen := "127.0.0.1:" + strconv.Itoa(ports[0])
	group := fmt.Sprintf("transferbench-%s-%s", e.runID, name)
	cfgPath, err := e.yamlConfig(name, group, spec.esURL, spec.user, spec.pass, "{topic}-{date}", listen)
	if err != nil {
		return nil, err
	}
	args := []string{"-config", cfgPath}
	if e.o.profileDir != "" {
		args = append(args, "-cpuprofile", filepath.Join(e.o.profileDir, name+".pprof"))
	}
	r := &transferRun{}
	logPath := filepath.Join(e.Dir, name+".log")
	before := e.snap(nil)
	r.zStart = before.zinc
	p, err := proc.Start(name, logPath, proc.Options{Env: e.o.transferEnv}, filepath.Join(e.Bin, "logtransfer"), args...)
	if err != nil {
		return nil, err
	}
	r.p = p
	before.t = p.Started
	fail := func(err error) (*transferRun, error) {
		_ = p.Stop(syscall.SIGKILL, 5*time.Second)
		return nil, fmt.Errorf("%w\n%s log:\n%s", err, name, proc.Tail(logPath, 4000))
	}

	metricsURL := "http://" + listen + "/metrics"
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	offsets, err := newGroupOffsets(e.brokers, group, e.topic, e.o.partitions)
	if err != nil {
		return fail(err)
	}
	defer offsets.close()
	n := int64(e.docs)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var last, hwm int64
	for {
		v, err := offsets.committed()
		now := time.Now()
		if err == nil {
			r.polls++
			last = v
			if spec.watch != nil {
				if err := spec.watch(ctx, offsets, v, now); err != nil {
					return fail(err)
				}
			}
			if v > 0 && r.firstAck.IsZero() {
				r.firstAck, r.atFirst = now, v
				r.cpuFirst, _ = p.CPUSoFar()
			}
			if v >= n {
				r.acked = now
				r.cpuAcked, _ = p.CPUSoFar()
				after := e.snap(p)
				r.zAcked = after.zinc
				r.cpuShare, r.others = share(name, before, after)
				hwm = p.PeakRSSSoFar()
				break
			}
		}
		if p.Exited() {
			return fail(fmt.Errorf("%s exited (%v) with %d of %d documents committed", name, p.Err(), last, n))
		}
		select {
		case <-ctx.Done():
			return fail(fmt.Errorf("%s: %d of %d documents committed: %w", name, last, n, ctx.Err()))
		case <-tick.C:
		}
	}
	// The transfer adds a batch to documents_indexed_total before it commits
	// the batch's offsets: the counter must show every document now.
	if r.final, err = scrapeAll(ctx, hc, metricsURL); err != nil {
		return fail(fmt.Errorf("%s /metrics: %w", name, err))
	}
	if got := int64(r.final["documents_indexed_total"]); got != n {
		return fail(fmt.Errorf("%s: offsets of all %d messages committed, but documents_indexed_total is %d", name, n, got))
	}

	// Stopped now: the span is over, and waiting for Zinc needs no transfer.
	stopAt := time.Now()
	if err := p.Stop(syscall.SIGTERM, 30*time.Second); err != nil {
		return nil, fmt.Errorf("%w\n%s log:\n%s", err, name, proc.Tail(logPath, 4000))
	}
	r.shutdown = time.Since(stopAt)
	if r.cpuTotal, r.rssKiB, err = p.Rusage(); err != nil {
		return nil, err
	}
	// wait4's ru_maxrss also counts this process's memory, which the child
	// shared until its exec (Go starts children with CLONE_VFORK|CLONE_VM):
	// the child's own peak is its VmHWM.
	if hwm > 0 {
		r.rssKiB = hwm
	}
	logText, _ := os.ReadFile(logPath)
	r.warnings = bytes.Count(logText, []byte("level=WARN")) + bytes.Count(logText, []byte("level=ERROR"))

	if spec.search != nil {
		if r.srch, err = waitSearchable(ctx, spec.search, e.topic+"-*", n, p.Started.Add(e.o.searchWait)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return r, nil
}

const (
	// pollInterval is how often the group's committed offsets are read.
	pollInterval   = 25 * time.Millisecond
	searchInterval = 250 * time.Millisecond
)

// groupOffsets reads a consumer group's committed offsets from the broker.
// The transfer commits a batch's offsets only after the engine acknowledged
// every document of it, so the sum over the partitions (offsets start at 0)
// is the number of documents acknowledged and committed. This costs the
// transfer nothing; a /metrics scrape costs it ~2 ms of CPU (its Go and
// process collectors), which polled every 20 ms was a third of its CPU.
type groupOffsets struct {
	admin sarama.ClusterAdmin
	group string
	parts map[string][]int32
}

func newGroupOffsets(brokers []string, group, topic string, partitions int) (*groupOffsets, error) {
	admin, err := sarama.NewClusterAdmin(brokers, benchkit.KafkaConfig("transferbench-offsets"))
	if err != nil {
		return nil, fmt.Errorf("kafka admin: %w", err)
	}
	parts := make([]int32, partitions)
	for i := range parts {
		parts[i] = int32(i)
	}
	return &groupOffsets{admin: admin, group: group, parts: map[string][]int32{topic: parts}}, nil
}

func (g *groupOffsets) close() { _ = g.admin.Close() }

func (g *groupOffsets) committed() (int64, error) {
	per, err := g.perPartition()
	var n int64
	for _, o := range per {
		n += o
	}
	return n, err
}

// perPartition is the committed offset of each partition (0 for none yet).
func (g *groupOffsets) perPartition() (map[int32]int64, error) {
	resp, err := g.admin.ListConsumerGroupOffsets(g.group, g.parts)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, blocks := range resp.Blocks {
		for p, b := range blocks {
			if b.Err != sarama.ErrNoError {
				return nil, b.Err
			}
			out[p] = max(b.Offset, 0)
		}
	}
	return out, nil
}

// searchResult is how far Zinc got making a run's documents searchable.
type searchResult struct {
	at    time.Time // when count was read
	count int64
	done  bool          // count is every document
	zinc  time.Duration // Zinc's CPU then
}

// waitSearchable polls a size-0 search until n documents match pattern or
// the deadline passes.
func waitSearchable(ctx context.Context, z *zinc, pattern string, n int64, deadline time.Time) (searchResult, error) {
	tick := time.NewTicker(searchInterval)
	defer tick.Stop()
	for {
		got, err := z.count(ctx, pattern)
		now := time.Now()
		if err != nil {
			return searchResult{}, err
		}
		res := searchResult{at: now, count: got, done: got == n}
		if got > n {
			return res, fmt.Errorf("%s: %d documents searchable, more than the %d sent", pattern, got, n)
		}
		if res.done || !now.Before(deadline) {
			res.zinc, _ = z.proc.CPUSoFar()
			return res, nil
		}
		if z.proc.Exited() {
			return res, fmt.Errorf("zincsearch exited (%v) with %d of %d searchable:\n%s", z.proc.Err(), got, n, proc.Tail(z.proc.LogPath, 4000))
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("%s: %d of %d documents searchable: %w", pattern, got, n, ctx.Err())
		case <-tick.C:
		}
	}
}

// scrapeAll reads the logtransfer_ series without labels from /metrics.
func scrapeAll(ctx context.Context, hc *http.Client, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, "logtransfer_") || strings.Contains(name, "{") {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out[strings.TrimPrefix(name, "logtransfer_")] = f
		}
	}
	return out, sc.Err()
}

// batchNote summarizes the transfer's batches from its final /metrics: how
// busy the engine was kept is the sum of the batches' index time over
// partitions × span.
func (e *env) batchNote(m map[string]float64, span time.Duration) string {
	if m == nil {
		return "no final /metrics"
	}
	avg, secs := 0.0, 0.0
	if c := m["batch_documents_count"]; c > 0 {
		avg = m["batch_documents_sum"] / c
	}
	if c := m["batch_index_seconds_count"]; c > 0 {
		secs = m["batch_index_seconds_sum"] / c
	}
	return fmt.Sprintf("%.0f bulk requests, %.0f batches of %.0f docs on average, %.3f s per batch on average; a bulk in flight %.0f%% of the time per partition; %.0f docs retried, %.0f dead-lettered",
		m["bulk_requests_total"], m["batch_documents_count"], avg, secs,
		100*m["batch_index_seconds_sum"]/(float64(e.o.partitions)*span.Seconds()), m["documents_retried_total"], m["documents_dead_lettered_total"])
}

// runTransferZinc is the transfer run against a fresh ZincSearch.
func (e *env) runTransferZinc(ctx context.Context) ([]row, error) {
	stopZinc, err := e.freshZinc(ctx, "transfer")
	if err != nil {
		return nil, err
	}
	defer stopZinc()
	z := e.zinc
	r, err := e.runTransfer(ctx, transferSpec{name: "transfer-zinc", esURL: z.url, user: z.user, pass: z.pass, search: z})
	if err != nil {
		return nil, err
	}
	e.samples["transfer"] = e.fetchSamples(ctx, e.topic+"-*")
	n := int64(e.docs)
	start := r.p.Started
	e.note("transfer → zinc: first batch acknowledged %.3f s after exec (%d docs); %s; SIGTERM to exit %.3f s; %d warnings/errors in its log; %d offset polls",
		r.firstAck.Sub(start).Seconds(), r.atFirst, e.batchNote(r.final, r.acked.Sub(start)), r.shutdown.Seconds(), r.warnings, r.polls)
	e.shares = append(e.shares, r.cpuShare)
	e.others["transfer → zinc"] = r.others
	e.engine = append(e.engine, engineCPU{run: "transfer → zinc", docs: n, toAcked: r.zAcked - r.zStart, toEnd: r.srch.zinc - r.zStart,
		ackedSpan: r.acked.Sub(start), endSpan: r.srch.at.Sub(start), searchable: r.srch.count, searchDone: r.srch.done})
	return []row{
		{name: "transfer → zinc, from exec", docs: n, acked: r.acked.Sub(start),
			srchSpan: r.srch.at.Sub(start), srchCount: r.srch.count, srchDone: r.srch.done,
			cpu: r.cpuTotal, rssKiB: r.rssKiB, kind: "start"},
		{name: "transfer → zinc, 1st ack → all", docs: n - r.atFirst, acked: r.acked.Sub(r.firstAck),
			srchSpan: doneSpan(r.srch, r.firstAck), srchCount: n - r.atFirst, srchDone: r.srch.done,
			cpu: r.cpuAcked - r.cpuFirst, rssKiB: r.rssKiB, kind: "first"},
	}, nil
}

// runTransferSink is the transfer run against the instant sink. No Zinc
// runs meanwhile.
func (e *env) runTransferSink(ctx context.Context) ([]row, error) {
	s, err := startSink()
	if err != nil {
		return nil, err
	}
	defer s.close()
	cpu0 := benchkit.SelfCPU()
	r, err := e.runTransfer(ctx, transferSpec{name: "transfer-sink", esURL: s.url})
	if err != nil {
		return nil, err
	}
	sinkCPU := benchkit.SelfCPU() - cpu0
	n := int64(e.docs)
	if got := s.docs.Load(); got != n {
		return nil, fmt.Errorf("the sink answered %d documents, want %d", got, n)
	}
	if u := s.unexpected.Load(); u > 0 {
		e.note("sink: %d unexpected requests (last: %v)", u, s.lastOther.Load())
	}
	start := r.p.Started
	e.shares = append(e.shares, r.cpuShare)
	e.note("transfer → sink: first batch acknowledged %.3f s after exec; %s; the sink saw %d bulk requests, %d template PUTs; this process (sink + polling) used %.2f µs CPU/doc; SIGTERM to exit %.3f s; %d warnings/errors in its log",
		r.firstAck.Sub(start).Seconds(), e.batchNote(r.final, r.acked.Sub(start)), s.requests.Load(), s.templates.Load(),
		benchkit.MicrosEach(sinkCPU, n), r.shutdown.Seconds(), r.warnings)
	return []row{
		{name: "transfer → instant sink, from exec", docs: n, acked: r.acked.Sub(start), cpu: r.cpuTotal, rssKiB: r.rssKiB, kind: "start"},
		{name: "transfer → instant sink, 1st ack → all", docs: n - r.atFirst, acked: r.acked.Sub(r.firstAck),
			cpu: r.cpuAcked - r.cpuFirst, rssKiB: r.rssKiB, kind: "first"},
	}, nil
}

// runBare runs the bare bulk load child into a fresh ZincSearch, index
// namespace bare-{topic}-{date}.
func (e *env) runBare(ctx context.Context) ([]row, error) {
	stopZinc, err := e.freshZinc(ctx, "bare")
	if err != nil {
		return nil, err
	}
	defer stopZinc()
	z := e.zinc
	group := fmt.Sprintf("transferbench-%s-bare", e.runID) // unused: the child reads partitions directly
	cfgPath, err := e.yamlConfig("bare", group, z.url, z.user, z.pass, "bare-{topic}-{date}", "off")
	if err != nil {
		return nil, err
	}
	args := []string{"-child", "bare", "-config", cfgPath}
	if e.o.profileDir != "" {
		args = append(args, "-cpuprofile", filepath.Join(e.o.profileDir, "bare.pprof"))
	}
	logPath := filepath.Join(e.Dir, "bare.log")
	p, err := proc.Start("bare", logPath, proc.Options{Lines: true, Stdin: true}, e.Self, args...)
	if err != nil {
		return nil, err
	}
	fail := func(err error) ([]row, error) {
		_ = p.Stop(syscall.SIGKILL, 5*time.Second)
		return nil, fmt.Errorf("%w\nbare log:\n%s", err, proc.Tail(logPath, 4000))
	}
	next := func(v any) error {
		select {
		case l, ok := <-p.Lines:
			if !ok {
				<-p.Done()
				return fmt.Errorf("bare child exited (%v) early", p.Err())
			}
			return json.Unmarshal([]byte(l), v)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var st bareStart
	if err := next(&st); err != nil {
		return fail(fmt.Errorf("bare child start: %w", err))
	}
	before := e.snap(p)
	var rep bareReport
	if err := next(&rep); err != nil {
		return fail(fmt.Errorf("bare child: %w", err))
	}
	after := e.snap(p) // the child waits for its stdin to close
	hwm := p.PeakRSSSoFar()
	zStart, zAcked := before.zinc, after.zinc
	before.t, after.t = time.Unix(0, st.UnixNano), time.Unix(0, rep.DoneUnixNano)
	desc, others := share("bare", before, after)
	e.shares = append(e.shares, desc)
	e.others["bare"] = others
	p.Stdin.Close()
	if err := p.Stop(0, 30*time.Second); err != nil {
		return fail(fmt.Errorf("bare child exit: %w", err))
	}
	_, rss, err := p.Rusage()
	if err != nil {
		return nil, err
	}
	if hwm > 0 {
		rss = hwm // see runTransfer
	}
	n := int64(e.docs)
	if rep.Docs != n || int64(st.Docs) != n {
		return nil, fmt.Errorf("bare child loaded %d of %d documents (read %d)", rep.Docs, n, st.Docs)
	}
	t0, first, done := time.Unix(0, rep.StartUnixNano), time.Unix(0, rep.FirstAckNano), time.Unix(0, rep.DoneUnixNano)
	srch, err := waitSearchable(ctx, z, "bare-"+e.topic+"-*", n, t0.Add(e.o.searchWait))
	if err != nil {
		return nil, fmt.Errorf("bare: %w", err)
	}
	e.samples["bare"] = e.fetchSamples(ctx, "bare-"+e.topic+"-*")
	e.srcAvg = st.SourceAvg
	e.note("bare: read back and converted %d docs (per partition %v) into %d batches in %.2f s before its clock starts; %d bulk requests, %.3f s per batch on average, slowest %.3f s; a bulk in flight %.0f%% of the time per partition",
		st.Docs, st.PerPart, st.Batches, st.PrepareSec, rep.Requests, float64(rep.BatchNanos)/1e9/float64(rep.Requests), float64(rep.MaxBatchMillis)/1e3,
		100*float64(rep.BatchNanos)/1e9/(float64(len(st.PerPart))*done.Sub(t0).Seconds()))
	e.engine = append(e.engine, engineCPU{run: "bare bulk load", docs: n, toAcked: zAcked - zStart, toEnd: srch.zinc - zStart,
		ackedSpan: done.Sub(t0), endSpan: srch.at.Sub(t0), searchable: srch.count, searchDone: srch.done})
	return []row{
		{name: "bare bulk load → zinc, from 1st bulk", docs: n, acked: done.Sub(t0),
			srchSpan: srch.at.Sub(t0), srchCount: srch.count, srchDone: srch.done,
			cpu: time.Duration(rep.CPUNanos), rssKiB: rss, rssNote: "holds all docs", kind: "start", bare: true},
		{name: "bare bulk load → zinc, 1st ack → all", docs: n - rep.AtFirstAck, acked: done.Sub(first),
			srchSpan: doneSpan(srch, first), srchCount: n - rep.AtFirstAck, srchDone: srch.done,
			cpu: time.Duration(rep.CPUNanos - rep.CPUAtFirstAck), rssKiB: rss, rssNote: "holds all docs", kind: "first", bare: true},
	}, nil
}

// doneSpan is the time from start to every document searchable, 0 (not
// shown) if that did not happen within the search wait.
func doneSpan(s searchResult, start time.Time) time.Duration {
	if !s.done {
		return 0
	}
	return s.at.Sub(start)
}

// fetchSamples reads the _source of the sample ids (those searchable).
func (e *env) fetchSamples(ctx context.Context, pattern string) map[string]string {
	out := map[string]string{}
	for _, id := range e.sampleIDs {
		if src, err := e.zinc.source(ctx, pattern, id); err == nil && src != "" {
			out[id] = src
		}
	}
	return out
}

// compareSamples checks that the transfer and the bare load stored the same
// _source for the sample documents.
func (e *env) compareSamples() {
	a, b := e.samples["transfer"], e.samples["bare"]
	same, diff, missing := 0, 0, 0
	for _, id := range e.sampleIDs {
		sa, okA := a[id]
		sb, okB := b[id]
		switch {
		case !okA || !okB:
			missing++
		case sa == sb:
			same++
		default:
			diff++
			if e.o.verbose {
				e.note("sample %s differs:\n  transfer: %s\n  bare:     %s", id, sa, sb)
			}
		}
	}
	e.note("same _source from the transfer and the bare load for %d of %d sampled ids (%d differ, %d not searchable in one of them)", same, len(e.sampleIDs), diff, missing)
}
