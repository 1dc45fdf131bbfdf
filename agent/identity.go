package agent

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// fileKey is a file's identity on this host while it exists: device and inode.
// An inode can be reused after a delete, so a key alone is never trusted; the
// prefix fingerprint confirms it.
type fileKey struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

func keyOf(fi os.FileInfo) (fileKey, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, errors.New("no device and inode on this platform")
	}
	return fileKey{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}, nil //nolint:unconvert // widths differ by platform
}

// fingerprintBytes is how much of a file's start identifies it.
const fingerprintBytes = 1024

// fingerprint is a hash of a file's first Len bytes (Len <= fingerprintBytes).
// A file shorter than fingerprintBytes has a short fingerprint that grows
// with it.
type fingerprint struct {
	Len  int    `json:"prefix_len"`
	Hash string `json:"prefix_hash"`
}

func fingerprintOf(prefix []byte) fingerprint {
	sum := sha256.Sum256(prefix)
	return fingerprint{Len: len(prefix), Hash: hex.EncodeToString(sum[:16])}
}

// full reports whether the fingerprint covers fingerprintBytes; only full
// fingerprints are distinctive enough to recognise a copy of a file.
func (f fingerprint) full() bool { return f.Len == fingerprintBytes }

// prefixBuf holds a file's first bytes; on the stack of whoever reads them.
type prefixBuf [fingerprintBytes]byte

// readPrefix reads the first min(n, size) bytes of f into buf, n at most
// fingerprintBytes. Harvesters call it on every read and idle poll.
func readPrefix(f *os.File, buf *prefixBuf, n int) ([]byte, error) {
	got, err := f.ReadAt(buf[:n], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read fingerprint: %w", err)
	}
	return buf[:got], nil
}

// readFingerprint hashes the first min(n, size) bytes of f.
func readFingerprint(f *os.File, n int) (fingerprint, error) {
	var buf prefixBuf
	p, err := readPrefix(f, &buf, n)
	if err != nil {
		return fingerprint{}, err
	}
	return fingerprintOf(p), nil
}

// markLengths are the prefix lengths whose hashes (marks) are kept for every
// file with a full fingerprint. A new file shorter than fingerprintBytes whose
// first bytes match a known file's mark may be a copy of it still being
// filled, so it is not given an origin of its own yet.
var markLengths = [...]int{32, 64, 128, 256, 512}

// markHexLen is the size of one mark in RegistryEntry.Marks: 32 bits of
// SHA-256. A false match only makes a short file wait; the full fingerprint
// decides.
const markHexLen = 8

// marksOf returns the marks of a full prefix, concatenated.
func marksOf(prefix []byte) string {
	out := make([]byte, 0, len(markLengths)*markHexLen)
	for _, n := range markLengths {
		sum := sha256.Sum256(prefix[:n])
		out = hex.AppendEncode(out, sum[:markHexLen/2])
	}
	return string(out)
}

// identify returns the fingerprint of a file's first bytes p and, for a full
// one, its marks.
func identify(p []byte) (fingerprint, string) {
	fp := fingerprintOf(p)
	if !fp.full() {
		return fp, ""
	}
	return fp, marksOf(p)
}

// markKey is the index key of the longest mark a prefix of this length has:
// the mark's position and hash. ok is false below the shortest mark.
func markKey(prefix []byte) (key string, ok bool) {
	for i := len(markLengths) - 1; i >= 0; i-- {
		if n := markLengths[i]; len(prefix) >= n {
			sum := sha256.Sum256(prefix[:n])
			return string(rune('0'+i)) + hex.EncodeToString(sum[:markHexLen/2]), true
		}
	}
	return "", false
}

// markKeys splits RegistryEntry.Marks into index keys.
func markKeys(marks string) []string {
	if len(marks) != len(markLengths)*markHexLen {
		return nil
	}
	keys := make([]string, len(markLengths))
	for i := range keys {
		keys[i] = string(rune('0'+i)) + marks[i*markHexLen:(i+1)*markHexLen]
	}
	return keys
}

// newOriginID returns a random 128-bit id, given to a file once when it is
// first seen. Event ids derive from it, so they survive renames.
func newOriginID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

// Timings of the decision about a short new file (see identities.decide).
const (
	// identityWait is how long a short new file that matches no known file
	// may stay idle (or, growing slowly, four times that) before it is taken
	// for a new file. Only files below the shortest mark wait at all.
	identityWait = 500 * time.Millisecond
	// copyWait is how long a short new file whose first bytes match a known
	// file's may stay idle before it is taken for a new file after all: a
	// copy being filled that stops for longer is a copy abandoned.
	copyWait = time.Minute
)

// identities decides who an opened file is, against the registry. There are
// three answers:
//   - the same file as an entry: same device+inode, not shrunk, and the same
//     first bytes (a rename keeps all three);
//   - a copy of a known file (copytruncate, cp, a copy renamed into place): a
//     new inode whose first fingerprintBytes equal a known file's. It
//     inherits that file's origin and acked offset, so lines it shares with
//     the original keep their ids; if it is still shorter than the offset, it
//     is read once it has been filled that far;
//   - a new file, with a new origin.
//
// A new file shorter than fingerprintBytes cannot be told from a copy still
// being filled. While its first bytes match a known file's marks (and
// briefly below the shortest mark) its entry is provisional: nothing of it
// ships, and its harvester asks settle again as it grows.
type identities struct {
	reg *Registry
	log *slog.Logger
}

// opened is a file the manager just opened.
type opened struct {
	f       *os.File
	key     fileKey
	path    string
	size    int64 // from the open descriptor's stat
	startAt int64 // where reading starts if it is a new file (start: end)
}

