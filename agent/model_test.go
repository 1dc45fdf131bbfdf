package agent

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logagent/logagent/collect"
)

// TestModelRandomFileActions is a model-based test in the spirit of Vector's
// file watcher tests: random sequences of writes, partial writes, rotations,
// truncations, deletes, pauses, agent restarts (graceful or crash) and copies
// made bit by bit (copytruncate, or a plain copy) are applied to real files
// while the tailer runs, and to a model that knows which lines must arrive.
// Lines written since the last pause into a file that is then truncated or
// deleted may be lost (the tailer may not have read them yet), unless a copy
// has them; every other line must arrive, no foreign line may appear, and a
// line shipped twice (after a crash, or from a copy) must carry the same
// event id.
func TestModelRandomFileActions(t *testing.T) { runSeeds(t, false) }

// TestModelRandomFileActionsMultiline is the same with a multiline rule: a
// third of the lines start an event, the others continue it. Each line
// must arrive inside an event, always the same one: one id, one text.
func TestModelRandomFileActionsMultiline(t *testing.T) { runSeeds(t, true) }

func runSeeds(t *testing.T, multiline bool) {
	seeds := []uint64{1, 2, 3, 4, 5, 6}
	if testing.Short() {
		seeds = seeds[:2]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, seed, 60, multiline) })
	}
}

type fileModel struct {
	t       *testing.T
	rng     *rand.Rand
	dir     string
	path    string
	f       *os.File
	gen     int
	seq     int
	partial string          // written without newline yet
	must    map[string]bool // lines that must arrive
	mayLose map[string]bool // lines that may be lost
	unsafe  []string        // written since the last pause, to the current file
	rotated int
	// multiline: lines are "S …" (starting an event) or " …" (continuing).
	multiline bool
	entries   []collect.Entry
	// copying is a copy of the current file being written bit by bit, at a
	// path the second entry matches; copies counts them.
	copying *fileCopy
	copies  int
	// copyable: the current file had its first KiB when the last pause
	// ended, so the tailer knows its full fingerprint. (A copy of a shorter
	// file is not recognised: README, "Files, rotation and identity".)
	copyable bool
}

// fileCopy is a copy in progress: the original's content when it began, and
// how much of it is written.
type fileCopy struct {
	f       *os.File
	data    []byte
	written int
	lines   map[string]bool // the lines it holds once complete
}

func runModel(t *testing.T, seed uint64, steps int, multiline bool) {
	dir := t.TempDir()
	m := &fileModel{t: t, rng: rand.New(rand.NewPCG(seed, seed)), dir: dir, path: filepath.Join(dir, "app.log"),
		must: map[string]bool{}, mayLose: map[string]bool{}, multiline: multiline}
	m.reopen()
	e := entry(dir, "app.log")
	if multiline {
		e = multilineEntry(t, dir, "app.log", `{"start_pattern":"^S ","timeout":"50ms"}`)
	}
	m.entries = []collect.Entry{e, entry(dir, "copy-*.log")}
	tl := newTailer(t, dir, m.entries...)
	tl.sink.delayAck.Store(true)
	var trace []string
	for step := 0; step < steps; step++ {
		// Without a multiline rule, a fifth of the steps work on copies. (A
		// copy of a file with an event still open would end that event where
		// the copy ends, under the id the original's longer event has.)
		if !multiline && m.rng.IntN(5) == 0 {
			if op := m.copyStep(tl); op != "" {
				trace = append(trace, op)
			}
			continue
		}
		switch op := m.rng.IntN(20); {
		case op < 8:
			m.writeLines(1 + m.rng.IntN(50))
			trace = append(trace, "write")
		case op < 10:
			m.writePartial()
			trace = append(trace, "partial")
		case op < 12:
			m.completePartial()
			m.rotate()
			trace = append(trace, "rotate")
		case op < 13:
			m.completePartial()
			m.truncate()
			trace = append(trace, "truncate")
		case op < 14:
			m.completePartial()
			m.delete()
			trace = append(trace, "delete")
		case op < 17:
			m.pause(tl)
			trace = append(trace, "pause")
		case op < 18:
			tl.restart(m.entries...)
			tl.sink.delayAck.Store(true)
			trace = append(trace, "restart")
		default:
			m.crash(tl)
			trace = append(trace, "crash")
		}
	}
	m.completePartial()
	m.finishCopy()
	m.pause(tl)
	events := tl.sink.snapshot()
	all := map[string]bool{}
	for l := range m.must {
		all[l] = true
	}
	for l := range m.mayLose {
		all[l] = true
	}
	t.Logf("actions: %v", trace)
	if multiline {
		checkEvents(t, events, all)
	} else {
		checkDelivery(t, events, all)
	}
	got := linesShipped(events)
	for l := range m.must {
		if !got[l] {
			t.Fatalf("line %q lost; actions: %v", l, trace)
		}
	}
}

