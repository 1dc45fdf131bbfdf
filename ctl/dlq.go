package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/wire"
)

// DLQOptions are the settings of logctl dlq ls and logctl dlq replay.
type DLQOptions struct {
	// Kafka is the transfer config's kafka section (conf.LoadTransfer), so
	// the commands reach Kafka with the transfer's TLS and SASL settings.
	// Unset version and idempotent take the conf defaults; client_id
	// defaults to logctl.
	Kafka conf.Kafka
	// Topic is the dead-letter topic to read, e.g. web_log-dlq. Required.
	Topic string
	// To is where replay sends the messages; empty (the default) sends each
	// one back to the topic named by its source.topic header.
	To string
	// Limit is the most messages listed or replayed, taken partition by
	// partition in offset order; 0 means all.
	Limit int
	// FromOffsets starts reading partition p at FromOffsets[p] instead of at
	// its oldest offset. An interrupted replay prints the value to resume
	// with (see ReplayError); ParseOffsets reads that "0=120,2=7" form.
	// Offsets below a partition's oldest are raised to it (retention has
	// deleted those messages); partitions not listed start at their oldest.
	FromOffsets map[int32]int64
	// DryRun makes replay read and check everything and print what it would
	// send, producing nothing.
	DryRun bool
}

// DLQEntry is one dead letter as logctl dlq ls -o json prints it.
type DLQEntry struct {
	// Partition and Offset locate the message in the dead-letter topic.
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
	// Timestamp is the record's Kafka timestamp: when it was dead-lettered.
	Timestamp time.Time `json:"timestamp"`
	// Key is the original message key, escaped for display.
	Key string `json:"key,omitempty"`
	// SourceTopic, SourcePartition and SourceOffset are where the transfer
	// read the original; the numbers are absent when the headers are.
	SourceTopic     string `json:"source_topic"`
	SourcePartition *int32 `json:"source_partition,omitempty"`
	SourceOffset    *int64 `json:"source_offset,omitempty"`
	// ErrorType and ErrorReason are the engine's (or the transfer's) refusal.
	ErrorType   string `json:"error_type"`
	ErrorReason string `json:"error_reason"`
	// Preview is the start of the envelope's message field when the value is
	// an envelope, else of the value itself, with control characters and
	// invalid UTF-8 escaped so it cannot garble a terminal.
	Preview string `json:"preview"`
}

// Display limits, in runes. The table keeps one dead letter per line; JSON
// output is for scripts and keeps the whole reason (the transfer already
// caps it at 2 KiB).
const (
	tableReasonRunes  = 60
	tablePreviewRunes = 40
	jsonPreviewRunes  = 200
	// tableFlushRows bounds what tabwriter buffers for a long listing; the
	// column widths may differ from one block of rows to the next.
	tableFlushRows = 500
)

// DLQList writes the dead letters of opt.Topic to w: a table with the reason
// and message cut to fit one line, followed by a count, or with jsonOut a
// JSON array of DLQEntry (an empty DLQ is []). opt.Limit and
// opt.FromOffsets apply; To and DryRun do not.
//
// It reads every partition from its oldest offset (or opt.FromOffsets) up
// to the high-water mark it saw at the start, so it ends even while the
// transfer keeps dead-lettering. It joins no consumer group and commits
// nothing, so running it changes nothing.
func DLQList(ctx context.Context, opt DLQOptions, w io.Writer, jsonOut bool) error {
	d, err := openDLQ(opt)
	if err != nil {
		return err
	}
	defer d.close()
	out := newTableLister(w, opt.Topic)
	if jsonOut {
		out = newJSONLister(w)
	}
	listed := 0
	err = d.read(ctx, opt.Limit, func(m *sarama.ConsumerMessage) error {
		listed++
		return out.add(m)
	})
	if err != nil {
		return err
	}
	if err := out.finish(listed, d.total()); err != nil {
		return fmt.Errorf("write dead-letter list: %w", err)
	}
	return nil
}

