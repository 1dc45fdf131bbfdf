package agent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logagent/logagent/collect"
	"github.com/prometheus/client_golang/prometheus"
)

// multilineEntry is entry(dir, name) with a multiline rule given as the
// JSON an operator writes, validated the way the agent gets it from etcd.
func multilineEntry(t *testing.T, dir, name, rule string) collect.Entry {
	t.Helper()
	entries, err := collect.ParseCollectConfig(fmt.Appendf(nil, `[{"path":%q,"topic":"web_log","multiline":%s}]`, filepath.Join(dir, name), rule))
	if err != nil {
		t.Fatal(err)
	}
	return entries[0]
}

const javaTrace = "2026-11-26 10:00:00 ERROR request failed\n" +
	"java.lang.IllegalStateException: boom\n" +
	"\tat com.example.Handler.serve(Handler.java:42)\n" +
	"\tat com.example.Server.run(Server.java:7)\n"

func TestMultilineStartPatternJoinsATrace(t *testing.T) {
	dir := t.TempDir()
	next := "2026-11-26 10:00:01 INFO recovered\n"
	appendFile(t, filepath.Join(dir, "app.log"), javaTrace+next)
	tl := newTailer(t, dir, multilineEntry(t, dir, "app.log", `{"start_pattern":"^\\d{4}-\\d{2}-\\d{2} ","timeout":"100ms"}`))

	// The last event has nothing after it: its timeout ships it.
	got := tl.waitMessages(2)
	want := []string{strings.TrimSuffix(javaTrace, "\n"), strings.TrimSuffix(next, "\n")}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q\nwant %q", got, want)
	}
	evs := tl.sink.snapshot()
	if !slices.Equal(evs[0].Log.Flags, []string{"multiline"}) || evs[0].Log.Offset != 0 {
		t.Errorf("trace event: flags %v offset %d", evs[0].Log.Flags, evs[0].Log.Offset)
	}
	if len(evs[1].Log.Flags) != 0 || evs[1].Log.Offset != int64(len(javaTrace)) {
		t.Errorf("single-line event: flags %v offset %d", evs[1].Log.Flags, evs[1].Log.Offset)
	}
	waitFor(t, 10*time.Second, "both events acked", func() bool { return ackedOffset(tl, "app.log") == int64(len(javaTrace+next)) })
	if joined, byTime := testutilCounter(tl.metrics.MultilineJoined), testutilCounter(tl.metrics.MultilineTimeEnds); joined != 3 || byTime != 1 {
		t.Errorf("metrics: %v lines joined (want 3), %v events ended by time (want 1: the last)", joined, byTime)
	}
}

func TestMultilineContinuePatternAndMaxLines(t *testing.T) {
	dir := t.TempDir()
	appendFile(t, filepath.Join(dir, "app.log"), "a\n 1\n 2\n 3\nb\n")
	tl := newTailer(t, dir, multilineEntry(t, dir, "app.log", `{"continue_pattern":"^\\s","max_lines":3,"timeout":"100ms"}`))
	got := tl.waitMessages(3)
	if want := []string{"a\n 1\n 2", " 3", "b"}; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q (max_lines ends the first)", got, want)
	}
}

// TestMultilineEventWaitsAndSurvivesARestart: an event still being
// assembled is not shipped and not acknowledged; after a restart it is read
// again, whole, under the id of its first line's offset.
func TestMultilineEventWaitsAndSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	first := "2026-11-26 09:59:59 INFO start\n"
	appendFile(t, log, first+javaTrace[:60])
	e := multilineEntry(t, dir, "app.log", `{"start_pattern":"^\\d{4}-","timeout":"1m"}`)
	tl := newTailer(t, dir, e)
	tl.waitMessages(1) // the first event: ended by the trace's first line
	// Stopping waits for the harvester: a partial trace it would ship, when
	// reading or when stopping, is shipped by then.
	tl.stop()
	if n := tl.sink.count(); n != 1 {
		t.Fatalf("%d events while the trace is still being written, want 1", n)
	}
	if off := ackedOffset(tl, "app.log"); off != int64(len(first)) {
		t.Fatalf("acked offset %d with the trace pending, want %d", off, len(first))
	}
	appendFile(t, log, javaTrace[60:]+"2026-11-26 10:00:02 INFO next\n")
	tl.start(testOptions(), []collect.Entry{e})
	got := tl.waitMessages(2)
	if got[1] != strings.TrimSuffix(javaTrace, "\n") {
		t.Fatalf("after restart: %q", got[1:])
	}
	evs := tl.sink.snapshot()
	if evs[1].Log.Offset != int64(len(first)) || evs[1].ID[16:] != fmt.Sprintf("%016x", len(first)) {
		t.Errorf("trace event offset %d id %s", evs[1].Log.Offset, evs[1].ID)
	}
}