func (m *fileModel) reopen() {
	f, err := os.OpenFile(m.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		m.t.Fatal(err)
	}
	m.f = f
	m.gen++
	m.copyable = false
}

func (m *fileModel) write(s string) {
	if _, err := m.f.WriteString(s); err != nil {
		m.t.Fatal(err)
	}
}

func (m *fileModel) nextLine() string {
	m.seq++
	prefix := ""
	if m.multiline {
		prefix = " "
		if m.rng.IntN(3) == 0 {
			prefix = "S "
		}
	}
	return fmt.Sprintf("%sg%d-l%d-%s", prefix, m.gen, m.seq, "padding-to-make-lines-realistic")
}

func (m *fileModel) writeLines(n int) {
	m.completePartial()
	var s string
	for i := 0; i < n; i++ {
		l := m.nextLine()
		m.must[l] = true
		m.unsafe = append(m.unsafe, l)
		s += l + "\n"
	}
	m.write(s)
}

func (m *fileModel) writePartial() {
	if m.partial != "" {
		return
	}
	m.partial = m.nextLine()
	m.write(m.partial[:len(m.partial)/2])
}

func (m *fileModel) completePartial() {
	if m.partial == "" {
		return
	}
	m.write(m.partial[len(m.partial)/2:] + "\n")
	m.must[m.partial] = true
	m.unsafe = append(m.unsafe, m.partial)
	m.partial = ""
}

// rotate renames the file away; the tailer reads the renamed file to its end,
// so its lines stay required — unless the tailer never opened it (written and
// renamed before a scan), which counts as unsafe.
func (m *fileModel) rotate() {
	m.rotated++
	if err := os.Rename(m.path, fmt.Sprintf("%s.%d", m.path, m.rotated)); err != nil {
		m.t.Fatal(err)
	}
	m.f.Close()
	m.markUnsafeMayLose()
	m.reopen()
}

func (m *fileModel) truncate() {
	if err := m.f.Truncate(0); err != nil {
		m.t.Fatal(err)
	}
	m.markUnsafeMayLose()
	m.gen++ // new content, new line names
	m.copyable = false
}

func (m *fileModel) delete() {
	if err := os.Remove(m.path); err != nil {
		m.t.Fatal(err)
	}
	m.f.Close()
	m.markUnsafeMayLose()
	m.reopen()
}

func (m *fileModel) markUnsafeMayLose() {
	for _, l := range m.unsafe {
		delete(m.must, l)
		m.mayLose[l] = true
	}
	m.unsafe = nil
}

// pause waits until every required line arrived: afterwards the current
// file's lines are read and safe from truncation.
func (m *fileModel) pause(tl *tailer) {
	waitFor(m.t, 10*time.Second, "all required lines", func() bool {
		got := linesShipped(tl.sink.snapshot())
		for l := range m.must {
			if !got[l] {
				return false
			}
		}
		return true
	})
	m.unsafe = nil
	fi, err := m.f.Stat()
	m.copyable = err == nil && fi.Size() >= fingerprintBytes && m.partial == ""
}

