package agent

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRegistryBreaksAreSavedAndDroppedWhenAcked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	r, err := OpenRegistry(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := r.Attach(fileKey{1, 2}, "/var/log/a.log", fingerprintOf(nil), "", resumePoint{origin: "origin-a"})
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{10, 30, 20, 30} { // kept sorted, once each
		r.Break(e, off)
	}
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	before := r.Snapshot(e).Breaks
	r.Ack(e, 20)
	if got := r.Snapshot(e).Breaks; !slices.Equal(got, []int64{30}) || !slices.Equal(before, []int64{10, 20, 30}) {
		t.Fatalf("after ack 20: %v (a snapshot taken before: %v)", got, before)
	}
	reloaded, err := OpenRegistry(path) // saved with the breaks, before the ack
	if err != nil {
		t.Fatal(err)
	}
	if got := reloaded.Lookup(fileKey{1, 2}); got == nil || !slices.Equal(got.Breaks, []int64{10, 20, 30}) {
		t.Fatalf("reloaded: %+v", got)
	}
}

func TestRegistrySaveLoadAndCopyMatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	r, err := OpenRegistry(path)
	if err != nil {
		t.Fatal(err)
	}
	full := fingerprintOf(make([]byte, fingerprintBytes))
	e, err := r.Attach(fileKey{1, 2}, "/var/log/a.log", full, "", resumePoint{origin: "origin-a"})
	if err != nil {
		t.Fatal(err)
	}
	r.Ack(e, 500)
	r.Ack(e, 400) // never backwards
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	r2, err := OpenRegistry(path)
	if err != nil {
		t.Fatal(err)
	}
	got := r2.Lookup(fileKey{1, 2})
	if got == nil || got.Offset != 500 || got.Origin != "origin-a" || got.fingerprint != full {
		t.Fatalf("reloaded entry = %+v", got)
	}
	// A truncation detaches the entry; a copy made before it still finds it.
	if _, err := r2.Attach(fileKey{1, 2}, "/var/log/a.log", fingerprintOf(nil), "", resumePoint{origin: "origin-b"}); err != nil {
		t.Fatal(err)
	}
	if c := r2.FindCopy(full, nil); c == nil || c.Origin != "origin-a" {
		t.Fatalf("copy match = %+v", c)
	}
	if c := r2.FindCopy(fingerprintOf([]byte("short")), nil); c != nil {
		t.Fatalf("a short fingerprint must not match: %+v", c)
	}
	r2.now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	r2.SetInputsScanned([]string{"/var/log/*.log"})
	if err := r2.Save(); err != nil {
		t.Fatal(err)
	}
	if r3, err := OpenRegistry(path); err != nil || !r3.InputScanned("/var/log/*.log") {
		t.Fatalf("scanned inputs not persisted: %v", err)
	}
	if n := r2.Expire(24*time.Hour, map[fileKey]bool{{1, 2}: true}); n != 1 {
		t.Fatalf("expired %d entries, want 1 (the open file's entry stays)", n)
	}
	if n := r2.Expire(24*time.Hour, nil); n != 0 {
		t.Fatalf("expired %d entries, want 0: an open file counts as seen", n)
	}
}

func TestRegistryCorruptFileIsAClearError(t *testing.T) {
	for _, data := range []string{"{not json", `{"version":1,"entries":[null]}`} {
		path := filepath.Join(t.TempDir(), "registry.json")
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenRegistry(path); err == nil || !strings.Contains(err.Error(), "corrupt") {
			t.Fatalf("registry %s: got %v, want the corrupt-registry error", data, err)
		}
	}
}

// A registry written by a newer agent is refused (a downgrade), not misread.
func TestRegistryFromANewerAgentIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	if err := os.WriteFile(path, []byte(`{"version":2,"entries":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRegistry(path); err == nil || !strings.Contains(err.Error(), "format version 2") {
		t.Fatalf("got %v, want a refusal naming the version", err)
	}
}

// Save replaces the file rather than rewriting it: a reader holding the old
// file (or a crash during the write) sees a whole registry, old or new, never
// a half-written one; and no temp file is left behind.
func TestRegistrySaveReplacesTheFileWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.json")
	r, err := OpenRegistry(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := r.Attach(fileKey{1, 2}, "/var/log/a.log", fingerprintOf(nil), "", resumePoint{origin: "origin-a"})
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	r.Ack(e, 999)
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	if held, err := io.ReadAll(old); err != nil || !bytes.Equal(held, before) {
		t.Fatalf("the file open before the save now reads %q (%v): it was rewritten in place, not replaced", held, err)
	}
	if got, err := OpenRegistry(path); err != nil || got.Lookup(fileKey{1, 2}).Offset != 999 {
		t.Fatalf("after the save: %v", err)
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 {
		t.Fatalf("files in the state dir after saving: %v, want registry.json alone", names)
	}
}
