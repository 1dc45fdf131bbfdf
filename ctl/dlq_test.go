package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/testenv"
	"github.com/logagent/logagent/transfer"
	"github.com/logagent/logagent/wire"
)

// dlqTestTimeout bounds each command, so a read that never reaches its end
// fails the test instead of hanging it.
const dlqTestTimeout = 20 * time.Second

func dlqCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dlqTestTimeout)
	t.Cleanup(cancel)
	return ctx
}

// origMsg is a message as the agent wrote it to a source topic.
type origMsg struct {
	topic     string
	partition int32
	offset    int64
	key       string
	value     string
	headers   map[string]string
}

// envelopeMsg is an agent-style original carrying message.
func envelopeMsg(topic string, offset int64, message string) origMsg {
	v, _ := json.Marshal(map[string]any{
		"@timestamp": "2026-11-05T10:00:00.000000000Z", "message": message,
		"host": map[string]string{"name": "web1"}, "log": map[string]any{"file": map[string]string{"path": "/var/log/x"}},
	})
	return origMsg{
		topic: topic, partition: int32(offset % 3), offset: offset,
		key: fmt.Sprintf("host1:%d", offset), value: string(v),
		headers: map[string]string{"event.id": fmt.Sprintf("%032x", offset), "format": "envelope"},
	}
}

type deadLetter struct {
	origMsg
	typ, reason string
}

func (o origMsg) dead(typ, reason string) deadLetter { return deadLetter{o, typ, reason} }

// writeDeadLetters writes letters through the transfer's own dead-letter
// writer, so the format under test is the real one. dlqTopic is the
// transfer's dlq_topic setting ({topic}-dlq or a fixed name).
func writeDeadLetters(t *testing.T, k *testenv.Kafka, dlqTopic string, letters ...deadLetter) {
	t.Helper()
	cfg := &conf.Transfer{Kafka: conf.Kafka{Brokers: k.Brokers()}, DLQTopic: dlqTopic}
	if err := cfg.SetDefaultsAndValidate(); err != nil {
		t.Fatal(err)
	}
	w, err := transfer.NewKafkaDeadLetters(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	}()
	out := make([]transfer.DeadLetter, len(letters))
	for i, l := range letters {
		meta := transfer.SourceMeta{Topic: l.topic, Partition: l.partition, Offset: l.offset, Value: []byte(l.value)}
		if l.key != "" {
			meta.Key = []byte(l.key)
		}
		for _, k := range slices.Sorted(maps.Keys(l.headers)) {
			meta.Headers = append(meta.Headers, &sarama.RecordHeader{Key: []byte(k), Value: []byte(l.headers[k])})
		}
		out[i] = transfer.DeadLetter{Doc: transfer.Doc{ID: l.headers["event.id"], Meta: meta}, Type: l.typ, Reason: l.reason}
	}
	if err := w.Write(dlqCtx(t), out); err != nil {
		t.Fatal(err)
	}
}

// produceRaw writes one message to topic's partition as another program
// would: not through the transfer.
func produceRaw(t *testing.T, k *testenv.Kafka, topic string, partition int32, value string, headers map[string]string) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(k.Brokers(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	m := &sarama.ProducerMessage{Topic: topic, Partition: partition, Value: sarama.StringEncoder(value)}
	for _, k := range slices.Sorted(maps.Keys(headers)) {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(headers[k])})
	}
	if _, _, err := p.SendMessage(m); err != nil {
		t.Fatal(err)
	}
}

// dlqOpts are DLQOptions for topic with a bare Kafka section: the commands
// must apply the defaults conf.Kafka.Sarama needs themselves.
func dlqOpts(k *testenv.Kafka, topic string) DLQOptions {
	return DLQOptions{Kafka: conf.Kafka{Brokers: k.Brokers()}, Topic: topic}
}

// recordsByValue indexes records by value, failing on a value seen twice.
func recordsByValue(t *testing.T, recs []testenv.Record) map[string]testenv.Record {
	t.Helper()
	out := map[string]testenv.Record{}
	for _, r := range recs {
		if _, dup := out[string(r.Value)]; dup {
			t.Errorf("%s: value %q delivered twice", r.Topic, r.Value)
		}
		out[string(r.Value)] = r
	}
	return out
}

