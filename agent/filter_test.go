package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/logagent/logagent/collect"
)

// parsedEntry is one collect entry as the agent gets it: validated, its
// patterns compiled.
func parsedEntry(t *testing.T, json string) collect.Entry {
	t.Helper()
	entries, err := collect.ParseCollectConfig([]byte("[" + json + "]"))
	if err != nil {
		t.Fatal(err)
	}
	return entries[0]
}

// TestLineFiltersDropEventsAndMoveTheOffset: include_lines keeps only what
// matches, exclude_lines then drops, both on whole multiline events; what
// is dropped is counted by reason and its bytes are acknowledged, also when
// a batch holds nothing else.
func TestLineFiltersDropEventsAndMoveTheOffset(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	e := parsedEntry(t, fmt.Sprintf(`{"path":%q,"topic":"app_log","include_lines":["ERROR","WARN"],"exclude_lines":["healthcheck"],
		"multiline":{"start_pattern":"^\\d{4}-","timeout":"50ms"}}`, path))
	data := "2026-12-04 INFO started\n" +
		"2026-12-04 ERROR payment failed\n  at pay()\n" +
		"2026-12-04 WARN healthcheck slow\n" +
		"2026-12-04 INFO trace with ERROR in its second line\n  ERROR here\n" +
		"2026-12-04 WARN disk 91%\n"
	appendFile(t, path, data)
	tl := newTailer(t, dir, e)
	got := tl.waitMessages(3)
	want := []string{"2026-12-04 ERROR payment failed\n  at pay()", "2026-12-04 INFO trace with ERROR in its second line\n  ERROR here", "2026-12-04 WARN disk 91%"}
	waitFor(t, 10*time.Second, "every byte acknowledged", func() bool { return ackedOffset(tl, "app.log") == int64(len(data)) })
	if got = tl.sink.messages(); !slices.Equal(got, want) {
		t.Fatalf("shipped %q, want %q", got, want)
	}
	dropped := func(reason string) float64 { return testutilCounter(tl.metrics.EventsDropped.WithLabelValues(reason)) }
	if n, x := dropped(collect.DropNotIncluded), dropped(collect.DropExcluded); n != 1 || x != 1 {
		t.Errorf("dropped: not_included %v, excluded %v; want 1 and 1", n, x)
	}

	// A burst of nothing but dropped events still moves the offset.
	more := "2026-12-04 INFO a\n2026-12-04 INFO b\n2026-12-04 WARN healthcheck ok\n"
	appendFile(t, path, more)
	waitFor(t, 10*time.Second, "the dropped burst acknowledged", func() bool { return ackedOffset(tl, "app.log") == int64(len(data)+len(more)) })
	if n := tl.sink.count(); n != 3 {
		t.Fatalf("%d events shipped, want still 3", n)
	}
}

// TestIgnoreOlder: a file first seen after ignore_older without a change is
// registered at its end; what it grows by is read, and a recent file is read
// from the beginning.
func TestIgnoreOlder(t *testing.T) {
	dir := t.TempDir()
	old, fresh := filepath.Join(dir, "old.log"), filepath.Join(dir, "fresh.log")
	appendFile(t, old, lines("old", 0, 5))
	long := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	appendFile(t, fresh, lines("fresh", 0, 2))
	tl := newTailer(t, dir, parsedEntry(t, fmt.Sprintf(`{"path":%q,"topic":"app_log","ignore_older":"24h"}`, filepath.Join(dir, "*.log"))))
	tl.waitMessages(2)
	waitFor(t, 10*time.Second, "the old file registered at its end", func() bool { return ackedOffset(tl, "old.log") == int64(len(lines("old", 0, 5))) })
	appendFile(t, old, lines("old", 5, 6))
	got := tl.waitMessages(3)
	if !slices.Equal(got, []string{"fresh-000000", "fresh-000001", "old-000005"}) && !slices.Equal(got, []string{"old-000005", "fresh-000000", "fresh-000001"}) {
		t.Fatalf("shipped %q, want fresh's two lines and old's new one", got)
	}
}

// TestRecursiveGlob: "**" finds files at any depth below the pattern's
// static directory, also in directories made later, and an exclude with
// "**" keeps a subtree out.
func TestRecursiveGlob(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, line string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		appendFile(t, p, line+"\n")
	}
	write("a.log", "a")
	write("x/b.log", "b")
	write("x/y/c.log", "c")
	write("x/skip/d.log", "d")
	write("x/y/c.txt", "txt")
	e := parsedEntry(t, fmt.Sprintf(`{"path":%q,"topic":"t","exclude":[%q]}`, filepath.Join(dir, "**", "*.log"), filepath.Join(dir, "x", "skip", "**")))
	tl := newTailer(t, dir, e)
	tl.waitDistinct(map[string]bool{"a": true, "b": true, "c": true})
	write("new/deeper/e.log", "e")
	tl.waitDistinct(map[string]bool{"e": true})
	got := tl.sink.messages()
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b", "c", "e"}) {
		t.Fatalf("shipped %q, want a, b, c and e", got)
	}
}
