package agent

import (
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

func TestPartialLineWaitsForItsNewline(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendFile(t, log, "one\r\ntw")
	tl := newTailer(t, dir, entry(dir, "app.log"))
	tl.waitMessages(1)
	// Stopping waits for the harvester: what it would ship of "tw", when
	// reading it or when stopping, is shipped by then.
	tl.stop()
	if got := tl.sink.messages(); !slices.Equal(got, []string{"one"}) {
		t.Fatalf("before the newline: %q", got)
	}
	if off := ackedOffset(tl, "app.log"); off != 5 {
		t.Fatalf("acked offset %d with a partial line, want 5", off)
	}
	tl.start(testOptions(), []collect.Entry{entry(dir, "app.log")})
	appendFile(t, log, "o\n")
	if got := tl.waitMessages(2); !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("after the newline: %q", got)
	}
	ev := tl.sink.snapshot()[1]
	if ev.Log.Offset != 5 || ev.Log.File.Path != log || ev.Key != "test-host"+log {
		t.Fatalf("second event = %+v", ev)
	}
}

func TestLongLineIsSplitNotDropped(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("é", 700) // 1400 bytes, max_line_bytes is 1024
	appendFile(t, filepath.Join(dir, "app.log"), long+"\nshort\n")
	tl := newTailer(t, dir, entry(dir, "app.log"))
	got := tl.waitMessages(3)
	if got[0]+got[1] != long || got[2] != "short" {
		t.Fatalf("pieces do not add up: %d + %d bytes, then %q", len(got[0]), len(got[1]), got[2])
	}
	evs := tl.sink.snapshot()
	for i, ev := range evs[:2] {
		if !slices.Contains(ev.Log.Flags, "split") || slices.Contains(ev.Log.Flags, "invalid_utf8") {
			t.Errorf("piece %d flags = %v (a split must not cut a character)", i, ev.Log.Flags)
		}
	}
	if evs[1].Log.Offset != int64(len(got[0])) || len(evs[2].Log.Flags) != 0 {
		t.Fatalf("offsets/flags: %+v", evs)
	}
}

func TestInvalidUTF8IsEscapedAndFlagged(t *testing.T) {
	dir := t.TempDir()
	appendFile(t, filepath.Join(dir, "app.log"), "caf\xe9 \x00\n")
	tl := newTailer(t, dir, entry(dir, "app.log"))
	tl.waitMessages(1)
	ev := tl.sink.snapshot()[0]
	if ev.Message != `caf\xe9 `+"\x00" || !slices.Equal(ev.Log.Flags, []string{"invalid_utf8"}) {
		t.Fatalf("event = %q flags %v", ev.Message, ev.Log.Flags)
	}
}

func TestRawFormatShipsTheBytes(t *testing.T) {
	dir := t.TempDir()
	appendFile(t, filepath.Join(dir, "app.log"), "raw \xff line\n")
	e := entry(dir, "app.log")
	e.Format = collect.FormatRaw
	tl := newTailer(t, dir, e)
	tl.waitMessages(1)
	ev := tl.sink.snapshot()[0]
	if ev.Raw != "raw \xff line" || ev.Format != "raw" || len(ev.ID) != 32 {
		t.Fatalf("raw event = %+v", ev)
	}
}

func TestTimestampFromLine(t *testing.T) {
	dir := t.TempDir()
	appendFile(t, filepath.Join(dir, "access.log"), `1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1`+"\n")
	e := entry(dir, "access.log")
	e.Timestamp = collect.Timestamp{Format: collect.TimestampNginx}
	tl := newTailer(t, dir, e)
	tl.waitMessages(1)
	if raw := tl.sink.snapshot()[0].Raw; !strings.HasPrefix(raw, `{"@timestamp":"2000-10-10T20:55:36.000000000Z"`) {
		t.Fatalf("envelope = %s", raw)
	}
}

func TestTruncationRestartsAtZeroWithNewIDs(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendFile(t, log, lines("a", 0, 10))
	tl := newTailer(t, dir, entry(dir, "app.log"))
	tl.waitMessages(10)
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, log, lines("b", 0, 3))
	got := tl.waitMessages(13)
	if !slices.Equal(got[10:], strings.Fields(lines("b", 0, 3))) {
		t.Fatalf("after truncation: %q", got[10:])
	}
	ids := map[string]bool{}
	for _, ev := range tl.sink.snapshot() {
		if ids[ev.ID] {
			t.Fatalf("event id %s reused after truncation", ev.ID)
		}
		ids[ev.ID] = true
	}
}