// DLQReplay re-publishes the dead letters of opt.Topic to opt.To, or to each
// message's source.topic, with the original key, value and headers (the
// DLQ's error.* and source.* headers removed) and the dead-letter record's
// timestamp (close to the original's, so a raw line without @timestamp
// lands in the same day's index). It returns how many were acknowledged; a
// dry run returns how many it would send.
//
// It reads up to the high-water marks seen at the start: documents the
// engine refuses again are dead-lettered behind them and wait for the next
// replay instead of looping.
//
// Before producing anything it checks that every message has a destination
// and that the destination topics exist, so a bad message stops the whole
// replay rather than leaving it half done: a message without source.topic
// when opt.To is empty is an error naming its partition and offset (replay
// it with To). Without To that check reads the topic once more before
// sending. It produces with acks=all and the idempotent producer, in
// batches, waiting for every ack; sarama's producer takes no context, so
// its timeouts and retries bound a send. When a send fails it returns a
// *ReplayError with the count acknowledged and the offsets to resume from
// (opt.FromOffsets).
//
// Replaying a message twice, whether by running replay again or by resuming
// after a failure, writes it to Kafka twice, but Elasticsearch keeps one
// document: the transfer takes the document id from the event.id header (or
// the envelope's event.id), which the replayed message keeps, so the second
// copy overwrites the first. Only messages carrying neither (not written by
// the agent) get a new topic-partition-offset id per copy.
//
// The dead-letter topic itself is left as it is: Kafka retention removes
// replayed messages.
func DLQReplay(ctx context.Context, opt DLQOptions, w io.Writer) (replayed int, err error) {
	if opt.To != "" && opt.To == opt.Topic {
		return 0, fmt.Errorf("replay %s: the destination is the dead-letter topic itself", opt.Topic)
	}
	d, err := openDLQ(opt)
	if err != nil {
		return 0, err
	}
	defer d.close()

	// With To set only a dry run needs the extra pass: there is nothing
	// to check per message.
	var plan replayPlan
	if opt.To == "" || opt.DryRun {
		if plan, err = d.planReplay(ctx, opt, w); err != nil {
			return 0, err
		}
	}
	dests := slices.Sorted(maps.Keys(plan.counts))
	if opt.To != "" {
		dests = []string{opt.To} // checked even when there is nothing to send
	}
	if err := d.requireTopics(dests...); err != nil {
		return 0, fmt.Errorf("replay %s: destination: %w", opt.Topic, err)
	}
	if opt.DryRun {
		return plan.total, printDryRun(w, opt, plan)
	}
	return d.replay(ctx, opt, w)
}

// dlq is an open dead-letter topic: a client and the offset ranges captured
// when it was opened.
type dlq struct {
	client sarama.Client
	topic  string
	spans  []span
}

// span is the part of one partition a command reads: offsets [from, end),
// end being the high-water mark when the command started.
type span struct {
	partition int32
	from, end int64
}

