package main

// mutation is one deliberate break of a guarantee: old, which must occur
// exactly once in file, becomes new; the tests matching tests in pkg must
// then fail.
type mutation struct {
	name      string
	guarantee string
	file      string
	old, new  string
	pkg       string
	tests     string // go test -run
	e2e       bool   // the tests need -tags e2e
}

// The agent's unit tests of the tailer: a broken harvester, registry or
// identity shows in them first.
const tailerTests = "TestModel|TestCopy|TestRestart|TestTruncation|TestPartialLine|TestRegistry"

var mutations = []mutation{
	// file → Kafka: at least once.
	{
		name: "registry-moves-on-hand-off", guarantee: "no line lost across kill -9: the registry moves on Kafka's ack",
		file: "agent/harvester.go",
		old:  `	return h.env.sink.Send(ctx, &Batch{Messages: msgs, Bytes: bytes, Ack: ack, Release: release})`,
		new: `	ack()
	return h.env.sink.Send(ctx, &Batch{Messages: msgs, Bytes: bytes, Ack: func() {}, Release: release})`,
		pkg: "./agent", tests: "TestKill9MidStream$", e2e: true,
	},
	{
		name: "shipper-acks-on-hand-off", guarantee: "a batch is acked only when Kafka acknowledged all of it",
		file: "agent/shipper.go",
		old: `	s.metrics.MessagesSent.Add(float64(len(msgs)))
	return nil`,
		new: `	s.metrics.MessagesSent.Add(float64(len(msgs)))
	st.aborted.Store(true)
	st.ack()
	return nil`,
		pkg: "./agent", tests: "TestShipper",
	},
	{
		name: "shipper-drops-failed-messages", guarantee: "a message returned on Errors() is sent again, never dropped",
		file: "agent/retry.go",
		old:  `time.AfterFunc(retryBackoff(st.attempts), func() { s.enqueueRetry(msg) })`,
		new:  `_ = msg`,
		pkg:  "./agent", tests: "TestShipper",
	},
	{
		name: "shipper-acks-aborted-batch", guarantee: "a batch cut short by shutdown is never acked",
		file: "agent/shipper.go",
		old:  `	if !b.aborted.Load() { // part of it was never sent: no ack`,
		new:  `	if true {`,
		pkg:  "./agent", tests: "TestShipper",
	},
	{
		name: "shipper-too-large-is-healable", guarantee: "errors that need an operator are counted as unhealable",
		file: "agent/retry.go",
		old:  `for _, e := range []error{sarama.ErrMessageSizeTooLarge, `,
		new:  `for _, e := range []error{`,
		pkg:  "./agent", tests: "TestShipper",
	},
	{
		name: "watermark-skips-unacked-batches", guarantee: "the registry offset moves over a contiguous run of acked batches only",
		file: "agent/sink.go",
		old:  `for ; i < len(t.pending) && t.pending[i].done; i++ {`,
		new:  `for ; i < len(t.pending) && (t.pending[i].done || i > 0); i++ {`,
		pkg:  "./agent", tests: "TestAckTracker|" + tailerTests,
	},
	{
		name: "watermark-stops-at-first-batch", guarantee: "the watermark reaches the end of the contiguous acked run",
		file: "agent/sink.go",
		old:  `		watermark = t.pending[i].end`,
		new:  `		watermark = t.pending[0].end`,
		pkg:  "./agent", tests: "TestAckTracker|" + tailerTests,
	},
	{
		name: "registry-ack-moves-backwards", guarantee: "an acked offset never moves back",
		file: "agent/registry.go",
		old: `	if offset > e.Offset {
		e.Offset = offset`,
		new: `	if offset != e.Offset {
		e.Offset = offset`,
		pkg: "./agent", tests: tailerTests,
	},
	{
		name: "registry-save-not-renamed", guarantee: "the registry is replaced atomically (temp file, fsync, rename)",
		file: "agent/registry.go",
		old:  `	if err := os.Rename(tmp.Name(), path); err != nil {`,
		new:  `	if err := os.WriteFile(path, data, 0o600); err != nil { // in place: a reader or a crash meanwhile sees half`,
		pkg:  "./agent", tests: tailerTests + "|FuzzOpenRegistry",
	},
	{
		name: "registry-save-skips-fsync", guarantee: "the registry's temp file is fsynced before the rename",
		file: "agent/registry.go",
		old:  `	if err := tmp.Sync(); err != nil {`,
		new:  `	if err := error(nil); err != nil {`,
		pkg:  "./agent", tests: tailerTests,
	},
	{
		name: "registry-null-entry-accepted", guarantee: "a corrupt registry is a clear error, not a crash",
		file: "agent/registry.go",
		old:  `		if e == nil { // "null" in the array`,
		new:  `		if false { // "null" in the array`,
		pkg:  "./agent", tests: "TestRegistry|FuzzOpenRegistry",
	},

	// Same line, same id.
	{
		name: "id-seed-depends-on-time", guarantee: "the same line gets the same id in every process",
		file: "agent/envelope.go",
		old:  `sha256.Sum256([]byte(hostID + "\x00" + origin))`,
		new:  `sha256.Sum256([]byte(hostID + "\x00" + origin + time.Now().String()))`,
		pkg:  "./agent", tests: "TestEventID",
	},
	{
		name: "id-ignores-offset", guarantee: "two lines of one file never share an id",
		file: "agent/envelope.go",
		old:  `binary.BigEndian.PutUint64(in[8:], uint64(offset))`,
		new:  `binary.BigEndian.PutUint64(in[8:], uint64(offset/4096))`,
		pkg:  "./agent", tests: "TestEventID|" + tailerTests,
	},
	{
		name: "id-ignores-host", guarantee: "ids of two hosts' files differ",
		file: "agent/envelope.go",
		old:  `sha256.Sum256([]byte(hostID + "\x00" + origin))`,
		new:  `sha256.Sum256([]byte(origin))`,
		pkg:  "./agent", tests: "TestEventID",
	},
	{
		name: "copy-gets-new-origin", guarantee: "a copy (copytruncate) keeps its original's ids",
		file: "agent/identity.go",
		old:  `copied := reg.attachUnsaved(o.key, o.path, fp, marks, snap.resume())`,
		new:  `copied := reg.attachUnsaved(o.key, o.path, fp, marks, resumePoint{origin: newOriginID(), offset: snap.Offset})`,
		pkg:  "./agent", tests: "TestCopy",
	},
	{
		name: "truncation-not-detected", guarantee: "a truncated file is read again from 0",
		file: "agent/harvester.go",
		old:  `func (h *harvester) shrunk(size int64) bool { return size < min(h.offset, h.filled) }`,
		new:  `func (h *harvester) shrunk(size int64) bool { return size < min(h.offset, h.filled)-1<<20 }`,
		pkg:  "./agent", tests: tailerTests,
	},
	{
		name: "partial-line-shipped", guarantee: "a live file's partial last line waits for its newline",
		file: "agent/harvester.go",
		old:  `	return h.drain(ctx, b, h.grew, cutLines)`,
		new:  `	return h.drain(ctx, b, h.grew, cutFinal)`,
		pkg:  "./agent", tests: "TestPartialLine|TestMultiline",
	},
	{
		name: "syslog-feb29-rolls-over", guarantee: "a line gets no time its stamp does not say",
		file: "agent/timestamp.go",
		old:  `	if t.Day() != stamp.Day() {`,
		new:  `	if false {`,
		pkg:  "./agent", tests: "TestTimestamp|FuzzTimestamp",
	},

	// Kafka → Elasticsearch: at least once; refused documents kept.
	{
		name: "commit-before-index", guarantee: "offsets are committed only after the batch is stored",
		file: "transfer/consumer.go",
		old: `	start := time.Now()
	stats, err := t.policy.IndexBatch(`,
		new: `	c.sess.MarkMessage(c.msgs[len(c.msgs)-1], "")
	c.h.requestCommit()
	start := time.Now()
	stats, err := t.policy.IndexBatch(`,
		pkg: "./transfer", tests: "TestSearchEngineOutage", e2e: true,
	},
	{
		name: "document-error-retried", guarantee: "a per-item 400 about the document is dead-lettered, the rest indexed",
		file: "transfer/classify.go",
		old: `	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return OutcomeDeadLetter`,
		new: `	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return OutcomeRetry`,
		pkg: "./transfer", tests: "TestClassify|TestIndexBatch",
	},
	{
		name: "throttled-item-dead-lettered", guarantee: "429 and 5xx items are retried, never dead-lettered",
		file: "transfer/classify.go",
		old: `		return OutcomeIndexed // a success with an unknown type field: trust the status
	}
	return OutcomeRetry`,
		new: `		return OutcomeIndexed // a success with an unknown type field: trust the status
	}
	return OutcomeDeadLetter`,
		pkg: "./transfer", tests: "TestClassify|TestIndexBatch",
	},
	{
		name: "mapper-error-type-retried", guarantee: "a known document error type is dead-lettered whatever its status",
		file: "transfer/classify.go",
		old: `	if documentTypes[r.Type] {
		return OutcomeDeadLetter
	}`,
		new: `	if documentTypes[r.Type] {
		return OutcomeRetry
	}`,
		pkg: "./transfer", tests: "TestClassify|TestIndexBatch",
	},
	{
		name: "write-index-error-dead-lettered", guarantee: "index-level illegal_argument errors are retried",
		file: "transfer/classify.go",
		old:  `	if retryableTypes[r.Type] || indexLevelReason(r) {`,
		new:  `	if retryableTypes[r.Type] {`,
		pkg:  "./transfer", tests: "TestClassify|TestIndexBatch",
	},
	{
		name: "too-large-request-not-split", guarantee: "a 413 request is split, a single too-large document dead-lettered",
		file: "transfer/classify.go",
		old: `	case http.StatusRequestEntityTooLarge:
		return SplitRequest, false`,
		new: `	case http.StatusRequestEntityTooLarge:
		return RetryRequest, false`,
		pkg: "./transfer", tests: "TestClassify|TestIndexBatch",
	},
	{
		name: "auth-failure-not-loud", guarantee: "a request failing on credentials is retried as needing an operator",
		file: "transfer/classify.go",
		old:  `return RetryRequest, !retryableTypes[re.Type] || re.Type == "security_exception"`,
		new:  `return RetryRequest, false`,
		pkg:  "./transfer", tests: "TestClassify|TestZincBasicAuth",
	},
	{
		name: "missing-items-not-split", guarantee: "a batch losing items is split until the poison document is alone",
		file: "transfer/indexbatch.go",
		old:  `			next = append(next, group{docs: rest[:h]}, group{docs: rest[h:]})`,
		new: `			next = append(next, group{docs: rest, attempt: 1})
			_ = h`,
		pkg: "./transfer", tests: "TestIndexBatch",
	},
	{
		name: "missing-document-dropped", guarantee: "a document that keeps going missing is dead-lettered, not dropped",
		file: "transfer/indexbatch.go",
		old:  `				dead = append(dead, DeadLetter{Doc: docs[i], Type: "missing_from_bulk_response", Reason: reason})`,
		new:  `				_ = reason`,
		pkg:  "./transfer", tests: "TestIndexBatch",
	},
	{
		name: "dead-letter-write-failure-ignored", guarantee: "if the DLQ write fails, nothing is committed and it is retried",
		file: "transfer/indexbatch.go",
		old: `		err := dlq.Write(ctx, dead)
		if err == nil {`,
		new: `		err := dlq.Write(ctx, dead)
		if true {`,
		pkg: "./transfer", tests: "TestIndexBatch",
	},
	{
		name: "retry-gives-up", guarantee: "whole-request failures are retried until the context ends",
		file: "transfer/indexbatch.go",
		old: `				st.Retries += len(g.docs)
				queue = append([]group{{docs: g.docs, attempt: g.attempt + 1, probe: failure == WaitForEngine}}, queue...)`,
		new: `				st.Retries += len(g.docs)
				if g.attempt < 2 {
					queue = append([]group{{docs: g.docs, attempt: g.attempt + 1, probe: failure == WaitForEngine}}, queue...)
				}`,
		pkg: "./transfer", tests: "TestIndexBatch",
	},

	// The collect config: validated strictly.
	{
		name: "validator-accepts-relative-path", guarantee: "a collect entry's path must be absolute",
		file: "collect/schema.go",
		old:  `	case !filepath.IsAbs(e.Path):`,
		new:  `	case false:`,
		pkg:  "./collect", tests: "TestParseCollectConfig|FuzzParseCollectConfig",
	},
	{
		name: "validator-accepts-bad-topic", guarantee: "a collect entry's topic must be a valid Kafka topic name",
		file: "collect/schema.go",
		old:  `		if err := conf.ValidateTopicName(e.Topic); err != nil {`,
		new:  `		if err := conf.ValidateTopicName("web_log"); err != nil {`,
		pkg:  "./collect", tests: "TestParseCollectConfig|FuzzParseCollectConfig",
	},
	{
		name: "validator-accepts-unknown-fields", guarantee: "unknown or wrongly-cased fields are errors",
		file: "collect/schema.go",
		old:  `	msgs := checkKeys(raw, entryFields, "")`,
		new:  `	var msgs []string`,
		pkg:  "./collect", tests: "TestParseCollectConfig|FuzzParseCollectConfig",
	},
	{
		name: "validator-accepts-tiny-max-line", guarantee: "max_line_bytes is 0 or at least 64",
		file: "collect/schema.go",
		old:  `	if e.MaxLineBytes != 0 && e.MaxLineBytes < MinMaxLineBytes {`,
		new:  `	if e.MaxLineBytes < 0 {`,
		pkg:  "./collect", tests: "TestParseCollectConfig|FuzzParseCollectConfig",
	},
	{
		name: "validator-accepts-trailing-data", guarantee: "data after the array is an error",
		file: "collect/schema.go",
		old:  `	if err := dec.Decode(&extra); err != io.EOF {`,
		new:  `	if err := dec.Decode(&extra); err != io.EOF && false {`,
		pkg:  "./collect", tests: "TestParseCollectConfig|FuzzParseCollectConfig",
	},
	{
		name: "agent-applies-rejected-config", guarantee: "a rejected config keeps the last good one running",
		file: "collect/stack.go",
		old: `		entries, err := parseVersion(v)
		if err != nil {`,
		new: `		entries, err := parseVersion(v)
		if err != nil && false {`,
		pkg: "./agent", tests: "TestLiveConfigChanges", e2e: true,
	},
	// Layers of collect config.
	{
		name: "merge-ignores-disabled", guarantee: "disabled: true removes an inherited entry",
		file: "collect/layers.go",
		old:  `			case e.Disabled && at >= 0:`,
		new:  `			case e.Disabled && at >= 0 && false:`,
		pkg:  "./agent", tests: "TestFleetLayers", e2e: true,
	},
	{
		name: "merge-failure-rejects-every-layer", guarantee: "a layer that fails does not hold back the others",
		file: "collect/stack.go",
		old: `		last := cands[len(cands)-1]
		cands = cands[:len(cands)-1]`,
		new: `		last := cands[len(cands)-1]
		for _, c := range cands[:len(cands)-1] {
			rejected = append(rejected, s.reject(c.at, c.v, err.Error()))
		}
		cands = nil`,
		pkg: "./collect", tests: "TestStack",
	},
	{
		name: "cache-keeps-the-host-layer-only", guarantee: "a start with etcd down runs every cached layer",
		file: "agent/config.go",
		old:  `	for _, v := range c.stack.InForce() {`,
		new:  `	for _, v := range c.stack.InForce()[len(c.stack.InForce())-1:] {`,
		pkg:  "./agent", tests: "TestFleetLayers", e2e: true,
	},
	// Edge filters: a dropped event is never shipped, and its bytes count as done.
	{
		name: "filtered-burst-not-acknowledged", guarantee: "a batch of nothing but dropped events moves the file's offset",
		file: "agent/harvester.go",
		old:  `	if len(b.msgs) == 0 && !b.skipped {`,
		new:  `	if len(b.msgs) == 0 {`,
		pkg:  "./agent", tests: "TestLineFilters",
	},
	{
		name: "exclude-lines-ignored", guarantee: "exclude_lines drops the events it matches",
		file: "collect/schema.go",
		old:  `	if matchesAny(e.exclude, event) {`,
		new:  `	if false {`,
		pkg:  "./agent", tests: "TestLineFilters|TestEdgeFiltersLive", e2e: true,
	},
	{
		name: "ignore-older-ignored", guarantee: "a file first seen unchanged for ignore_older is registered at its end",
		file: "agent/manager.go",
		old:  `	if d := in.entry.IgnoreOlderDuration(); d > 0 && m.env.now().Sub(fi.ModTime()) > d {`,
		new:  `	if d := in.entry.IgnoreOlderDuration(); d < 0 {`,
		pkg:  "./agent", tests: "TestIgnoreOlder",
	},
	// Pipelines: a failing step never loses the event.
	{
		name: "failed-step-drops-the-event", guarantee: "a failing pipeline step tags the event, which is indexed",
		file: "transfer/pipeline/pipeline.go",
		old: `		if err != nil {
			return fail(ev, c, err)
		}
	}`,
		new: `		if err != nil {
			return Result{Dropped: c.name}
		}
	}`,
		pkg: "./transfer/...", tests: "TestFailingStep|TestGrokPipeline", e2e: true,
	},
	{
		name: "pipeline-drop-not-committed", guarantee: "a dropped document's offset commits with its batch",
		file: "transfer/consumer.go",
		old:  `			continue // done: its offset is marked with the batch's`,
		new:  `			return nil // the batch is left unmarked`,
		pkg:  "./transfer", tests: "TestGrokPipeline", e2e: true,
	},
	// logctl trace and tail tell the truth.
	{
		name: "trace-wrong-partition", guarantee: "trace looks in the partition the agent's key hashes to",
		file: "ctl/trace.go",
		old:  `	p := int32(h.Sum32()) % int32(partitions)`,
		new:  `	p := int32(h.Sum32()+1) % int32(partitions)`,
		pkg:  "./ctl", tests: "TestTraceHelpers",
	},
	{
		name: "tail-ignores-host", guarantee: "logctl tail --host shows only that host's lines",
		file: "ctl/tail.go",
		old:  `	if opt.Host != "" && l.Host != opt.Host {`,
		new:  `	if false {`,
		pkg:  "./ctl", tests: "TestTailLines",
	},
	{
		name: "delay-not-measured", guarantee: "every stored document's end-to-end delay is measured",
		file: "transfer/consumer.go",
		old:  `		if rt := docs[i].ReadTime; !rt.IsZero() {`,
		new:  `		if rt := docs[i].ReadTime; false && !rt.IsZero() {`,
		pkg:  "./transfer", tests: "TestPipelineEndToEnd$", e2e: true,
	},
	// Memory follows the work in flight, not the number of files.
	{
		name: "read-buffers-uncapped", guarantee: "at most a quarter of max_bytes_in_flight is read buffers",
		file: "agent/readbuf.go",
		old:  `semaphore.NewWeighted(max(minReadSlots, maxBytesInFlight/(4*readBufferSize)))`,
		new:  `semaphore.NewWeighted(1 << 30)`,
		pkg:  "./agent", tests: "TestReadBuffersAreCapped",
	},
	{
		name: "idle-file-keeps-its-buffer", guarantee: "an idle file with a partial line gives its read slot back",
		file: "agent/readbuf.go",
		old:  `	case h.w-h.r <= readBufferSize/2:`,
		new:  `	case false:`,
		pkg:  "./agent", tests: "TestIdleFilesWithAPartialLine",
	},
	{
		name: "send-slab-full-size", guarantee: "a batch's producer messages are sized to the batch",
		file: "agent/shipper.go",
		old:  `	c := sizeClass(n)`,
		new:  `	c := max(sizeClass(n), batchMaxLines)`,
		pkg:  "./agent", tests: "TestSendSlab|TestManyOpenFiles",
	},
	{
		name: "sarama-sleeps-between-retries", guarantee: "the agent resumes within a probe of the brokers' return",
		file: "agent/shipper.go",
		old:  `	cfg.Producer.Retry.Backoff = 0`,
		new:  `	cfg.Producer.Retry.Backoff = 100 * time.Millisecond`,
		pkg:  "./agent", tests: "TestShipperLeaves",
	},
	{
		name: "producer-not-renewed", guarantee: "after an outage a fresh producer sends, not one whose circuit breakers are open",
		file: "agent/retry.go",
		old: `		s.renew()
		s.down.Store(false)`,
		new: `		s.down.Store(false)`,
		pkg: "./agent", tests: "TestBrokerOutage$", e2e: true,
	},
}