// checkOriginals asserts topic holds exactly want, each with its original
// key, value and headers and nothing of the dead-letter headers.
func checkOriginals(t *testing.T, k *testenv.Kafka, topic string, want ...origMsg) {
	t.Helper()
	got := recordsByValue(t, k.ReadAll(t, topic))
	if len(got) != len(want) {
		t.Errorf("%s has %d records, want %d", topic, len(got), len(want))
	}
	for _, o := range want {
		r, ok := got[o.value]
		if !ok {
			t.Errorf("%s: original %s/%d/%d not delivered", topic, o.topic, o.partition, o.offset)
			continue
		}
		if string(r.Key) != o.key {
			t.Errorf("%s: key %q, want %q", topic, r.Key, o.key)
		}
		if !maps.Equal(r.Headers, o.headers) {
			t.Errorf("%s: headers %v, want exactly the original %v", topic, r.Headers, o.headers)
		}
	}
}

func TestDLQListTable(t *testing.T) {
	t.Parallel()
	k := testenv.StartKafka(t, testenv.Topics("web_log", "web_log-dlq"))
	longReason := "failed to parse field [status] of type [long] in document with id 'x'. Preview of field's value: 'abc' " + strings.Repeat("x", 200)
	raw := envelopeMsg("web_log", 7, "")
	raw.value = "not json\n\x1b[31mred\xff"
	letters := []deadLetter{
		envelopeMsg("web_log", 41, "GET /index.html 200").dead("mapper_parsing_exception", longReason),
		envelopeMsg("web_log", 42, "line\twith\ttabs\nand newline").dead("illegal_argument_exception", "short"),
		raw.dead("missing_from_bulk_response", transfer.MissingReason),
	}
	writeDeadLetters(t, k, "{topic}-dlq", letters...)

	var out bytes.Buffer
	if err := DLQList(dlqCtx(t), dlqOpts(k, "web_log-dlq"), &out, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	// Header, one line per dead letter (escaping keeps each on one line), summary.
	if len(lines) != 5 {
		t.Fatalf("want 5 lines, got %d:\n%s", len(lines), out.String())
	}
	if !strings.HasPrefix(lines[0], "PARTITION") || lines[4] != "3 of 3 dead letters in web_log-dlq" {
		t.Errorf("header or summary wrong:\n%s", out.String())
	}
	dlqRecs := k.ReadAll(t, "web_log-dlq")
	for _, l := range letters {
		row := rowFor(t, lines[1:4], l, dlqRecs)
		if row == "" {
			continue
		}
		for _, want := range []string{fmt.Sprintf("web_log/%d/%d", l.partition, l.offset), l.typ} {
			if !strings.Contains(row, want) {
				t.Errorf("row %q lacks %q", row, want)
			}
		}
	}
	checkRow := func(offset int64, wants ...string) {
		t.Helper()
		for _, l := range letters {
			if l.offset == offset {
				row := rowFor(t, lines[1:4], l, dlqRecs)
				for _, w := range wants {
					if !strings.Contains(row, w) {
						t.Errorf("row %q lacks %q", row, w)
					}
				}
			}
		}
	}
	checkRow(41, longReason[:tableReasonRunes]+"…", "GET /index.html 200")
	if strings.Contains(out.String(), longReason[:tableReasonRunes+1]) {
		t.Error("table reason not truncated")
	}
	checkRow(42, `line\twith\ttabs\nand newline`)
	checkRow(7, `not json\n\x1b[31mred\xff`)
}

// rowFor finds the table row of letter l by its DLQ partition and offset.
func rowFor(t *testing.T, rows []string, l deadLetter, dlqRecs []testenv.Record) string {
	t.Helper()
	for _, r := range dlqRecs {
		if r.Headers[wire.HeaderSourceOffset] != strconv.FormatInt(l.offset, 10) {
			continue
		}
		prefix := fmt.Sprintf("%d ", r.Partition)
		for _, row := range rows {
			f := strings.Fields(row)
			if strings.HasPrefix(row, prefix) && len(f) > 1 && f[1] == strconv.FormatInt(r.Offset, 10) {
				return row
			}
		}
	}
	t.Errorf("no row for dead letter of web_log offset %d in\n%s", l.offset, strings.Join(rows, "\n"))
	return ""
}

func TestDLQListJSON(t *testing.T) {
	t.Parallel()
	k := testenv.StartKafka(t, testenv.Topics("web_log", "web_log-dlq"))
	before := time.Now().Add(-time.Minute)
	letters := []deadLetter{
		envelopeMsg("web_log", 10, "first").dead("mapper_parsing_exception", "reason one"),
		envelopeMsg("web_log", 11, "second").dead("mapper_parsing_exception", "reason two"),
		envelopeMsg("web_log", 12, "third").dead("strict_dynamic_mapping_exception", "reason three"),
	}
	writeDeadLetters(t, k, "{topic}-dlq", letters...)

	var out bytes.Buffer
	if err := DLQList(dlqCtx(t), dlqOpts(k, "web_log-dlq"), &out, true); err != nil {
		t.Fatal(err)
	}
	var got []DLQEntry
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, out.String())
	}
	if len(got) != len(letters) {
		t.Fatalf("%d entries, want %d", len(got), len(letters))
	}
	dlqRecs := k.ReadAll(t, "web_log-dlq")
	for _, l := range letters {
		i := slices.IndexFunc(got, func(e DLQEntry) bool { return e.SourceOffset != nil && *e.SourceOffset == l.offset })
		if i < 0 {
			t.Errorf("no entry for source offset %d", l.offset)
			continue
		}
		e := got[i]
		j := slices.IndexFunc(dlqRecs, func(r testenv.Record) bool { return r.Partition == e.Partition && r.Offset == e.Offset })
		if j < 0 || dlqRecs[j].Headers[wire.HeaderSourceOffset] != strconv.FormatInt(l.offset, 10) {
			t.Errorf("entry %+v does not point at its DLQ record", e)
		}
		var msg struct{ Message string }
		_ = json.Unmarshal([]byte(l.value), &msg)
		if e.SourceTopic != "web_log" || e.SourcePartition == nil || *e.SourcePartition != l.partition ||
			e.ErrorType != l.typ || e.ErrorReason != l.reason || e.Preview != msg.Message || e.Key != l.key {
			t.Errorf("entry %+v does not match dead letter %+v", e, l)
		}
		if e.Timestamp.Before(before) || e.Timestamp.After(time.Now().Add(time.Minute)) {
			t.Errorf("timestamp %v is not the dead-letter time", e.Timestamp)
		}
	}

	// Limit: the first N in partition and offset order.
	out.Reset()
	o := dlqOpts(k, "web_log-dlq")
	o.Limit = 2
	if err := DLQList(dlqCtx(t), o, &out, true); err != nil {
		t.Fatal(err)
	}
	var limited []DLQEntry
	if err := json.Unmarshal(out.Bytes(), &limited); err != nil {
		t.Fatal(err)
	}
	if !entriesEqual(limited, got[:2]) {
		t.Errorf("limit 2 listed %+v, want the first two of %+v", limited, got)
	}
}