func openDLQ(opt DLQOptions) (*dlq, error) {
	if opt.Topic == "" {
		return nil, errors.New("dlq: no dead-letter topic given")
	}
	cfg, err := saramaConfig(opt.Kafka)
	if err != nil {
		return nil, err
	}
	client, err := sarama.NewClient(opt.Kafka.Brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to kafka %v: %w", opt.Kafka.Brokers, err)
	}
	d := &dlq{client: client, topic: opt.Topic}
	if err := d.requireTopics(opt.Topic); err != nil {
		d.close()
		return nil, fmt.Errorf("dead-letter %w", err)
	}
	if d.spans, err = d.captureSpans(opt.FromOffsets); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

func (d *dlq) close() { _ = d.client.Close() }

// saramaConfig is the transfer's client config plus what these commands
// need: replay always produces with acks=all and idempotence, whatever the
// transfer's producer settings.
func saramaConfig(k conf.Kafka) (*sarama.Config, error) {
	if len(k.Brokers) == 0 {
		return nil, errors.New("kafka: no broker addresses")
	}
	// Settings from flags (or a test) have no defaults yet; a transfer.yaml's
	// have them all, and keep its client id.
	k.SetDefaults("logctl")
	cfg, err := k.Sarama()
	if err != nil {
		return nil, err
	}
	// A mistyped --topic or --to must be an error, not a new empty topic.
	cfg.Metadata.AllowAutoTopicCreation = false
	cfg.Consumer.Return.Errors = true
	// Reads end at offsets known in advance, so a long poll for new data
	// (default 500 ms) would only delay closing the consumer.
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1 // required by the idempotent producer
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	// The agent's partitioner: a keyed message goes back to the partition it
	// came from (while the partition count is unchanged).
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	return cfg, nil
}

// requireTopics fails unless every topic exists. It asks for the full topic
// list because a metadata request for one unknown topic is retried by
// sarama before it gives up.
func (d *dlq) requireTopics(topics ...string) error { return requireTopics(d.client, topics...) }

func requireTopics(client sarama.Client, topics ...string) error {
	if err := client.RefreshMetadata(); err != nil {
		return fmt.Errorf("kafka metadata: %w", err)
	}
	have, err := client.Topics()
	if err != nil {
		return fmt.Errorf("kafka metadata: %w", err)
	}
	for _, t := range topics {
		if !slices.Contains(have, t) {
			return fmt.Errorf("topic %q does not exist", t)
		}
	}
	return nil
}

// captureSpans reads each partition's oldest offset and high-water mark.
func (d *dlq) captureSpans(from map[int32]int64) ([]span, error) {
	parts, err := d.client.Partitions(d.topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", d.topic, err)
	}
	slices.Sort(parts)
	for p := range from {
		if !slices.Contains(parts, p) {
			return nil, fmt.Errorf("from offsets: %s has no partition %d (it has %d)", d.topic, p, len(parts))
		}
	}
	spans := make([]span, 0, len(parts))
	for _, p := range parts {
		oldest, err := d.client.GetOffset(d.topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, fmt.Errorf("oldest offset of %s partition %d: %w", d.topic, p, err)
		}
		end, err := d.client.GetOffset(d.topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("high-water mark of %s partition %d: %w", d.topic, p, err)
		}
		start := oldest
		if o, ok := from[p]; ok {
			start = min(max(o, oldest), end)
		}
		spans = append(spans, span{partition: p, from: start, end: end})
	}
	return spans, nil
}

// total is the number of messages in the captured ranges.
func (d *dlq) total() int64 {
	var n int64
	for _, s := range d.spans {
		n += s.end - s.from
	}
	return n
}

// errLimit stops a read once the limit is reached; read does not return it.
var errLimit = errors.New("limit reached")

// read calls fn with each message of the captured ranges, partition by
// partition in offset order, at most limit times (0: no limit). An error
// from fn ends the read and is returned as is.
func (d *dlq) read(ctx context.Context, limit int, fn func(*sarama.ConsumerMessage) error) error {
	consumer, err := sarama.NewConsumerFromClient(d.client)
	if err != nil {
		return fmt.Errorf("read %s: %w", d.topic, err)
	}
	defer func() { _ = consumer.Close() }()
	n := 0
	counted := func(m *sarama.ConsumerMessage) error {
		if limit > 0 && n >= limit {
			return errLimit
		}
		n++
		return fn(m)
	}
	pcs, err := d.subscribe(consumer)
	if err != nil {
		return err
	}
	defer closeAll(pcs)
	for i, s := range d.spans {
		if pcs[i] == nil {
			continue // nothing to read
		}
		if limit > 0 && n >= limit {
			return nil
		}
		err := d.readSpan(ctx, pcs[i], s, counted)
		if errors.Is(err, errLimit) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// subscribe starts a partition consumer for each span with messages (nil
// for the others). All start up front because sarama delays each new
// subscription by up to 100 ms and closing waits for the fetch in flight:
// paid once, not once per partition. A partition not yet read buffers at
// most Consumer.ChannelBufferSize messages; sarama pauses its fetching
// beyond that.
func (d *dlq) subscribe(consumer sarama.Consumer) ([]sarama.PartitionConsumer, error) {
	pcs := make([]sarama.PartitionConsumer, len(d.spans))
	for i, s := range d.spans {
		if s.from >= s.end {
			continue
		}
		pc, err := consumer.ConsumePartition(d.topic, s.partition, s.from)
		if err != nil {
			closeAll(pcs)
			return nil, fmt.Errorf("read %s partition %d from offset %d: %w", d.topic, s.partition, s.from, err)
		}
		pcs[i] = pc
	}
	return pcs, nil
}

// closeAll stops every partition consumer first and then waits for each,
// so their shutdowns overlap.
func closeAll(pcs []sarama.PartitionConsumer) {
	for _, pc := range pcs {
		if pc != nil {
			pc.AsyncClose()
		}
	}
	for _, pc := range pcs {
		if pc != nil {
			_ = pc.Close() // errors that matter were returned by readSpan
		}
	}
}

// readSpan reads one partition until the message just below the captured
// high-water mark. The transfer's dead-letter topic is neither compacted
// nor transactional, so every offset below it holds a message; were one
// missing at the very end, ctx bounds the wait.
func (d *dlq) readSpan(ctx context.Context, pc sarama.PartitionConsumer, s span, fn func(*sarama.ConsumerMessage) error) error {
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("read %s partition %d: %w", d.topic, s.partition, ctx.Err())
		case cerr := <-pc.Errors():
			return fmt.Errorf("read %s partition %d: %w", d.topic, s.partition, cerr.Err)
		case m := <-pc.Messages():
			if m.Offset >= s.end {
				return nil // written after the start; a gap hid the last offset
			}
			if err := fn(m); err != nil {
				return err
			}
			if m.Offset+1 >= s.end {
				return nil
			}
		}
	}
}

// dlqEntry decodes a dead letter for listing.
func dlqEntry(m *sarama.ConsumerMessage, previewRunes int) DLQEntry {
	e := DLQEntry{
		Partition:   m.Partition,
		Offset:      m.Offset,
		Timestamp:   m.Timestamp.UTC(),
		Key:         escapeLine(m.Key, 0),
		SourceTopic: lastHeader(m, wire.HeaderSourceTopic),
		ErrorType:   lastHeader(m, wire.HeaderErrorType),
		ErrorReason: lastHeader(m, wire.HeaderErrorReason),
		Preview:     valuePreview(m.Value, previewRunes),
	}
	if p, err := strconv.ParseInt(lastHeader(m, wire.HeaderSourcePartition), 10, 32); err == nil {
		p32 := int32(p)
		e.SourcePartition = &p32
	}
	if o, err := strconv.ParseInt(lastHeader(m, wire.HeaderSourceOffset), 10, 64); err == nil {
		e.SourceOffset = &o
	}
	return e
}

// lastHeader returns the last value of the header key; the transfer appends its
// own after the original's, so the last is the dead-letter one.
func lastHeader(m *sarama.ConsumerMessage, key string) string {
	v := ""
	for _, h := range m.Headers {
		if h != nil && string(h.Key) == key {
			v = string(h.Value)
		}
	}
	return v
}

// valuePreview is the start of the envelope's message field, or of the value
// when it is not an envelope (a raw line, or something else entirely).
func valuePreview(value []byte, runes int) string {
	var env struct {
		Message *string `json:"message"`
	}
	if json.Unmarshal(value, &env) == nil && env.Message != nil {
		return escapeLine([]byte(*env.Message), runes)
	}
	return escapeLine(value, runes)
}

// escapeLine makes b safe to print on one terminal line: control and other
// non-printing characters become Go escapes (\n, \x1b, \u200b), invalid
// UTF-8 bytes \xNN. With runes > 0 it keeps that many runes of b and marks
// a cut with "…".
func escapeLine(b []byte, runes int) string {
	var sb strings.Builder
	for n := 0; len(b) > 0; n++ {
		if runes > 0 && n == runes {
			sb.WriteString("…")
			break
		}
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&sb, `\x%02x`, b[0])
		case unicode.IsPrint(r):
			sb.WriteRune(r)
		default:
			q := strconv.QuoteRuneToASCII(r)
			sb.WriteString(q[1 : len(q)-1])
		}
		b = b[size:]
	}
	return sb.String()
}