// TestMultilineEndsBeforeALineTooLong: an event never outgrows
// max_line_bytes (1024 here); a line longer than that ends the event before
// it and is split as usual.
func TestMultilineEndsBeforeALineTooLong(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", 1500)
	appendFile(t, filepath.Join(dir, "app.log"), "S start\n cont\n"+long+"\nS end\n")
	tl := newTailer(t, dir, multilineEntry(t, dir, "app.log", `{"start_pattern":"^S ","timeout":"100ms"}`))
	got := tl.waitMessages(4)
	if got[0] != "S start\n cont" || got[1]+got[2] != long || got[3] != "S end" {
		t.Fatalf("events %d: %q / %d+%d bytes / %q", len(got), got[0], len(got[1]), len(got[2]), got[3])
	}
	evs := tl.sink.snapshot()
	if !slices.Contains(evs[1].Log.Flags, "split") || !slices.Contains(evs[2].Log.Flags, "split") {
		t.Errorf("pieces of the long line: flags %v %v", evs[1].Log.Flags, evs[2].Log.Flags)
	}
}

// TestMultilineRuleRemovedShipsWhatWasAssembled: a config change that drops
// the rule ships the event being assembled, then lines one by one.
func TestMultilineRuleRemovedShipsWhatWasAssembled(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	// Shipping the first event shows the next one is being assembled.
	first := "S " + strings.Repeat("x", 1000)
	appendFile(t, log, first+"\nS one\n two\n")
	tl := newTailer(t, dir, multilineEntry(t, dir, "app.log", `{"start_pattern":"^S ","timeout":"1m"}`))
	tl.waitMessages(1)
	tl.mgr.Apply([]collect.Entry{entry(dir, "app.log")})
	tl.waitMessages(2) // the rule is gone: what it assembled is complete
	appendFile(t, log, " three\n")
	if got := tl.waitMessages(3); !slices.Equal(got, []string{first, "S one\n two", " three"}) {
		t.Fatalf("events %q", got)
	}
}

// TestMultilineTimeoutBreakSurvivesACrash: an event ended by its timeout is
// shipped, then its file grows with lines that would have continued it and
// the agent crashes before any acknowledgement is saved. Read again, the
// event ends where it ended before, so every line is in exactly one event
// id, as first shipped.
func TestMultilineTimeoutBreakSurvivesACrash(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	e := multilineEntry(t, dir, "app.log", `{"start_pattern":"^S ","timeout":"100ms"}`)
	appendFile(t, log, "S a\n b\n")
	tl := newTailer(t, dir, e)
	tl.sink.holdAcks.Store(true)
	tl.waitMessages(1) // ended by the timeout
	appendFile(t, log, " c\nS d\n")
	tl.waitMessages(2) // " c" on its own: its event was shipped already
	// Crash: no final registry save, and nothing was ever acknowledged.
	tl.cancel()
	<-tl.done
	tl.cancel = nil
	tl.sink.holdAcks.Store(false)
	tl.start(testOptions(), []collect.Entry{e})
	// "S d" may have been shipped before the crash already (by its timeout):
	// wait for what must be shipped again.
	waitFor(t, 60*time.Second, "the events shipped again after the restart", func() bool {
		got := tl.sink.messages()
		return count(got, " c") >= 2 && slices.Contains(got, "S d")
	})
	got := tl.sink.messages()
	if count(got, "S a\n b") != 2 || count(got, " c") != 2 {
		t.Fatalf("events %q: want the first two shipped again, as before the crash", got)
	}
	checkEvents(t, tl.sink.snapshot(), map[string]bool{"S a": true, " b": true, " c": true, "S d": true})
}