func entriesEqual(a, b []DLQEntry) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestDLQReplayToSourceTopics(t *testing.T) {
	t.Parallel()
	// One fixed DLQ for two sources shows each message going back to its own.
	k := testenv.StartKafka(t, testenv.Topics("web_log", "nginx", "dead_letters"))
	a, b := envelopeMsg("web_log", 1, "a"), envelopeMsg("web_log", 2, "b")
	c := envelopeMsg("nginx", 3, "c")
	c.headers["format"] = "raw"
	writeDeadLetters(t, k, "dead_letters", a.dead("t", "r"), b.dead("t", "r"), c.dead("t", "r"))

	var out bytes.Buffer
	n, err := DLQReplay(dlqCtx(t), dlqOpts(k, "dead_letters"), &out)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("replayed %d, want 3", n)
	}
	checkOriginals(t, k, "web_log", a, b)
	checkOriginals(t, k, "nginx", c)
	if got := k.Count(t, "dead_letters"); got != 3 {
		t.Errorf("dead-letter topic has %d records after replay, want it untouched at 3", got)
	}
	if want := "replayed 3 messages from dead_letters to nginx (1), web_log (2)\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

func TestDLQReplayTo(t *testing.T) {
	t.Parallel()
	k := testenv.StartKafka(t, testenv.Topics("web_log", "web_log-dlq", "web_log-fixed"))
	a, b := envelopeMsg("web_log", 1, "a"), envelopeMsg("web_log", 2, "b")
	writeDeadLetters(t, k, "{topic}-dlq", a.dead("t", "r"), b.dead("t", "r"))

	o := dlqOpts(k, "web_log-dlq")
	o.To = "web_log-fixed"
	n, err := DLQReplay(dlqCtx(t), o, &bytes.Buffer{})
	if err != nil || n != 2 {
		t.Fatalf("replay = %d, %v; want 2, nil", n, err)
	}
	checkOriginals(t, k, "web_log-fixed", a, b)
	if got := k.Count(t, "web_log"); got != 0 {
		t.Errorf("source topic got %d records; --to must override source.topic", got)
	}
}