// lister writes ls output one message at a time.
type lister interface {
	add(m *sarama.ConsumerMessage) error
	finish(listed int, total int64) error
}

type tableLister struct {
	w     io.Writer
	tw    *tabwriter.Writer
	topic string
	rows  int
}

func newTableLister(w io.Writer, topic string) lister {
	return &tableLister{w: w, tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0), topic: topic}
}

func (t *tableLister) add(m *sarama.ConsumerMessage) error {
	if t.rows%tableFlushRows == 0 {
		if err := t.tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(t.tw, "PARTITION\tOFFSET\tTIME\tSOURCE\tERROR\tREASON\tMESSAGE")
	}
	t.rows++
	e := dlqEntry(m, tablePreviewRunes)
	_, err := fmt.Fprintf(t.tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", e.Partition, e.Offset,
		e.Timestamp.Format(time.RFC3339), sourceColumn(e), orDash(escapeLine([]byte(e.ErrorType), 0)),
		orDash(escapeLine([]byte(e.ErrorReason), tableReasonRunes)), e.Preview)
	return err
}

func (t *tableLister) finish(listed int, total int64) error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	var err error
	if total == 0 {
		_, err = fmt.Fprintf(t.w, "no dead letters in %s\n", t.topic)
	} else {
		_, err = fmt.Fprintf(t.w, "%d of %d dead letters in %s\n", listed, total, t.topic)
	}
	return err
}

