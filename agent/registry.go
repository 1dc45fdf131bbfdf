package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// RegistryEntry is what the agent remembers about one file: who it is and how
// far Kafka has acknowledged it.
type RegistryEntry struct {
	// Origin is the random id the file got when first seen; event ids derive
	// from it. A copy of a file (copytruncate) inherits it.
	Origin string  `json:"origin"`
	Key    fileKey `json:"key"`
	fingerprint
	// Marks are hashes of shorter prefixes of a full fingerprint (marksOf):
	// a short new file matching them may be a copy of this file still being
	// filled.
	Marks string `json:"prefix_marks,omitempty"`
	// Offset is the acknowledged watermark: every byte before it reached Kafka.
	Offset int64 `json:"offset"`
	// Breaks are offsets beyond Offset where a multiline event was ended by
	// its timeout and shipped. Read again after a crash, the lines after a
	// break may be there already; the event ends at the break all the same,
	// so it is assembled as it was shipped and its continuation is not
	// shipped twice under two ids. Ascending; dropped once acknowledged.
	Breaks []int64 `json:"breaks,omitempty"`
	// Filled is set on a copy that inherited an offset beyond its size (it was
	// seen while still being filled): the largest size seen. Below it, not
	// below Offset, the file counts as shrunk.
	Filled   int64     `json:"filled,omitempty"`
	Path     string    `json:"path"`
	LastSeen time.Time `json:"last_seen"`
	// Provisional is set on a new file too short to tell from a copy still
	// being filled (identities): nothing has shipped under its origin, and a
	// copy's entry may replace it.
	Provisional bool `json:"provisional,omitempty"`
	// Detached entries no longer describe the file at Key (it was truncated or
	// the inode reused). They are kept until they expire so that a copy made
	// just before a truncation can still inherit the offset.
	Detached bool `json:"detached,omitempty"`
}

// floor is the size below which e's file counts as shrunk (truncated): the
// acked offset, or for a copy not yet filled that far, how far it was filled.
func (e *RegistryEntry) floor() int64 {
	if e.Filled > 0 && e.Filled < e.Offset {
		return e.Filled
	}
	return e.Offset
}

// nothingToRead reports whether e's file, now size bytes, has nothing to ship
// beyond the acked offset and did not shrink.
func (e *RegistryEntry) nothingToRead(size int64) bool {
	return size >= e.floor() && size <= e.Offset
}

// Registry holds every file's entry, persisted atomically as one JSON file.
// All methods are safe for concurrent use.
type Registry struct {
	path     string
	saveMu   sync.Mutex // one writer of the file at a time
	mu       sync.Mutex
	attached map[fileKey]*RegistryEntry
	detached []*RegistryEntry
	// Entries with a full fingerprint, attached or detached, by its hash and
	// by their marks: what copy detection looks up for every new file.
	byPrefix map[string][]*RegistryEntry
	marks    map[string]int
	inputs   map[string]bool
	dirty    bool
	now      func() time.Time
}

type registryFile struct {
	Version int              `json:"version"`
	Entries []*RegistryEntry `json:"entries"`
	// Inputs are the collect entries (by path pattern) whose first scan
	// happened: `start: end` no longer applies to them, across restarts.
	Inputs []string `json:"inputs,omitempty"`
}

// registryVersion is the registry file's format; a newer file is refused.
const registryVersion = 1

// OpenRegistry loads the registry at path, or starts an empty one when the
// file does not exist.
func OpenRegistry(path string) (*Registry, error) {
	r := &Registry{path: path, attached: map[fileKey]*RegistryEntry{}, byPrefix: map[string][]*RegistryEntry{},
		marks: map[string]int{}, inputs: map[string]bool{}, now: time.Now}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read registry: %w", err)
	}
	var f registryFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("registry %s is corrupt (move it away to re-ship every file from the start): %w", path, err)
	}
	if f.Version > registryVersion {
		// A downgrade: the older agent would misread the newer format and
		// ship files again or skip lines.
		return nil, fmt.Errorf("registry %s has format version %d; this logagent understands up to %d: run the newer logagent", path, f.Version, registryVersion)
	}
	for _, in := range f.Inputs {
		r.inputs[in] = true
	}
	for i, e := range f.Entries {
		if e == nil { // "null" in the array: a hand edit or a foreign writer
			return nil, fmt.Errorf("registry %s is corrupt (move it away to re-ship every file from the start): entry %d is null", path, i)
		}
		if e.Detached {
			r.detached = append(r.detached, e)
		} else {
			r.attached[e.Key] = e
		}
		r.index(e)
	}
	return r, nil
}

