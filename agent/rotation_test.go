package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// checkExactlyOnceContent checks that every line in want arrived, none is
// foreign, and that event ids are unique per line (a line shipped twice must
// keep its id).
func checkDelivery(t *testing.T, events []recordedEvent, want map[string]bool) (missing int) {
	t.Helper()
	idOf := map[string]string{}
	lineOf := map[string]string{}
	for _, ev := range events {
		if !want[ev.Message] {
			t.Fatalf("unexpected event %q", ev.Message)
		}
		if prev, ok := idOf[ev.Message]; ok && prev != ev.ID {
			t.Fatalf("line %q shipped twice with different ids %s and %s", ev.Message, prev, ev.ID)
		}
		if prev, ok := lineOf[ev.ID]; ok && prev != ev.Message {
			t.Fatalf("id %s shared by %q and %q", ev.ID, prev, ev.Message)
		}
		idOf[ev.Message], lineOf[ev.ID] = ev.ID, ev.Message
	}
	for l := range want {
		if _, ok := idOf[l]; !ok {
			if missing < 3 {
				t.Logf("missing: %q", l)
			}
			missing++
		}
	}
	return missing
}

// TestRenameRotationUnderLoad writes at up to 40k lines/s and rotates by
// rename+create five times; after each rename the writer keeps writing to the
// renamed file for a moment, as a daemon does until it reopens its log.
func TestRenameRotationUnderLoad(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	tl := newTailer(t, dir, entry(dir, "app.log"))
	const rotations, perFile, lateLines = 5, 10000, 500
	pad := []byte(" " + strings.Repeat("x", 80) + "\n")
	lineOf := func(n int) []byte { return strconv.AppendInt([]byte("line-"), int64(n), 10) }
	start := time.Now()
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	buf := make([]byte, 0, 64<<10)
	// Paced at about 40k lines/s, as a busy server writes: a writer that
	// rotates every few milliseconds outruns discovery (README, "Files").
	const pace = 40000
	write := func(f *os.File, count int) { // cheap on purpose: the rate matters
		for i := 0; i < count; i++ {
			buf = append(append(buf, lineOf(n)...), pad...)
			n++
			if ahead := time.Duration(n)*time.Second/pace - time.Since(start); ahead > 0 && n%1000 == 0 {
				time.Sleep(ahead) // pacing the writer, not synchronisation
			}
			if len(buf) > 32<<10 {
				if _, err := f.Write(buf); err != nil {
					t.Fatal(err)
				}
				buf = buf[:0]
			}
		}
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
		buf = buf[:0]
	}
	for r := 0; r < rotations; r++ {
		write(f, perFile)
		if err := os.Rename(log, fmt.Sprintf("%s.%d", log, r)); err != nil {
			t.Fatal(err)
		}
		write(f, lateLines) // still the old descriptor: lands in the renamed file
		f.Close()
		if f, err = os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(f, perFile)
	f.Close()
	rate := float64(n) / time.Since(start).Seconds() // reported, not required: a loaded machine writes slower
	want := map[string]bool{}
	for i := 0; i < n; i++ {
		want[string(lineOf(i))+string(pad[:len(pad)-1])] = true
	}
	tl.waitDistinct(want)
	if missing := checkDelivery(t, tl.sink.snapshot(), want); missing != 0 {
		t.Fatalf("%d of %d lines lost", missing, len(want))
	}
	t.Logf("%d lines at %.0f lines/s over %d rotations: none lost", n, rate, rotations)
}

// TestCopyTruncateWithoutCopy: the copy is not matched, so lines written
// after the last read and before the truncation can be lost; anything read
// before is shipped. The test counts the loss and checks it is confined to
// that window.
func TestCopyTruncateWithoutCopy(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	tl := newTailer(t, dir, entry(dir, "app.log"))
	want := map[string]bool{}
	atRisk := map[string]bool{}
	n := 0
	for r := 0; r < 3; r++ {
		appendFile(t, log, lines(fmt.Sprintf("safe%d", r), 0, 1000))
		for _, l := range strings.Fields(lines(fmt.Sprintf("safe%d", r), 0, 1000)) {
			want[l] = true
		}
		n += 1000
		tl.waitMessages(n) // everything so far was read
		risky := lines(fmt.Sprintf("risky%d", r), 0, 200)
		appendFile(t, log, risky) // written, then truncated before a read may happen
		for _, l := range strings.Fields(risky) {
			want[l], atRisk[l] = true, true
		}
		copyAsideAndRename(tl, log, fmt.Sprintf("%s.%d", log, r))
		got := len(tl.sink.snapshot())
		n = got
	}
	appendFile(t, log, lines("final", 0, 10))
	for _, l := range strings.Fields(lines("final", 0, 10)) {
		want[l] = true
	}
	waitFor(t, 10*time.Second, "final lines", func() bool {
		for _, ev := range tl.sink.snapshot() {
			if ev.Message == "final-000009" {
				return true
			}
		}
		return false
	})
	events := tl.sink.snapshot()
	missing := checkDelivery(t, events, want)
	got := map[string]bool{}
	for _, ev := range events {
		got[ev.Message] = true
	}
	for l := range want {
		if !got[l] && !atRisk[l] {
			t.Fatalf("line %q lost outside the copytruncate window", l)
		}
	}
	t.Logf("copytruncate without a matched copy: %d of %d lines in the window lost", missing, len(atRisk))
}