func TestDLQReplayDryRun(t *testing.T) {
	t.Parallel()
	k := testenv.StartKafka(t, testenv.Topics("web_log", "web_log-dlq"))
	writeDeadLetters(t, k, "{topic}-dlq", envelopeMsg("web_log", 1, "a").dead("t", "r"), envelopeMsg("web_log", 2, "b").dead("t", "r"))

	o := dlqOpts(k, "web_log-dlq")
	o.DryRun = true
	var out bytes.Buffer
	n, err := DLQReplay(dlqCtx(t), o, &out)
	if err != nil || n != 2 {
		t.Fatalf("dry run = %d, %v; want 2, nil", n, err)
	}
	if got := k.Count(t, "web_log"); got != 0 {
		t.Errorf("dry run produced %d records", got)
	}
	for _, r := range k.ReadAll(t, "web_log-dlq") {
		if want := fmt.Sprintf("would replay web_log-dlq %d/%d to web_log (", r.Partition, r.Offset); !strings.Contains(out.String(), want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(out.String(), "would replay 2 messages from web_log-dlq to web_log (2); nothing was produced") {
		t.Errorf("dry-run summary missing:\n%s", out.String())
	}
}

func TestDLQReplayMissingSourceTopic(t *testing.T) {
	t.Parallel()
	k := testenv.StartKafka(t, testenv.Topics("web_log", "web_log-dlq", "elsewhere"))
	a, b := envelopeMsg("web_log", 1, "a"), envelopeMsg("web_log", 2, "b")
	writeDeadLetters(t, k, "{topic}-dlq", a.dead("t", "r"), b.dead("t", "r"))
	// Written last on the last partition, so it is read after the good ones:
	// only checking first keeps them from being sent.
	produceRaw(t, k, "web_log-dlq", 2, "orphan", map[string]string{wire.HeaderErrorType: "t", "event.id": "e9"})
	orphanOffset := k.Count(t, "web_log-dlq") // upper bound; find the real one below
	for _, r := range k.ReadAll(t, "web_log-dlq") {
		if string(r.Value) == "orphan" {
			orphanOffset = r.Offset
		}
	}

	n, err := DLQReplay(dlqCtx(t), dlqOpts(k, "web_log-dlq"), &bytes.Buffer{})
	if err == nil || n != 0 {
		t.Fatalf("replay = %d, %v; want an error", n, err)
	}
	if want := fmt.Sprintf("partition 2 offset %d has no source.topic header", orphanOffset); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the message (%q)", err, want)
	}
	if got := k.Count(t, "web_log"); got != 0 {
		t.Errorf("%d records produced before the missing header was found; want none", got)
	}

	// With a destination the orphan goes too, without its dead-letter header.
	o := dlqOpts(k, "web_log-dlq")
	o.To = "elsewhere"
	if n, err := DLQReplay(dlqCtx(t), o, &bytes.Buffer{}); err != nil || n != 3 {
		t.Fatalf("replay --to = %d, %v; want 3, nil", n, err)
	}
	orphan := origMsg{value: "orphan", headers: map[string]string{"event.id": "e9"}}
	checkOriginals(t, k, "elsewhere", a, b, orphan)
}

func TestDLQEmptyTopic(t *testing.T) {
	t.Parallel()
	k := testenv.StartKafka(t, testenv.Topics("web_log", "web_log-dlq"))
	o := dlqOpts(k, "web_log-dlq")

	var table, js, replay bytes.Buffer
	if err := DLQList(dlqCtx(t), o, &table, false); err != nil {
		t.Fatal(err)
	}
	if table.String() != "no dead letters in web_log-dlq\n" {
		t.Errorf("table output %q", table.String())
	}
	if err := DLQList(dlqCtx(t), o, &js, true); err != nil {
		t.Fatal(err)
	}
	var entries []DLQEntry
	if err := json.Unmarshal(js.Bytes(), &entries); err != nil || entries == nil || len(entries) != 0 {
		t.Errorf("json output %q: want an empty array (%v)", js.String(), err)
	}
	if n, err := DLQReplay(dlqCtx(t), o, &replay); err != nil || n != 0 {
		t.Errorf("replay of an empty topic = %d, %v", n, err)
	}
}

func TestDLQUnknownTopics(t *testing.T) {
	t.Parallel()
	// A broker that would create a topic on request, as many clusters do:
	// a mistyped name must still be an error.
	k := testenv.StartKafka(t, testenv.Topics("web_log", "web_log-dlq"),
		testenv.KafkaFakeOptions(kfake.AllowAutoTopicCreation()))
	writeDeadLetters(t, k, "{topic}-dlq", envelopeMsg("web_log", 1, "a").dead("t", "r"))

	err := DLQList(dlqCtx(t), dlqOpts(k, "nope-dlq"), &bytes.Buffer{}, false)
	if err == nil || !strings.Contains(err.Error(), `topic "nope-dlq" does not exist`) {
		t.Errorf("ls of a missing topic: %v", err)
	}
	if _, err := DLQReplay(dlqCtx(t), dlqOpts(k, "nope-dlq"), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), `"nope-dlq" does not exist`) {
		t.Errorf("replay of a missing topic: %v", err)
	}
	o := dlqOpts(k, "web_log-dlq")
	o.To = "web_log-typo"
	if _, err := DLQReplay(dlqCtx(t), o, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), `destination: topic "web_log-typo" does not exist`) {
		t.Errorf("replay to a missing topic: %v", err)
	}
	if n := k.Count(t, "web_log"); n != 0 {
		t.Errorf("web_log got %d records", n)
	}
	// No call may have created the topic it looked for (auto-creation is off).
	for _, topic := range []string{"nope-dlq", "web_log-typo"} {
		if err := DLQList(dlqCtx(t), dlqOpts(k, topic), &bytes.Buffer{}, false); err == nil {
			t.Errorf("%s exists after the failed calls", topic)
		}
	}
}