// index adds e to the copy-detection indexes; r.mu is held.
func (r *Registry) index(e *RegistryEntry) {
	if !e.full() {
		return
	}
	r.byPrefix[e.Hash] = append(r.byPrefix[e.Hash], e)
	for _, k := range markKeys(e.Marks) {
		r.marks[k]++
	}
}

// unindex removes e from the copy-detection indexes; r.mu is held.
func (r *Registry) unindex(e *RegistryEntry) {
	if !e.full() {
		return
	}
	same := slices.DeleteFunc(r.byPrefix[e.Hash], func(x *RegistryEntry) bool { return x == e })
	if len(same) == 0 {
		delete(r.byPrefix, e.Hash)
	} else {
		r.byPrefix[e.Hash] = same
	}
	for _, k := range markKeys(e.Marks) {
		if r.marks[k]--; r.marks[k] <= 0 {
			delete(r.marks, k)
		}
	}
}

// Lookup returns the entry attached to key, or nil.
func (r *Registry) Lookup(key fileKey) *RegistryEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attached[key]
}

// Snapshot returns a copy of an entry's fields.
func (r *Registry) Snapshot(e *RegistryEntry) RegistryEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return *e
}

// resumePoint is where reading a file starts: the origin its event ids
// derive from, the acknowledged offset and the multiline breaks beyond it. A
// copy of a known file (copytruncate) takes over its original's.
type resumePoint struct {
	origin      string
	offset      int64
	breaks      []int64
	provisional bool
}

// newFile is the resume point of a file never seen before, read from offset.
func newFile(offset int64) resumePoint { return resumePoint{origin: newOriginID(), offset: offset} }

// resume is where a copy of e's file resumes.
func (e RegistryEntry) resume() resumePoint {
	return resumePoint{origin: e.Origin, offset: e.Offset, breaks: e.Breaks}
}

// Attach is attachUnsaved, then a save.
func (r *Registry) Attach(key fileKey, path string, fp fingerprint, marks string, at resumePoint) (*RegistryEntry, error) {
	e := r.attachUnsaved(key, path, fp, marks, at)
	return e, r.Save()
}

// attachUnsaved records a file at key, replacing (and detaching) whatever was
// there. The caller saves the registry before the first event carrying the
// entry's origin ships, or a crash would re-ship those lines under a new id.
func (r *Registry) attachUnsaved(key fileKey, path string, fp fingerprint, marks string, at resumePoint) *RegistryEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.attached[key]; old != nil && !old.Provisional { // a provisional one holds nothing worth keeping
		old.Detached = true
		r.detached = append(r.detached, old)
	}
	e := &RegistryEntry{Origin: at.origin, Key: key, fingerprint: fp, Marks: marks, Offset: at.offset, Breaks: at.breaks,
		Provisional: at.provisional, Path: path, LastSeen: r.now()}
	r.attached[key] = e
	r.index(e)
	r.dirty = true
	return e
}

// Detach marks e as no longer describing the file at its key. A provisional
// entry is dropped: nothing shipped under it.
func (r *Registry) Detach(e *RegistryEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.attached[e.Key] == e {
		delete(r.attached, e.Key)
		if !e.Provisional {
			e.Detached = true
			r.detached = append(r.detached, e)
		}
		r.dirty = true
	}
}