// A file cut back to a shorter length keeps its first bytes (truncate -s,
// or a tool that rewrites the same header), so only the size tells: it is
// read again from 0 under a new origin, and what is appended after the cut
// ships although the file never regrows to the old offset.
func TestTruncationKeepingTheStartIsNoticed(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendFile(t, log, lines("a", 0, 200)) // 2 KiB: a full fingerprint
	tl := newTailer(t, dir, entry(dir, "app.log"))
	tl.waitMessages(200)
	if err := os.Truncate(log, int64(len(lines("a", 0, 150)))); err != nil {
		t.Fatal(err)
	}
	appendFile(t, log, lines("b", 0, 3))
	tl.waitLine("b-000002")
	evs := tl.sink.snapshot()
	if evs[200].Message != "a-000000" || evs[200].ID == evs[0].ID {
		t.Fatalf("after the cut, first event %q id %s (first before: %s): want the file again from 0 under a new id",
			evs[200].Message, evs[200].ID, evs[0].ID)
	}
}

func TestDeletedFileIsReadToItsEndWithTrailingFragment(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendFile(t, log, lines("a", 0, 5))
	tl := newTailer(t, dir, entry(dir, "app.log"))
	tl.waitMessages(5)
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	// The writer still holds the deleted file and writes on, then leaves a fragment.
	if _, err := f.WriteString(lines("a", 5, 8) + "tail-without-newline"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got := tl.waitMessages(9)
	want := append(strings.Fields(lines("a", 0, 8)), "tail-without-newline")
	if !slices.Equal(got, want) {
		t.Fatalf("got %q", got)
	}
	waitFor(t, 5*time.Second, "the deleted file to be closed", func() bool {
		return testutilGauge(tl.metrics.FilesOpen) == 0
	})
}

func TestUnreadableFileIsReportedOthersShip(t *testing.T) {
	dir := t.TempDir()
	// Tests run as root, which reads any file; /proc/self/mem fails to read at
	// offset 0 for everyone.
	if err := os.Symlink("/proc/self/mem", filepath.Join(dir, "bad.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "dir.log"), 0o755); err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(dir, "good.log"), "fine\n")
	tl := newTailer(t, dir, entry(dir, "*.log"))
	tl.waitMessages(1)
	waitFor(t, 5*time.Second, "errors in status", func() bool {
		errs := 0
		for _, st := range tl.mgr.Status() {
			if st.LastError != "" {
				errs++
			}
		}
		return errs == 2
	})
	if testutilCounter(tl.metrics.FileErrors) != 2 {
		t.Fatalf("file_errors_total = %v, want 2 (each reported once)", testutilCounter(tl.metrics.FileErrors))
	}
}

func TestLinesAroundMaxLineBytes(t *testing.T) {
	dir := t.TempDir()
	// The entry's limit is far above the 64 KiB read buffer, which must grow.
	const max = 128 << 10 // the read buffer doubles to exactly this: a line filling it must split
	sizes := []int{max, max + 1, 2 * max, 3*max - 1, 10}
	var want []string
	var data strings.Builder
	for i, n := range sizes {
		line := strings.Repeat(string(rune('a'+i)), n)
		data.WriteString(line + "\n")
		for len(line) > max {
			want = append(want, line[:max])
			line = line[max:]
		}
		want = append(want, line)
	}
	appendFile(t, filepath.Join(dir, "app.log"), data.String())
	e := entry(dir, "app.log")
	e.MaxLineBytes = max
	tl := newTailer(t, dir, e)
	got := tl.waitMessages(len(want))
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d: %d bytes, want %d", i, len(got[i]), len(want[i]))
		}
	}
}

// TestTruncationFlushesCutLinesUnderTheOldOrigin: lines cut from the old
// content but not yet sent when a truncation is found are shipped and acked
// under the old file's entry; the new content starts at 0 under a new one.
func TestTruncationFlushesCutLinesUnderTheOldOrigin(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, lines(strings.Repeat("o", 90), 0, 1000)) // 98 KB
	reg, err := OpenRegistry(filepath.Join(dir, "registry.json"))
	if err != nil {
		t.Fatal(err)
	}
	sink := &recordingSink{}
	metrics := NewMetrics(prometheus.NewRegistry())
	env := &harvesterEnv{hostID: "h", reg: reg, ids: &identities{reg: reg, log: testLogger(t)}, sink: sink, metrics: metrics, log: testLogger(t),
		mem:          newBatchMemory(16<<20, metrics.BytesInFlight),
		pollInterval: time.Millisecond, rotateWait: time.Second, closeInactive: time.Minute, maxMessageBytes: 1 << 20, now: time.Now}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	key, _ := keyOf(fi)
	fp, _ := readFingerprint(f, fingerprintBytes)
	old, err := reg.Attach(key, path, fp, "", newFile(0))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarvester(env, opened{f: f, key: key, path: path, size: fi.Size()}, old, &fileSettings{input: path, topic: "t", maxLine: 1024})
	b := &batchBuilder{mem: env.mem}
	if err := h.takeBuffer(context.Background()); err != nil {
		t.Fatal(err)
	}
	n, _ := h.fill()
	if err := h.drain(context.Background(), b, time.Now(), cutLines); err != nil {
		t.Fatal(err)
	}
	cut := len(b.msgs)
	if cut == 0 || sink.count() != 0 {
		t.Fatalf("setup: %d lines cut, %d sent", cut, sink.count())
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "new-partial")
	restarted, err := h.handleTruncation(context.Background(), b, time.Now())
	if err != nil || !restarted {
		t.Fatalf("truncation not handled: %v %v", restarted, err)
	}
	if sink.count() != cut {
		t.Fatalf("%d of %d cut lines sent", sink.count(), cut)
	}
	lineLen := int64(len(strings.Split(lines(strings.Repeat("o", 90), 0, 1), "\n")[0]) + 1)
	if got := reg.Offset(old); got != int64(cut)*lineLen || got > int64(n) {
		t.Fatalf("old entry acked at %d, want %d", got, int64(cut)*lineLen)
	}
	if e := reg.Lookup(key); e == old || reg.Offset(e) != 0 {
		t.Fatalf("new content not under a new entry at 0: %+v", e)
	}
}