// A document refused again on replay is dead-lettered behind the mark the
// replay started from; the replay must end rather than chase it. A message
// whose source is the DLQ itself is exactly that loop.
func TestDLQReplayStopsAtStartMark(t *testing.T) {
	t.Parallel()
	k := testenv.StartKafka(t, testenv.Topics("loop-dlq"), testenv.Partitions(1))
	produceRaw(t, k, "loop-dlq", 0, "again", map[string]string{wire.HeaderSourceTopic: "loop-dlq"})

	n, err := DLQReplay(dlqCtx(t), dlqOpts(k, "loop-dlq"), &bytes.Buffer{})
	if err != nil || n != 1 {
		t.Fatalf("replay = %d, %v; want 1, nil", n, err)
	}
	if got := k.Count(t, "loop-dlq"); got != 2 {
		t.Errorf("loop-dlq has %d records, want 2", got)
	}
}

// A send that fails part-way reports the count and where to resume, and
// resuming from there delivers the rest.
func TestDLQReplayFailureAndResume(t *testing.T) {
	t.Parallel()
	k := testenv.StartKafka(t, testenv.Topics("web_log", "web_log-dlq"), testenv.Partitions(1))
	msgs := []origMsg{envelopeMsg("web_log", 0, "a"), envelopeMsg("web_log", 1, "b"), envelopeMsg("web_log", 2, strings.Repeat("big", 2000)), envelopeMsg("web_log", 3, "d")}
	var letters []deadLetter
	for _, m := range msgs {
		m.partition = 0
		letters = append(letters, m.dead("t", "r"))
	}
	writeDeadLetters(t, k, "{topic}-dlq", letters...)

	// The producer refuses the big one (client-side size limit), as a broker
	// refusing one message would.
	o := dlqOpts(k, "web_log-dlq")
	o.Kafka.MaxMessageBytes = 4096
	n, err := DLQReplay(dlqCtx(t), o, &bytes.Buffer{})
	var rerr *ReplayError
	if !errors.As(err, &rerr) {
		t.Fatalf("replay = %d, %v; want a *ReplayError", n, err)
	}
	if n != 3 || rerr.Replayed != 3 || !maps.Equal(rerr.Resume, map[int32]int64{0: 2}) {
		t.Errorf("replayed %d (%d), resume %v; want 3 and {0: 2}", n, rerr.Replayed, rerr.Resume)
	}
	if !strings.Contains(err.Error(), "3 messages replayed") || !strings.Contains(err.Error(), "--from-offsets 0=2") ||
		!strings.Contains(err.Error(), "partition 0 offset 2") {
		t.Errorf("error does not say how far it got and where to resume: %v", err)
	}

	flag := FormatOffsets(rerr.Resume)
	from, err := ParseOffsets(flag)
	if err != nil {
		t.Fatal(err)
	}
	o = dlqOpts(k, "web_log-dlq")
	o.FromOffsets = from
	if n, err := DLQReplay(dlqCtx(t), o, &bytes.Buffer{}); err != nil || n != 2 {
		t.Fatalf("resumed replay = %d, %v; want 2 (offsets 2 and 3), nil", n, err)
	}
	// Every original arrived; only the one after the resume point twice.
	counts := map[string]int{}
	for _, r := range k.ReadAll(t, "web_log") {
		counts[string(r.Value)]++
	}
	for i, m := range msgs {
		want := 1
		if i == 3 {
			want = 2
		}
		if counts[m.value] != want {
			t.Errorf("original %d arrived %d times, want %d", i, counts[m.value], want)
		}
	}
}