// FindCopy returns the entry, attached or detached, other than self, whose
// full fingerprint equals fp: the file a new inode was copied from. The most
// recently seen wins.
func (r *Registry) FindCopy(fp fingerprint, self *RegistryEntry) *RegistryEntry {
	if !fp.full() {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var best *RegistryEntry
	for _, e := range r.byPrefix[fp.Hash] {
		if e != self && e.fingerprint == fp && (best == nil || e.LastSeen.After(best.LastSeen)) {
			best = e
		}
	}
	return best
}

// HasMark reports whether a file with a full fingerprint has the mark key
// (markKey): a short file with that start may be a copy of it.
func (r *Registry) HasMark(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.marks[key] > 0
}

// setMarks records the marks of e's full fingerprint.
func (r *Registry) setMarks(e *RegistryEntry, marks string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Marks != marks {
		r.unindex(e)
		e.Marks = marks
		r.index(e)
		r.dirty = true
	}
}

// Decided makes a provisional entry a new file's, with the fingerprint (and
// marks) of its first bytes now.
func (r *Registry) Decided(e *RegistryEntry, fp fingerprint, marks string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unindex(e)
	e.Provisional, e.fingerprint, e.Marks = false, fp, marks
	r.index(e)
	r.dirty = true
}

// Filling records size as how far e's file, a copy that inherited an offset
// beyond its size, has been filled; once it reaches the offset, Filled is
// dropped.
func (r *Registry) Filling(e *RegistryEntry, size int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fill(e, size)
}

func (r *Registry) fill(e *RegistryEntry, size int64) {
	filled := size
	if size >= e.Offset {
		filled = 0
	}
	if e.Filled != filled {
		e.Filled = filled
		r.dirty = true
	}
}

// InputScanned reports whether the collect entry with this path pattern had
// its first scan.
func (r *Registry) InputScanned(pattern string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inputs[pattern]
}

// SetInputsScanned records the patterns that had their first scan, forgetting
// any other: an entry removed and added again is applied anew.
func (r *Registry) SetInputsScanned(patterns []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := map[string]bool{}
	for _, p := range patterns {
		next[p] = true
	}
	if !maps.Equal(next, r.inputs) {
		r.inputs, r.dirty = next, true
	}
}

// Ack moves e's acknowledged watermark forward.
func (r *Registry) Ack(e *RegistryEntry, offset int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if offset > e.Offset {
		e.Offset = offset
		r.dirty = true
		for len(e.Breaks) > 0 && e.Breaks[0] <= offset {
			e.Breaks = e.Breaks[1:] // reslice only: snapshots may share the array
		}
	}
}

// Break records that a multiline event of e's file ends at offset (see
// RegistryEntry.Breaks). The caller saves the registry before it ships the
// event: the break must be durable first.
func (r *Registry) Break(e *RegistryEntry, offset int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, found := slices.BinarySearch(e.Breaks, offset)
	if found {
		return
	}
	// A new array: snapshots share the old. Sorted even when a copy still
	// being filled ends an event before a break it inherited.
	e.Breaks = slices.Insert(slices.Clip(e.Breaks), i, offset)
	r.dirty = true
}

// Offset returns e's acknowledged watermark.
func (r *Registry) Offset(e *RegistryEntry) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return e.Offset
}

// Seen records that e's file is still at path, size bytes long: for a copy
// still being filled up to its inherited offset, how far it is.
func (r *Registry) Seen(e *RegistryEntry, path string, size int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Path != path {
		r.dirty = true
	}
	e.Path, e.LastSeen = path, r.now()
	if e.Filled > 0 && size > e.Filled {
		r.fill(e, size)
	}
}

// Grown records e's file at path with the longer fingerprint fp (and, once
// full, its marks) it grew while short.
func (r *Registry) Grown(e *RegistryEntry, path string, fp fingerprint, marks string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unindex(e)
	e.Path, e.fingerprint, e.Marks, e.LastSeen = path, fp, marks, r.now()
	r.index(e)
	r.dirty = true
}

// Expire forgets entries not seen for longer than age, except those of
// files open now (open files are not re-seen by scans).
func (r *Registry) Expire(age time.Duration, open map[fileKey]bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	cutoff := r.now().Add(-age)
	n := 0
	for k, e := range r.attached {
		if open[k] {
			e.LastSeen = r.now()
			continue
		}
		if e.LastSeen.Before(cutoff) {
			delete(r.attached, k)
			r.unindex(e)
			n++
		}
	}
	kept := r.detached[:0]
	for _, e := range r.detached {
		if e.LastSeen.Before(cutoff) {
			r.unindex(e)
			n++
			continue
		}
		kept = append(kept, e)
	}
	clear(r.detached[len(kept):])
	r.detached = kept
	if n > 0 {
		r.dirty = true
	}
	return n
}

// Save writes the registry if it changed: temp file, fsync, rename, fsync of
// the directory, so a crash leaves either the old or the new file, never half.
func (r *Registry) Save() error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	r.mu.Lock()
	if !r.dirty {
		r.mu.Unlock()
		return nil
	}
	f := registryFile{Version: registryVersion, Inputs: slices.Sorted(maps.Keys(r.inputs))}
	for _, e := range r.attached {
		c := *e
		f.Entries = append(f.Entries, &c)
	}
	for _, e := range r.detached {
		c := *e
		f.Entries = append(f.Entries, &c)
	}
	r.dirty = false
	r.mu.Unlock()
	b, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return fmt.Errorf("encode registry: %w", err)
	}
	if err := writeFileAtomic(r.path, b); err != nil {
		r.mu.Lock()
		r.dirty = true
		r.mu.Unlock()
		return fmt.Errorf("save registry: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data so that readers and crashes see
// either the old or the new content.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