// open resolves a file the manager just opened. It returns the entry to read
// for, attached but not saved: the manager saves once for all the files a scan
// opened, before any of them ships.
func (ids *identities) open(o opened) (*RegistryEntry, error) {
	reg := ids.reg
	var buf prefixBuf
	if e := reg.Lookup(o.key); e != nil {
		snap := reg.Snapshot(e)
		if o.size >= snap.floor() && o.size >= int64(snap.Len) {
			p, err := readPrefix(o.f, &buf, snap.Len)
			if err != nil {
				return nil, err
			}
			if fingerprintOf(p) == snap.fingerprint {
				if snap.full() && snap.Marks == "" { // saved by an agent that kept no marks
					reg.setMarks(e, marksOf(p))
				}
				return e, nil
			}
		}
		ids.log.Info("inode reused or file rewritten; treating it as a new file", "path", o.path, "was", snap.Path)
		reg.Detach(e)
	}
	p, err := readPrefix(o.f, &buf, int(min(o.size, fingerprintBytes)))
	if err != nil {
		return nil, err
	}
	if e := ids.decide(nil, o, p, 0, 0); e != nil {
		return e, nil
	}
	return reg.attachUnsaved(o.key, o.path, fingerprintOf(p), "", resumePoint{origin: newOriginID(), offset: o.startAt, provisional: true}), nil
}

// settle decides about e, a provisional entry, once its file has more bytes
// or has been idle a while (idle: how long it has not grown; age: how long it
// has been open). It returns the entry to read for — a copy's new one, or e
// decided new — saved, since its origin must be durable before a line
// carrying it ships; or nil while the file still may be a copy.
func (ids *identities) settle(e *RegistryEntry, f *os.File, path string, idle, age time.Duration) (*RegistryEntry, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat: %w", err)
	}
	var buf prefixBuf
	p, err := readPrefix(f, &buf, fingerprintBytes)
	if err != nil {
		return nil, err
	}
	// The file's own clock too: a harvester reopened after a restart has
	// just begun to count.
	idle = max(idle, time.Since(fi.ModTime()))
	snap := ids.reg.Snapshot(e)
	decided := ids.decide(e, opened{f: f, key: snap.Key, path: path, size: max(fi.Size(), int64(len(p))), startAt: snap.Offset}, p, idle, age)
	if decided == nil {
		if fp := fingerprintOf(p); fp != snap.fingerprint { // what the next start compares against
			ids.reg.Grown(e, path, fp, "")
		}
		return nil, nil
	}
	return decided, ids.reg.Save()
}

// decide attaches a new inode whose first bytes are p, or decides about its
// provisional entry e: a copy of a known file if p is a full fingerprint of
// one, a new file if p cannot be the start of a copy any more, and nothing
// (nil) while it still can.
func (ids *identities) decide(e *RegistryEntry, o opened, p []byte, idle, age time.Duration) *RegistryEntry {
	reg := ids.reg
	fp, marks := identify(p)
	if fp.full() {
		if c := reg.FindCopy(fp, nil); c != nil {
			snap := reg.Snapshot(c)
			ids.log.Info("file is a copy of a known file; continuing from its acked offset",
				"path", o.path, "copy_of", snap.Path, "offset", snap.Offset, "size", o.size)
			copied := reg.attachUnsaved(o.key, o.path, fp, marks, snap.resume())
			reg.Filling(copied, o.size)
			return copied
		}
	} else if ids.mayBeCopy(p, idle, age) {
		return nil
	}
	if e != nil {
		reg.Decided(e, fp, marks)
		return e
	}
	return reg.attachUnsaved(o.key, o.path, fp, marks, newFile(o.startAt))
}

// mayBeCopy reports whether a file whose first bytes are p (fewer than
// fingerprintBytes) may still turn out to be a copy being filled. An empty
// file has nothing to ship and waits for free. Below the shortest mark
// nothing tells, so the file waits only briefly; from there on it waits while
// its first bytes are a known file's.
func (ids *identities) mayBeCopy(p []byte, idle, age time.Duration) bool {
	if len(p) == 0 {
		return true
	}
	if key, ok := markKey(p); ok {
		return idle < copyWait && ids.reg.HasMark(key)
	}
	return idle < identityWait && age < 4*identityWait
}

// grow extends the short fingerprint fp of e's file as the file grows, and
// saves it before any of the new bytes ships (read is how far the harvester
// has read). That keeps an invariant the event ids rely on: the registry's
// fingerprint covers everything shipped under the file's origin (up to
// fingerprintBytes), so no other content can later be taken for this file
// and reuse its ids. Only a file's first KiB costs saves.
func (ids *identities) grow(e *RegistryEntry, f *os.File, path string, fp fingerprint, read int64) (fingerprint, error) {
	if fp.full() || read <= int64(fp.Len) {
		return fp, nil
	}
	// Take all the file has, not just what was read: a full fingerprint is
	// what lets a copy of this file (copytruncate) be recognised.
	var buf prefixBuf
	p, err := readPrefix(f, &buf, fingerprintBytes)
	if err != nil {
		return fp, err
	}
	fp, marks := identify(p)
	ids.reg.Grown(e, path, fp, marks)
	return fp, ids.reg.Save()
}

// restart gives a truncated file a new origin at offset 0 and saves it: its
// content from here on is new.
func (ids *identities) restart(key fileKey, f *os.File, path string) (*RegistryEntry, error) {
	var buf prefixBuf
	p, err := readPrefix(f, &buf, fingerprintBytes)
	if err != nil {
		return nil, err
	}
	fp, marks := identify(p)
	return ids.reg.Attach(key, path, fp, marks, newFile(0))
}