// TestMultilineCopyKeepsTheBreaks: a copy of a file (copytruncate) takes
// over its origin and acknowledged offset, and its breaks too, so its events
// end where the original's did, under the same ids.
func TestMultilineCopyKeepsTheBreaks(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	e := multilineEntry(t, dir, "app.log*", `{"start_pattern":"^S ","timeout":"100ms"}`)
	a, b := "S "+strings.Repeat("a", 600), "S "+strings.Repeat("b", 500) // past the first KiB, so a copy is recognised
	appendFile(t, log, a+"\n"+b+"\n more\n")
	tl := newTailer(t, dir, e)
	tl.sink.holdAcks.Store(true) // Kafka is slow: the copy resumes from offset 0
	tl.waitMessages(2)           // the second ended by the timeout
	appendFile(t, log, " late\n")
	tl.waitMessages(3)
	content, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(log+".1", content, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, `" late" read from the copy`, func() bool {
		evs := tl.sink.snapshot()
		return evs[len(evs)-1].Log.File.Path == log+".1" && strings.HasSuffix(evs[len(evs)-1].Message, " late")
	})
	checkEvents(t, tl.sink.snapshot(), map[string]bool{a: true, b: true, " more": true, " late": true})
}

// TestMultilineRestartInsideASplitLine: acknowledged up to a piece of a line
// longer than max_line_bytes, a restart resumes with the rest of that line as
// a split piece, not as the first line of an event that would take in the
// lines after it.
func TestMultilineRestartInsideASplitLine(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	e := multilineEntry(t, dir, "app.log", `{"start_pattern":"^S ","timeout":"100ms"}`)
	long := strings.Repeat("y", 2500) // max_line_bytes is 1024: two pieces now, the rest once its newline is there
	appendFile(t, log, "S x\n"+long)
	tl := newTailer(t, dir, e)
	tl.waitMessages(3)
	waitFor(t, 10*time.Second, "the pieces acknowledged", func() bool { return ackedOffset(tl, "app.log") == 4+2048 })
	tl.restart(e)
	appendFile(t, log, "\n cont\nS next\n")
	waitFor(t, 60*time.Second, `"S next"`, func() bool { return slices.Contains(tl.sink.messages(), "S next") })
	if got, want := tl.sink.messages(), []string{"S x", long[:1024], long[1024:2048], long[2048:], " cont", "S next"}; !slices.Equal(got, want) {
		t.Fatalf("events %q\nwant   %q", got, want)
	}
	if flags := tl.sink.snapshot()[3].Log.Flags; !slices.Equal(flags, []string{"split"}) {
		t.Errorf("the rest of the long line: flags %v, want split", flags)
	}
}

func count(events []string, msg string) int {
	n := 0
	for _, e := range events {
		if e == msg {
			n++
		}
	}
	return n
}

// ackedOffset is the registry's acknowledged offset of the file name in the
// tailer's directory.
func ackedOffset(tl *tailer, name string) int64 {
	tl.t.Helper()
	fi, err := os.Stat(filepath.Join(tl.dir, name))
	if err != nil {
		tl.t.Fatal(err)
	}
	key, err := keyOf(fi)
	if err != nil {
		tl.t.Fatal(err)
	}
	e := tl.reg.Lookup(key)
	if e == nil {
		return -1
	}
	return tl.reg.Offset(e)
}

