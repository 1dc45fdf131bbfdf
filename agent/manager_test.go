package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
)

func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

func TestNewFilesMatchingAGlobArePickedUp(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "svc-a")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// Two entries: a watched directory, and a wildcard directory that only
	// the rescan finds.
	tl := newTailer(t, dir, entry(dir, "*.log"), entry(dir, "svc-*/*.log"))
	appendFile(t, filepath.Join(dir, "new.log"), "via fsnotify\n")
	tl.waitMessages(1)
	appendFile(t, filepath.Join(sub, "x.log"), "via rescan\n")
	appendFile(t, filepath.Join(dir, "skip.log.gz"), "compressed rotations are never read\n")
	got := tl.waitMessages(2)
	if !slices.Equal(got, []string{"via fsnotify", "via rescan"}) {
		t.Fatalf("got %q", got)
	}
}

func TestFirstEntryWinsOverlap(t *testing.T) {
	dir := t.TempDir()
	appendFile(t, filepath.Join(dir, "app.log"), "x\n")
	first := entry(dir, "app.log")
	first.Topic = "first"
	tl := newTailer(t, dir, first, entry(dir, "*.log"))
	tl.waitMessages(1)
	// A harvester reads its file in order: once the sentinel is shipped,
	// whatever would ship "x" again has had its read.
	appendFile(t, filepath.Join(dir, "app.log"), "sentinel\n")
	tl.waitLine("sentinel")
	tl.stop()
	evs := tl.sink.snapshot()
	if len(evs) != 2 || evs[0].Topic != "first" || evs[1].Topic != "first" {
		t.Fatalf("events = %+v, want x and the sentinel once, to topic first", evs)
	}
}

func TestStartEndSkipsExistingContentOnly(t *testing.T) {
	dir := t.TempDir()
	appendFile(t, filepath.Join(dir, "old.log"), "history\n")
	e := entry(dir, "*.log")
	e.Start = collect.StartEnd
	tl := newTailer(t, dir, e)
	waitFor(t, 5*time.Second, "old.log opened", func() bool { return testutilGauge(tl.metrics.FilesOpen) == 1 })
	appendFile(t, filepath.Join(dir, "old.log"), "appended\n")
	appendFile(t, filepath.Join(dir, "new.log"), "new file from its start\n")
	got := tl.waitMessages(2)
	slices.Sort(got)
	if !slices.Equal(got, []string{"appended", "new file from its start"}) {
		t.Fatalf("got %q", got)
	}
}

func TestRemovedEntryStopsItsHarvestersWithoutLeaks(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.log", "b.log", "c.log"} {
		appendFile(t, filepath.Join(dir, n), "line\n")
	}
	before := openFDs(t)
	tl := newTailer(t, dir, entry(dir, "*.log"))
	tl.waitMessages(3)
	if open := testutilGauge(tl.metrics.FilesOpen); open != 3 {
		t.Fatalf("files open = %v", open)
	}
	tl.mgr.Apply(nil)
	waitFor(t, 5*time.Second, "harvesters stopped", func() bool { return testutilGauge(tl.metrics.FilesOpen) == 0 })
	waitFor(t, 5*time.Second, "descriptors closed", func() bool { return openFDs(t) <= before+2 }) // +fsnotify
	appendFile(t, filepath.Join(dir, "a.log"), "not shipped\n")
	// Re-added under another topic, the entry resumes from the registry:
	// only the new line, and only to the new topic. A harvester the removal
	// leaked would ship it (and the sentinel after it) to the old one.
	again := entry(dir, "*.log")
	again.Topic = "again"
	tl.mgr.Apply([]collect.Entry{again})
	tl.waitLine("not shipped")
	appendFile(t, filepath.Join(dir, "a.log"), "sentinel\n")
	tl.waitLine("sentinel")
	tl.stop()
	evs := tl.sink.snapshot()[3:]
	if len(evs) != 2 || evs[0].Message != "not shipped" || evs[0].Topic != "again" || evs[1].Topic != "again" {
		t.Fatalf("events after re-adding: %+v, want the new line and the sentinel once each, to topic again", evs)
	}
}

func TestInactiveFileIsClosedAndReopened(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendFile(t, log, "one\n")
	tl := newTailer(t, dir)
	tl.stop()
	opts := testOptions()
	opts.CloseInactive = 100 * time.Millisecond
	tl.start(opts, []collect.Entry{entry(dir, "app.log")})
	tl.waitMessages(1)
	waitFor(t, 5*time.Second, "inactive file closed", func() bool { return testutilGauge(tl.metrics.FilesOpen) == 0 })
	appendFile(t, log, "two\n")
	if got := tl.waitMessages(2); got[1] != "two" {
		t.Fatalf("after reopening: %q", got)
	}
}