func TestBatchesStayWithinLimitsForTinyLines(t *testing.T) {
	dir := t.TempDir()
	appendFile(t, filepath.Join(dir, "app.log"), strings.Repeat("\n", 20000))
	tl := newTailer(t, dir, entry(dir, "app.log"))
	tl.waitMessages(20000)
	tl.sink.mu.Lock()
	defer tl.sink.mu.Unlock()
	if tl.sink.maxBatch > batchMaxLines {
		t.Fatalf("a batch of %d messages; the limit is %d", tl.sink.maxBatch, batchMaxLines)
	}
}

// A collected path that does not exist is reported in the status (so a typo
// shows in logctl status) and read from its start once it appears.
func TestMissingFileIsReportedThenRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "later.log")
	tl := newTailer(t, dir, entry(dir, "later.log"))
	waitFor(t, 5*time.Second, "the missing file in the status", func() bool {
		st := tl.mgr.Status()
		return len(st) == 1 && st[0].Path == path && strings.Contains(st[0].LastError, "no such file")
	})
	appendFile(t, path, "first\nsecond\n")
	if got := tl.waitMessages(2); !slices.Equal(got, []string{"first", "second"}) {
		t.Fatalf("got %q", got)
	}
	waitFor(t, 5*time.Second, "the error cleared", func() bool {
		st := tl.mgr.Status()
		return len(st) == 1 && st[0].LastError == ""
	})
}

// More files than files.max_open_files (100 in the harness): the ones
// waiting for a descriptor are an expected wait, not file errors, and idle
// files are closed early to make room, so every file ships promptly rather
// than after close_inactive.
func TestMoreFilesThanDescriptors(t *testing.T) {
	dir := t.TempDir()
	const n = 250
	var want []string
	for i := range n {
		// Two lines past the 1 KiB fingerprint, each under max_line_bytes.
		a, b := fmt.Sprintf("file-%03d-a-%s", i, strings.Repeat("x", 600)), fmt.Sprintf("file-%03d-b-%s", i, strings.Repeat("y", 600))
		appendFile(t, filepath.Join(dir, fmt.Sprintf("f%03d.log", i)), a+"\n"+b+"\n")
		want = append(want, a, b)
	}
	slices.Sort(want)
	tl := newTailer(t, dir, entry(dir, "*.log"))
	waitFor(t, 30*time.Second, "every file shipped", func() bool { return len(tl.sink.messages()) >= len(want) })
	got := tl.sink.messages()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("got %d messages, want each of %d lines once", len(got), len(want))
	}
	if errs := testutilCounter(tl.metrics.FileErrors); errs != 0 {
		t.Errorf("file_errors_total = %v: waiting for a descriptor is not an error", errs)
	}
	waitFor(t, 10*time.Second, "no file waiting", func() bool { return testutilGauge(tl.metrics.FilesWaiting) == 0 })
}

// A file that went missing and came back without being reopened (closed
// after close_inactive, already shipped to its end) loses its "no such
// file" status too.
func TestMissingStatusClearsForAClosedFileThatReturns(t *testing.T) {
	dir := t.TempDir()
	path, away := filepath.Join(dir, "app.log"), filepath.Join(dir, "away")
	appendFile(t, path, "one\n")
	opts := testOptions()
	opts.CloseInactive = 200 * time.Millisecond
	tl := newTailerWith(t, opts, dir, entry(dir, "app.log"))
	tl.waitMessages(1)
	waitFor(t, 5*time.Second, "the idle file closed", func() bool { return testutilGauge(tl.metrics.FilesOpen) == 0 })
	lastError := func() string {
		if st := tl.mgr.Status(); len(st) == 1 {
			return st[0].LastError
		}
		return "no status row"
	}
	if err := os.Rename(path, away); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "no such file", func() bool { return strings.Contains(lastError(), "no such file") })
	if err := os.Rename(away, path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the error cleared", func() bool { return lastError() == "" })
}