// TestMultilineEventShippedWhenTheFileIsTruncated: copytruncate while an
// event is being assembled ships it before reading the file again from 0.
func TestMultilineEventShippedWhenTheFileIsTruncated(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	first := "S " + strings.Repeat("x", 1000) // past the first KiB: read at once
	appendFile(t, log, first+"\nS a\n b\n")
	tl := newTailer(t, dir, multilineEntry(t, dir, "app.log", `{"start_pattern":"^S ","timeout":"1m"}`))
	tl.waitMessages(1)
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, log, "S c\nS d\n")
	if got := tl.waitMessages(3); !slices.Equal(got, []string{first, "S a\n b", "S c"}) {
		t.Fatalf("events %q", got)
	}
}

// BenchmarkCut measures cutting a buffer of log lines into encoded events:
// one line per event, and what an entry's settings add per line: a multiline
// rule (one line in four starts an event), include_lines or exclude_lines,
// a named timestamp format and a custom layout. `go test -bench Cut -run ^$
// ./agent`
func BenchmarkCut(b *testing.B) {
	var data []byte
	for i := 0; len(data) < 60<<10; i++ {
		if i%4 == 0 {
			data = fmt.Appendf(data, "2026-11-26 10:00:%02d ERROR request %d failed: java.lang.IllegalStateException\n", i%60, i)
		} else {
			data = fmt.Appendf(data, "2026-11-26 10:00:%02d INFO at com.example.handler.Layer%d.serve(Layer%d.java:%d)\n", i%60, i, i, i)
		}
	}
	lines := bytes.Count(data, []byte("\n"))
	for _, c := range []struct{ name, settings string }{
		{"lines", ``},
		{"multiline", `,"multiline":{"start_pattern":"^\\d{4}-\\d{2}-\\d{2} \\S+ ERROR","timeout":"1s"}`},
		{"exclude_lines", `,"exclude_lines":["DEBUG|TRACE"]`},  // matches nothing: every line scanned
		{"include_lines", `,"include_lines":["ERROR","WARN"]`}, // keeps one line in four
		{"timestamp_iso8601", `,"timestamp":"iso8601"`},        // a named format
		{"timestamp_layout", `,"timestamp":{"layout":"2006-01-02 15:04:05","timezone":"Europe/Berlin"}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			reg, err := OpenRegistry(filepath.Join(dir, "registry.json"))
			if err != nil {
				b.Fatal(err)
			}
			entry, err := reg.Attach(fileKey{1, 2}, "/var/log/app.log", fingerprint{}, "", newFile(0))
			if err != nil {
				b.Fatal(err)
			}
			entries, err := collect.ParseCollectConfig(fmt.Appendf(nil, `[{"path":"/var/log/app.log","topic":"app_log"%s}]`, c.settings))
			if err != nil {
				b.Fatal(err)
			}
			s := (&Manager{opts: ManagerOptions{MaxLineBytes: 256 << 10}}).settingsFor(entries[0])
			metrics := NewMetrics(prometheus.NewRegistry())
			env := &harvesterEnv{hostID: "web-1", reg: reg, metrics: metrics, maxMessageBytes: 1 << 20, now: time.Now,
				mem: newBatchMemory(16<<20, metrics.BytesInFlight)}
			h := newHarvester(env, opened{key: fileKey{1, 2}, path: "/var/log/app.log"}, entry, s)
			h.buf = make([]byte, len(data))
			now := time.Now()
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			ctx := context.Background()
			for range b.N {
				batch := &batchBuilder{mem: env.mem}
				copy(h.buf, data)
				h.r, h.w, h.pending = 0, len(data), 0
				h.offset += int64(len(data))
				for {
					full, err := h.cut(ctx, batch, now, cutLines)
					if err != nil {
						b.Fatal(err)
					}
					batch.discard()
					if !full {
						break
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
		})
	}
}

func TestDropCRs(t *testing.T) {
	for in, want := range map[string]string{
		"a":            "a",
		"a\r":          "a",
		"a\r\n b\r":    "a\n b",
		"a\r\n b\r\nc": "a\n b\nc",
		"a\rb\n c":     "a\rb\n c", // a lone \r stays
	} {
		if got := string(dropCRs([]byte(in))); got != want {
			t.Errorf("dropCRs(%q) = %q, want %q", in, got, want)
		}
	}
}