// sourceColumn is topic/partition/offset, with - for what a header did not say.
func sourceColumn(e DLQEntry) string {
	p, o := "-", "-"
	if e.SourcePartition != nil {
		p = strconv.Itoa(int(*e.SourcePartition))
	}
	if e.SourceOffset != nil {
		o = strconv.FormatInt(*e.SourceOffset, 10)
	}
	return orDash(escapeLine([]byte(e.SourceTopic), 0)) + "/" + p + "/" + o
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// jsonLister streams a JSON array, so a long listing is not held in memory.
type jsonLister struct {
	w     io.Writer
	count int
}

func newJSONLister(w io.Writer) lister { return &jsonLister{w: w} }

func (j *jsonLister) add(m *sarama.ConsumerMessage) error {
	b, err := json.Marshal(dlqEntry(m, jsonPreviewRunes))
	if err != nil {
		return fmt.Errorf("encode dead letter %d/%d: %w", m.Partition, m.Offset, err)
	}
	sep := ",\n"
	if j.count == 0 {
		sep = "[\n"
	}
	j.count++
	_, err = fmt.Fprintf(j.w, "%s%s", sep, b)
	return err
}

func (j *jsonLister) finish(int, int64) error {
	end := "\n]\n"
	if j.count == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(j.w, end)
	return err
}

// replayPlan is what the checking pass found: messages per destination topic.
type replayPlan struct {
	counts map[string]int
	total  int
}

// planReplay reads the messages once without producing: it fails on the
// first one without a destination, so that nothing is sent at all rather
// than part of the topic. A dry run also prints each message here.
func (d *dlq) planReplay(ctx context.Context, opt DLQOptions, w io.Writer) (replayPlan, error) {
	plan := replayPlan{counts: map[string]int{}}
	err := d.read(ctx, opt.Limit, func(m *sarama.ConsumerMessage) error {
		to, err := replayDestination(m, opt.To)
		if err != nil {
			return err
		}
		plan.counts[to]++
		plan.total++
		if opt.DryRun {
			_, err = fmt.Fprintf(w, "would replay %s %d/%d to %s (%d bytes, %d headers)\n",
				m.Topic, m.Partition, m.Offset, escapeLine([]byte(to), 0), len(m.Value), len(wire.OriginalHeaders(m.Headers, 0)))
		}
		return err
	})
	return plan, err
}

// replayDestination is to, or the message's source.topic.
func replayDestination(m *sarama.ConsumerMessage, to string) (string, error) {
	if to != "" {
		return to, nil
	}
	if src := lastHeader(m, wire.HeaderSourceTopic); src != "" {
		return src, nil
	}
	return "", fmt.Errorf("replay %s: partition %d offset %d has no %s header; nothing was replayed (choose a destination with --to)",
		m.Topic, m.Partition, m.Offset, wire.HeaderSourceTopic)
}

func printDryRun(w io.Writer, opt DLQOptions, plan replayPlan) error {
	_, err := fmt.Fprintf(w, "dry run: would replay %d messages from %s to %s; nothing was produced\n",
		plan.total, opt.Topic, describeDestinations(plan.counts))
	return err
}

// describeDestinations describes where messages went: "web_log (3), nginx (1)".
func describeDestinations(counts map[string]int) string {
	if len(counts) == 0 {
		return "no topic"
	}
	parts := make([]string, 0, len(counts))
	for _, t := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s (%d)", t, counts[t]))
	}
	return strings.Join(parts, ", ")
}