func TestMaxOpenFilesIsACap(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.log", "b.log", "c.log"} {
		appendFile(t, filepath.Join(dir, n), n+"\n")
	}
	tl := newTailer(t, dir)
	tl.stop()
	opts := testOptions()
	opts.MaxOpenFiles, opts.CloseInactive = 1, 100*time.Millisecond
	tl.start(opts, []collect.Entry{entry(dir, "*.log")})
	// One at a time, each closed when idle, all shipped in the end.
	got := tl.waitMessages(3)
	slices.Sort(got)
	if !slices.Equal(got, []string{"a.log", "b.log", "c.log"}) {
		t.Fatalf("got %q", got)
	}
	if max := testutilGauge(tl.metrics.FilesOpen); max > 1 {
		t.Fatalf("files open %v above the cap", max)
	}
}

func TestRestartResumesFromAckedOffset(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendFile(t, log, lines("a", 0, 100))
	tl := newTailer(t, dir, entry(dir, "app.log"))
	tl.waitMessages(100)
	tl.stop()
	appendFile(t, log, lines("a", 100, 110))
	if err := os.Rename(log, log+".moved"); err != nil { // renamed while the agent is down
		t.Fatal(err)
	}
	tl.start(testOptions(), []collect.Entry{entry(dir, "app.log*")})
	tl.waitMessages(110)
	// Read in order: lines read twice would come before the sentinel.
	appendFile(t, log+".moved", "sentinel\n")
	tl.waitLine("sentinel")
	if got := tl.sink.messages(); len(got) != 111 || got[100] != "a-000100" {
		t.Fatalf("%d events after restart (want 110 and the sentinel), first new %q", len(got), got[100])
	}
}

// TestStartEndIsNotReappliedAfterARestart: files that appear while the agent
// is down (rotation) are read from their start after the restart.
func TestStartEndIsNotReappliedAfterARestart(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendFile(t, log, "history\n")
	e := entry(dir, "app.log")
	e.Start = collect.StartEnd
	tl := newTailer(t, dir, e)
	waitFor(t, 5*time.Second, "app.log opened", func() bool { return testutilGauge(tl.metrics.FilesOpen) == 1 })
	tl.stop()
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, log, "written while the agent was down\n")
	tl.start(testOptions(), []collect.Entry{e})
	if got := tl.waitMessages(1); got[0] != "written while the agent was down" {
		t.Fatalf("got %q", got)
	}
}

// TestOwnStateAndDisallowedFilesAreNotRead: an entry whose glob covers the
// agent's state_dir (registry, config cache) never reads it, or the agent
// would ship its own bookkeeping, then that, without end; a file outside
// files.allowed_paths, even reached through a symbolic link from an allowed
// one, is not read either. Both show in the status with the reason, and the
// other files ship.
func TestOwnStateAndDisallowedFilesAreNotRead(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"ok", "secret"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	appendFile(t, filepath.Join(dir, "ok", "app.log"), "shipped\n")
	appendFile(t, filepath.Join(dir, "secret", "key"), "never\n")
	if err := os.Symlink(filepath.Join(dir, "secret", "key"), filepath.Join(dir, "ok", "link.log")); err != nil {
		t.Fatal(err)
	}
	opts := testOptions()
	opts.Private = []string{filepath.Join(dir, "state")}
	opts.Allows = conf.Files{AllowedPaths: []string{filepath.Join(dir, "ok", "*"), filepath.Join(dir, "state", "**")}}.Allows
	tl := newTailerWith(t, opts, dir, entry(dir, "state/*"), entry(dir, "ok/*"), entry(dir, "secret/*"))
	if err := tl.reg.Save(); err != nil { // the registry exists, with content to read
		t.Fatal(err)
	}
	reasons := map[string]string{}
	waitFor(t, 10*time.Second, "the refused files in the status", func() bool {
		for _, st := range tl.mgr.Status() {
			reasons[filepath.Base(st.Path)] = st.LastError
		}
		return reasons["registry.json"] != "" && reasons["link.log"] != "" && reasons["key"] != ""
	})
	tl.waitMessages(1)
	appendFile(t, filepath.Join(dir, "ok", "app.log"), "sentinel\n")
	if got := tl.waitMessages(2); !slices.Equal(got, []string{"shipped", "sentinel"}) {
		t.Fatalf("shipped %q, want only the allowed file's lines", got)
	}
	if !strings.Contains(reasons["registry.json"], "state_dir") || !strings.Contains(reasons["key"], "allowed_paths") ||
		!strings.Contains(reasons["link.log"], "allowed_paths") {
		t.Fatalf("status reasons: %q", reasons)
	}
}