func TestDLQLimitAndFromOffsets(t *testing.T) {
	t.Parallel()
	k := testenv.StartKafka(t, testenv.Topics("web_log", "web_log-dlq"), testenv.Partitions(1))
	var letters []deadLetter
	var msgs []origMsg
	for i := range 5 {
		m := envelopeMsg("web_log", int64(i), fmt.Sprint("m", i))
		m.partition = 0
		msgs = append(msgs, m)
		letters = append(letters, m.dead("t", "r"))
	}
	writeDeadLetters(t, k, "{topic}-dlq", letters...)

	o := dlqOpts(k, "web_log-dlq")
	o.Limit = 2
	var out bytes.Buffer
	if n, err := DLQReplay(dlqCtx(t), o, &out); err != nil || n != 2 {
		t.Fatalf("replay with limit = %d, %v", n, err)
	}
	if !strings.Contains(out.String(), "the rest starts at --from-offsets 0=2") {
		t.Errorf("output does not say where the rest starts:\n%s", out.String())
	}
	o = dlqOpts(k, "web_log-dlq")
	o.FromOffsets = map[int32]int64{0: 2}
	if n, err := DLQReplay(dlqCtx(t), o, &bytes.Buffer{}); err != nil || n != 3 {
		t.Fatalf("replay from 0=2 = %d, %v", n, err)
	}
	checkOriginals(t, k, "web_log", msgs...)

	o.FromOffsets = map[int32]int64{5: 0}
	if _, err := DLQReplay(dlqCtx(t), o, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "no partition 5") {
		t.Errorf("from offsets on a missing partition: %v", err)
	}
}

func TestParseOffsets(t *testing.T) {
	t.Parallel()
	got, err := ParseOffsets(" 0=120, 2=7")
	if err != nil || !maps.Equal(got, map[int32]int64{0: 120, 2: 7}) {
		t.Errorf("ParseOffsets = %v, %v", got, err)
	}
	if s := FormatOffsets(got); s != "0=120,2=7" {
		t.Errorf("FormatOffsets = %q", s)
	}
	if got, err := ParseOffsets(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %v, %v", got, err)
	}
	for _, bad := range []string{"0", "a=1", "0=b", "-1=0", "0=-3", "0=1,0=2"} {
		if _, err := ParseOffsets(bad); err == nil {
			t.Errorf("ParseOffsets(%q) accepted", bad)
		}
	}
}

func TestEscapeAndPreview(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in    string
		runes int
		want  string
	}{
		{"plain text", 0, "plain text"},
		{"tab\tnl\ncr\r", 0, `tab\tnl\ncr\r`},
		{"esc\x1b[0m", 0, `esc\x1b[0m`},
		{"bad\xff\xfe", 0, `bad\xff\xfe`},
		{"zero\u200bwidth", 0, `zero\u200bwidth`},
		{"héllo wörld", 5, "héllo…"},
		{"exact", 5, "exact"},
	}
	for _, c := range cases {
		if got := escapeLine([]byte(c.in), c.runes); got != c.want {
			t.Errorf("escapeLine(%q, %d) = %q, want %q", c.in, c.runes, got, c.want)
		}
	}
	if got := valuePreview([]byte(`{"message":"hi\nthere","x":1}`), 0); got != `hi\nthere` {
		t.Errorf("envelope preview = %q", got)
	}
	if got := valuePreview([]byte(`{"message":5}`), 0); got != `{"message":5}` {
		t.Errorf("non-envelope JSON preview = %q", got)
	}
}