// replayMessage rebuilds the original message. Metadata carries the DLQ
// partition and offset, so a failed send can name where to resume.
func replayMessage(m *sarama.ConsumerMessage, to string) *sarama.ProducerMessage {
	pm := &sarama.ProducerMessage{
		Topic:     to,
		Headers:   wire.OriginalHeaders(m.Headers, 0),
		Timestamp: m.Timestamp,
		Metadata:  dlqOffset{m.Partition, m.Offset},
	}
	if m.Key != nil {
		pm.Key = sarama.ByteEncoder(m.Key)
	}
	if m.Value != nil {
		pm.Value = sarama.ByteEncoder(m.Value)
	}
	return pm
}

// Replay batches bound memory (a message can be up to max_message_bytes)
// while keeping round trips few: each batch waits for all its acks.
const (
	replayBatchMessages = 500
	replayBatchBytes    = 8 << 20
)

// ReplayError is a failed replay: how far it got and where to resume.
type ReplayError struct {
	// Topic is the dead-letter topic.
	Topic string
	// Replayed is the number of messages acknowledged before the failure.
	Replayed int
	// Resume is DLQOptions.FromOffsets for a replay that continues where
	// this one stopped: each partition's first offset not yet replayed.
	Resume map[int32]int64
	Err    error
}

func (e *ReplayError) Error() string {
	return fmt.Sprintf("replay %s: %d messages replayed, then: %v; resume with --from-offsets %s "+
		"(messages after the resume point that did get through will be sent again)",
		e.Topic, e.Replayed, e.Err, FormatOffsets(e.Resume))
}

func (e *ReplayError) Unwrap() error { return e.Err }

// replayer sends one partition's messages at a time, in batches.
type replayer struct {
	producer sarama.SyncProducer
	topic    string
	next     map[int32]int64 // per partition, the first offset not yet acknowledged
	counts   map[string]int
	replayed int
	batch    []*sarama.ProducerMessage
	bytes    int
}

func (d *dlq) replay(ctx context.Context, opt DLQOptions, w io.Writer) (int, error) {
	producer, err := sarama.NewSyncProducerFromClient(d.client)
	if err != nil {
		return 0, fmt.Errorf("replay %s: start producer: %w", d.topic, err)
	}
	r := &replayer{producer: producer, topic: d.topic, next: map[int32]int64{}, counts: map[string]int{}}
	for _, s := range d.spans {
		r.next[s.partition] = s.from
	}
	err = d.read(ctx, opt.Limit, func(m *sarama.ConsumerMessage) error {
		return r.add(ctx, m, opt.To)
	})
	var rerr *ReplayError
	switch {
	case err == nil:
		err = r.flush()
	case !errors.As(err, &rerr) && r.replayed > 0:
		err = r.fail(err) // a read failure after some were sent: say where to resume
	}
	if cerr := producer.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("replay %s: close producer: %w", d.topic, cerr)
	}
	if err != nil {
		return r.replayed, err
	}
	return r.replayed, r.summary(w, d.spans)
}

func (r *replayer) add(ctx context.Context, m *sarama.ConsumerMessage, to string) error {
	// A batch holds one partition, so a failure has one resume offset.
	if len(r.batch) > 0 && r.batch[0].Metadata.(dlqOffset).partition != m.Partition {
		if err := r.flush(); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return r.fail(err) // the unsent batch is not acknowledged: next is right
	}
	dest, err := replayDestination(m, to)
	if err != nil {
		return err // planReplay checked already; the topic is immutable below the mark
	}
	r.batch = append(r.batch, replayMessage(m, dest))
	r.bytes += len(m.Key) + len(m.Value)
	if len(r.batch) >= replayBatchMessages || r.bytes >= replayBatchBytes {
		return r.flush()
	}
	return nil
}

