package agent

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copyMethod makes dst a copy of src the way some tool does.
type copyMethod struct {
	name string
	copy func(tl *tailer, src, dst string)
	// truncates: the method empties src afterwards (copytruncate).
	truncates bool
}

var copyMethods = []copyMethod{
	{name: "in place, gradually", copy: copyGradually, truncates: true},
	{name: "aside, then renamed", copy: copyAsideAndRename, truncates: true},
	{name: "cp", copy: copyWithCp},
	{name: "logrotate copytruncate", copy: copyWithLogrotate, truncates: true},
}

// TestCopyTruncateWithCopyMatched: a copy of a tailed file at a path the
// entry matches (logrotate's copytruncate with `app.log*`, or any copy)
// inherits the original's origin and acked offset however
// it comes to be — written in place bit by bit, written aside and renamed
// into place, by cp, by logrotate's copytruncate — so no line is shipped
// under two ids, and with copytruncate none is lost. The agent meets the
// copies half-written: that is where a copy used to get a new origin.
func TestCopyTruncateWithCopyMatched(t *testing.T) {
	for _, m := range copyMethods {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "app.log")
			tl := newTailer(t, dir, entry(dir, "app.log*"))
			want := map[string]bool{}
			n := 0
			for r := range 3 {
				first := ""
				var b strings.Builder
				for range 5000 {
					line := fmt.Sprintf("line-%07d %s", n, strings.Repeat("y", 60))
					n++
					want[line] = true
					b.WriteString(line + "\n")
					if first == "" {
						first = line
					}
				}
				appendFile(t, log, b.String())
				// Copies are made long after the first lines of a file were read:
				// the original's first KiB is known when its copy appears.
				tl.waitLine(first)
				m.copy(tl, log, fmt.Sprintf("%s.%d", log, r+1))
			}
			tl.waitDistinct(want)
			if missing := checkDelivery(t, tl.sink.snapshot(), want); missing != 0 {
				t.Fatalf("%d of %d lines lost", missing, len(want))
			}
		})
	}
}

// copyGradually writes the copy in place, in pieces, pausing where the
// agent sees it: short of the shortest mark, at a few dozen bytes (longer
// than a file that matches nothing is held), past its first KiB yet short
// of the original's acked offset, then the rest. Then it truncates src.
func copyGradually(tl *tailer, src, dst string) {
	data := readFile(tl.t, src)
	f, err := os.Create(dst)
	if err != nil {
		tl.t.Fatal(err)
	}
	defer f.Close()
	written := 0
	for _, upTo := range []int{markLengths[0] + 8, 2 * fingerprintBytes, len(data) / 2, len(data)} {
		if _, err := f.Write(data[written:upTo]); err != nil {
			tl.t.Fatal(err)
		}
		written = upTo
		tl.waitSeenAt(dst, int64(written))
		if written < fingerprintBytes {
			time.Sleep(2 * identityWait) // the copying pauses: part of the scenario
		}
	}
	truncate(tl.t, src)
}

// copyAsideAndRename writes the copy under a temporary name the entry
// matches too, renames it into place, then truncates src.
func copyAsideAndRename(tl *tailer, src, dst string) {
	if err := os.WriteFile(dst+".tmp", readFile(tl.t, src), 0o644); err != nil {
		tl.t.Fatal(err)
	}
	if err := os.Rename(dst+".tmp", dst); err != nil {
		tl.t.Fatal(err)
	}
	truncate(tl.t, src)
}

func copyWithCp(tl *tailer, src, dst string) {
	if out, err := exec.Command("cp", src, dst).CombinedOutput(); err != nil {
		tl.t.Fatalf("cp: %v\n%s", err, out)
	}
}

// copyWithLogrotate runs logrotate itself with copytruncate. It names the
// copy app.log.1 and shifts the older ones, so dst is ignored.
func copyWithLogrotate(tl *tailer, src, _ string) {
	dir := filepath.Dir(src)
	conf := filepath.Join(dir, "state", "logrotate.conf")
	rule := fmt.Sprintf("%s {\n  copytruncate\n  rotate 10\n  missingok\n}\n", src)
	if err := os.WriteFile(conf, []byte(rule), 0o644); err != nil {
		tl.t.Fatal(err)
	}
	cmd := exec.Command(logrotateBinary(tl.t), "--force", "--state", filepath.Join(dir, "state", "logrotate.status"), conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		tl.t.Fatalf("logrotate: %v\n%s", err, out)
	}
}