// copyStep starts a copy of the current file, writes a piece of the one in
// progress (half the time waiting until the tailer has seen it so far), or,
// once it is complete, ends it: with copytruncate half the time. It returns
// what it did, or "" when it could do nothing.
func (m *fileModel) copyStep(tl *tailer) string {
	c := m.copying
	switch {
	case c == nil && m.copyable:
		m.startCopy()
		return "copy-start"
	case c == nil:
		return ""
	case c.written < len(c.data):
		// The first piece stays above the shortest mark and below a KiB:
		// the tailer meets the copy before it can tell it is one.
		n := markLengths[0] + m.rng.IntN(fingerprintBytes-markLengths[0])
		if c.written > 0 {
			n = 1 + m.rng.IntN(len(c.data)/2)
		}
		n = min(n, len(c.data)-c.written)
		if _, err := c.f.Write(c.data[c.written : c.written+n]); err != nil {
			m.t.Fatal(err)
		}
		c.written += n
		if m.rng.IntN(2) == 0 {
			tl.waitSeenAt(c.f.Name(), int64(c.written))
			return fmt.Sprintf("copy-%dB-seen", n)
		}
		return fmt.Sprintf("copy-%dB", n)
	case m.rng.IntN(2) == 0:
		m.finishCopy()
		return "copy-done"
	default:
		m.finishCopy()
		m.truncateAfterCopy(c)
		return "copytruncate"
	}
}

// startCopy takes the current file's content, whole lines only (the copy's
// lines are then shipped to its end), to copy it bit by bit.
func (m *fileModel) startCopy() {
	m.completePartial()
	data, err := os.ReadFile(m.path)
	if err != nil {
		m.t.Fatal(err)
	}
	m.copies++
	f, err := os.Create(filepath.Join(m.dir, fmt.Sprintf("copy-%d.log", m.copies)))
	if err != nil {
		m.t.Fatal(err)
	}
	c := &fileCopy{f: f, data: data, lines: map[string]bool{}}
	for l := range strings.SplitSeq(strings.TrimSuffix(string(data), "\n"), "\n") {
		c.lines[l] = true
	}
	m.copying = c
}

// finishCopy writes what is left of the copy in progress.
func (m *fileModel) finishCopy() {
	c := m.copying
	if c == nil {
		return
	}
	if _, err := c.f.Write(c.data[c.written:]); err != nil {
		m.t.Fatal(err)
	}
	c.f.Close()
	m.copying = nil
}

// truncateAfterCopy is copytruncate's second half: lines written since the
// last pause may be lost, unless the copy has them.
func (m *fileModel) truncateAfterCopy(c *fileCopy) {
	m.completePartial()
	m.unsafe = slices.DeleteFunc(m.unsafe, func(l string) bool { return c.lines[l] })
	m.truncate()
}

// crash stops the tailer without the final registry save: the registry is
// whatever the last periodic save wrote (here: the last restart's), so lines
// are re-shipped — with the same ids.
func (m *fileModel) crash(tl *tailer) {
	tl.cancel()
	<-tl.done
	tl.cancel = nil
	tl.sink.pending.Wait()
	tl.start(testOptions(), m.entries)
	tl.sink.delayAck.Store(true)
}

// linesShipped is every line of every event (a multiline event holds
// several).
func linesShipped(events []recordedEvent) map[string]bool {
	got := map[string]bool{}
	for _, ev := range events {
		for l := range strings.SplitSeq(ev.Message, "\n") {
			got[l] = true
		}
	}
	return got
}

// checkEvents checks multiline events: every line is one that was written,
// and a line shipped twice (after a crash) is in the same event both times,
// same id and same text, so the search engine holds it once.
func checkEvents(t *testing.T, events []recordedEvent, want map[string]bool) {
	t.Helper()
	eventOf := map[string]string{} // line -> id
	textOf := map[string]string{}  // id -> message
	for _, ev := range events {
		if prev, ok := textOf[ev.ID]; ok && prev != ev.Message {
			t.Fatalf("id %s shipped as %q and as %q", ev.ID, prev, ev.Message)
		}
		textOf[ev.ID] = ev.Message
		for l := range strings.SplitSeq(ev.Message, "\n") {
			if !want[l] {
				t.Fatalf("unexpected line %q in event %q", l, ev.Message)
			}
			if prev, ok := eventOf[l]; ok && prev != ev.ID {
				t.Fatalf("line %q shipped in two events, %s (%q) and %s (%q)", l, prev, textOf[prev], ev.ID, ev.Message)
			}
			eventOf[l] = ev.ID
		}
	}
}