// dlqOffset is a replayed message's place in the dead-letter topic.
type dlqOffset struct {
	partition int32
	offset    int64
}

// flush sends the batch and waits for every ack.
func (r *replayer) flush() error {
	if len(r.batch) == 0 {
		return nil
	}
	batch := r.batch
	r.batch, r.bytes = nil, 0
	err := r.producer.SendMessages(batch)
	if err == nil {
		for _, pm := range batch {
			r.counts[pm.Topic]++
		}
		r.replayed += len(batch)
		last := batch[len(batch)-1].Metadata.(dlqOffset)
		r.next[last.partition] = last.offset + 1
		return nil
	}
	var perrs sarama.ProducerErrors
	if !errors.As(err, &perrs) || len(perrs) == 0 {
		first := batch[0].Metadata.(dlqOffset)
		r.next[first.partition] = first.offset
		return r.fail(fmt.Errorf("send partition %d from offset %d: %w", first.partition, first.offset, err))
	}
	// The messages not in perrs were acknowledged; resume at the lowest
	// offset that was not.
	r.replayed += len(batch) - len(perrs)
	failed := perrs[0]
	for _, pe := range perrs[1:] {
		if pe.Msg.Metadata.(dlqOffset).offset < failed.Msg.Metadata.(dlqOffset).offset {
			failed = pe
		}
	}
	at := failed.Msg.Metadata.(dlqOffset)
	r.next[at.partition] = at.offset
	return r.fail(fmt.Errorf("send partition %d offset %d (%d of %d in its batch failed): %w",
		at.partition, at.offset, len(perrs), len(batch), failed.Err))
}

// fail wraps err with the progress so far; r.next must hold what was acked.
func (r *replayer) fail(err error) error {
	return &ReplayError{Topic: r.topic, Replayed: r.replayed, Resume: maps.Clone(r.next), Err: err}
}

// summary reports the counts and, when a limit stopped the replay before
// the captured marks, where the rest starts.
func (r *replayer) summary(w io.Writer, spans []span) error {
	_, err := fmt.Fprintf(w, "replayed %d messages from %s to %s\n", r.replayed, r.topic, describeDestinations(r.counts))
	if err != nil {
		return err
	}
	rest := false
	for _, s := range spans {
		if r.next[s.partition] < s.end {
			rest = true
		}
	}
	if rest {
		_, err = fmt.Fprintf(w, "stopped at the limit; the rest starts at --from-offsets %s\n", FormatOffsets(r.next))
	}
	return err
}

// ParseOffsets reads per-partition offsets written as "0=120,1=45"; the
// empty string is no offsets.
func ParseOffsets(s string) (map[int32]int64, error) {
	out := map[int32]int64{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		ps, offs, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return nil, fmt.Errorf("offsets %q: %q is not partition=offset", s, item)
		}
		p, err := strconv.ParseInt(ps, 10, 32)
		if err != nil || p < 0 {
			return nil, fmt.Errorf("offsets %q: partition %q is not a partition number", s, ps)
		}
		o, err := strconv.ParseInt(offs, 10, 64)
		if err != nil || o < 0 {
			return nil, fmt.Errorf("offsets %q: offset %q is not an offset", s, offs)
		}
		if _, dup := out[int32(p)]; dup {
			return nil, fmt.Errorf("offsets %q: partition %d is given twice", s, p)
		}
		out[int32(p)] = o
	}
	return out, nil
}

// FormatOffsets writes offsets the way ParseOffsets reads them, by partition.
func FormatOffsets(offsets map[int32]int64) string {
	parts := make([]string, 0, len(offsets))
	for _, p := range slices.Sorted(maps.Keys(offsets)) {
		parts = append(parts, fmt.Sprintf("%d=%d", p, offsets[p]))
	}
	return strings.Join(parts, ",")
}