// logrotateBinary finds logrotate (scripts/deps.sh installs it; Debian puts
// it in /usr/sbin, which a user's PATH may lack).
func logrotateBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("logrotate"); err == nil {
		return p
	}
	const sbin = "/usr/sbin/logrotate"
	if _, err := os.Stat(sbin); err != nil {
		t.Fatalf("logrotate not found (run scripts/deps.sh): %v", err)
	}
	return sbin
}

// TestCopyFilledAfterARestart: the agent meets a copy half-filled, takes it
// for a copy, and restarts before the copy is complete. The copy is smaller
// than the offset it inherited, yet after the restart it must not be taken
// for a truncated file (a new origin, every line again under new ids).
func TestCopyFilledAfterARestart(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	e := entry(dir, "app.log*")
	tl := newTailer(t, dir, e)
	data := lines(strings.Repeat("z", 70), 0, 3000)
	appendFile(t, log, data)
	tl.waitMessages(3000)
	copied := log + ".1"
	appendFile(t, copied, data[:4*fingerprintBytes])
	tl.waitSeenAt(copied, 4*fingerprintBytes)
	tl.restart(e)
	fi, err := os.Stat(copied)
	if err != nil {
		t.Fatal(err)
	}
	copyKey, _ := keyOf(fi)
	tl.waitSeenAt(copied, 4*fingerprintBytes) // the restarted agent knows it again
	appendFile(t, copied, data[4*fingerprintBytes:])
	truncate(t, log)
	appendFile(t, log, "after\n")
	tl.waitLine("after")
	want := map[string]bool{"after": true}
	for _, l := range strings.Fields(data) {
		want[l] = true
	}
	if missing := checkDelivery(t, tl.sink.snapshot(), want); missing != 0 {
		t.Fatalf("%d lines lost", missing)
	}
	if got, want := tl.sink.count(), 3001; got != want {
		t.Fatalf("%d events shipped, want %d: the copy's lines were shipped again", got, want)
	}
	tl.reg.mu.Lock()
	defer tl.reg.mu.Unlock()
	for _, d := range tl.reg.detached {
		if d.Key == copyKey {
			t.Fatalf("the copy's entry was dropped after the restart, as if the file had been rewritten: %+v", d)
		}
	}
}

// waitSeenAt waits until the agent has looked at path while it was size
// bytes long (or longer), as its registry entry shows: a fingerprint that
// long, a copy's fill up to there, or the lines up to there acknowledged.
func (tl *tailer) waitSeenAt(path string, size int64) {
	tl.t.Helper()
	data := readFile(tl.t, path)
	fi, err := os.Stat(path)
	if err != nil {
		tl.t.Fatal(err)
	}
	key, err := keyOf(fi)
	if err != nil {
		tl.t.Fatal(err)
	}
	lines := int64(bytes.LastIndexByte(data[:size], '\n') + 1)
	var last RegistryEntry
	seen := func() bool {
		e := tl.reg.Lookup(key)
		if e == nil {
			return false
		}
		last = tl.reg.Snapshot(e)
		return int64(last.Len) >= min(size, fingerprintBytes) &&
			(size <= fingerprintBytes || last.Filled >= size || last.Filled == 0 && last.Offset >= lines)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !seen() {
		if time.Now().After(deadline) {
			tl.t.Fatalf("the agent did not see %s at %d bytes; its entry: %+v", path, size, last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitLine waits until line was shipped.
func (tl *tailer) waitLine(line string) {
	tl.t.Helper()
	waitFor(tl.t, 30*time.Second, fmt.Sprintf("line %q", line), func() bool {
		for _, ev := range tl.sink.snapshot() {
			if ev.Message == line {
				return true
			}
		}
		return false
	})
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func truncate(t *testing.T, path string) {
	t.Helper()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}
