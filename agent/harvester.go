package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/logagent/logagent/collect"
)

// fileSettings are the per-file parts of a collect entry. The manager swaps
// them when the config changes; the harvester picks them up at the next line.
type fileSettings struct {
	input     string // the entry's path pattern: which entry owns the file
	topic     string
	raw       bool
	parseTime timestampParser
	maxLine   int
	fields    map[string]string
	multiline *collect.Multiline // nil: every line is an event
	// keep is the entry's include_lines and exclude_lines; nil ships every
	// event.
	keep func(event []byte) (ok bool, reason string)
}

// harvesterEnv is what every harvester shares.
type harvesterEnv struct {
	hostID          string
	reg             *Registry
	ids             *identities
	mem             *batchMemory
	readers         *readSlots
	sink            Sink
	metrics         *Metrics
	log             *slog.Logger
	pollInterval    time.Duration
	rotateWait      time.Duration
	closeInactive   time.Duration
	maxMessageBytes int
	now             func() time.Time
	// starved is set by the manager while files wait for a descriptor
	// (files.max_open_files): then idle, fully acknowledged files are closed
	// after closeWhenStarved instead of close_inactive, to make room.
	starved atomic.Bool
}

// closeWhenStarved is how long an idle, fully acknowledged file keeps its
// descriptor while other files wait for one.
const closeWhenStarved = time.Second

// errInactive ends a harvester whose file stopped growing for close_inactive.
var errInactive = errors.New("closed after close_inactive")

// harvester reads one open file from its acked offset to its end and beyond:
// it hands complete lines to the sink in batches, waits for growth, notices
// truncation, and after a rotation or delete finishes the old file before
// giving up its descriptor.
type harvester struct {
	env      *harvesterEnv
	key      fileKey
	file     *os.File
	settings atomic.Pointer[fileSettings]
	path     atomic.Pointer[string]
	// provisional is set while the file's entry is (identities): it may
	// still be a copy being filled, so its bytes are held, not shipped, and
	// settle is asked again as it grows.
	provisional bool
	opened      time.Time
	// grew is when a read last brought bytes (or the file restarted); owned
	// by run.
	grew time.Time
	// draining is set while the file is no longer at a matched path (renamed
	// away or deleted): read to the end, wait rotate_wait idle, ship the
	// trailing fragment, stop.
	draining atomic.Bool
	wake     chan struct{}

	// shared is the registry entry and acks the ack tracker, for the
	// manager's reads.
	shared atomic.Pointer[RegistryEntry]
	acks   atomic.Pointer[ackTracker]

	// Owned by the run goroutine.
	entry   *RegistryEntry
	tracker *ackTracker
	seed    eventIDSeed
	fp      fingerprint
	offset  int64 // file offset of the next byte to read
	// filled is the largest size the file was seen with. It is below offset
	// only for a copy that inherited an offset it has not been filled up to;
	// the file counts as shrunk below min(offset, filled).
	filled int64
	// splitUnknown: whether reading resumes inside a line (inSplit) is
	// looked up once the bytes before offset exist.
	splitUnknown bool
	buf          []byte
	hasSlot      bool // holds one of env.readers: buf is a pooled or grown buffer
	r, w         int  // unread bytes are buf[r:w]; buf[r] is at offset-(w-r)
	inSplit      bool // the previous event was a piece of a split line
	// With a multiline rule, buf[r:scan] holds the complete lines (pending
	// of them) of the event being assembled; scan is only valid while
	// pending > 0. Nothing of it is shipped yet, so a restart reads it again
	// and assembles the same event under the same id.
	scan, pending int
	// breaks are the entry's multiline breaks not passed yet
	// (RegistryEntry.Breaks); breakUnsaved says one was added since the
	// registry was last saved, which flush does before it ships anything.
	breaks       []int64
	breakUnsaved bool
	enc          *envelopeEncoder
	encFor       *fileSettings
	encPath      string
	key2         []byte // Kafka key: host + path
	stamps       stampCache
	// parsedStamp holds a timestamp parsed from the line, formatted.
	parsedStamp []byte
}

// newHarvester prepares the harvester of an opened file, to read for entry.
func newHarvester(env *harvesterEnv, o opened, entry *RegistryEntry, s *fileSettings) *harvester {
	h := &harvester{env: env, key: o.key, file: o.f, filled: o.size, opened: env.now(), wake: make(chan struct{}, 1)}
	h.settings.Store(s)
	h.path.Store(&o.path)
	h.attach(entry)
	return h
}

// attach makes e the registry entry this harvester reads for, from e's offset.
func (h *harvester) attach(e *RegistryEntry) {
	snap := h.env.reg.Snapshot(e)
	h.entry = e
	h.shared.Store(e)
	h.provisional = snap.Provisional
	h.fp = snap.fingerprint
	h.offset = snap.Offset
	h.r, h.w, h.pending = 0, 0, 0
	h.splitUnknown = h.filled < snap.Offset
	h.inSplit = !h.splitUnknown && h.midLine(snap.Offset)
	h.seed = newEventIDSeed(h.env.hostID, snap.Origin)
	h.breaks = snap.Breaks
	reg := h.env.reg
	h.tracker = newAckTracker(func(off int64) { reg.Ack(e, off) })
	h.acks.Store(h.tracker)
}

// oldestUnacked is when the oldest line this harvester sent and Kafka has
// not acknowledged was read; safe to call from the manager.
func (h *harvester) oldestUnacked() (time.Time, bool) { return h.acks.Load().oldestUnacked() }

// observe records a size the file was seen with (a stat, or how far a read
// got). A copy waiting to be filled up to its inherited offset records its
// progress in the registry, so a restart meanwhile does not take it for a
// truncated file.
func (h *harvester) observe(size int64) {
	if size <= h.filled {
		return
	}
	waiting := h.filled < h.offset
	h.filled = size
	if waiting {
		h.env.reg.Filling(h.entry, size)
	}
}

// shrunk reports whether the file, now size bytes, was truncated.
func (h *harvester) shrunk(size int64) bool { return size < min(h.offset, h.filled) }

// notify wakes the harvester after an fsnotify write event; never blocks.
func (h *harvester) notify() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *harvester) currentPath() string { return *h.path.Load() }

// The manager's side of a harvester: it tells the harvester where its file
// is and under which settings, and asks what it needs to know. These are safe
// to call while run runs.

// input is the path pattern of the entry that owns the file.
func (h *harvester) input() string { return h.settings.Load().input }

// configure applies new settings from the file's entry from the next line on.
func (h *harvester) configure(s *fileSettings) { h.settings.Store(s) }

// follow says the file is at path, matched by an entry with settings s. It
// reports whether the file had been lost (renamed away or deleted) and is
// back.
func (h *harvester) follow(path string, s *fileSettings) (back bool) {
	if h.currentPath() != path {
		h.path.Store(&path)
	}
	h.settings.Store(s)
	return h.draining.Swap(false)
}

// lost says no entry matches the file any more (renamed away or deleted):
// read it to its end and stop. It reports whether that is news.
func (h *harvester) lost() bool { return !h.draining.Swap(true) }

// abandon closes the file of a harvester that will not run.
func (h *harvester) abandon() { h.file.Close() }

// unread is how many bytes of the file are not acknowledged yet.
func (h *harvester) unread() int64 {
	fi, err := h.file.Stat()
	if err != nil {
		return 0
	}
	return max(0, fi.Size()-h.env.reg.Offset(h.shared.Load()))
}

// run reads until ctx is done, the file is drained after rotation, it goes
// inactive, or reading fails. It closes the file.
// closeAfter is how long the file may be idle before it is closed.
func (h *harvester) closeAfter() time.Duration {
	if h.env.starved.Load() {
		return min(h.env.closeInactive, closeWhenStarved)
	}
	return h.env.closeInactive
}

func (h *harvester) run(ctx context.Context) error {
	defer h.file.Close()
	if _, err := h.file.Seek(h.offset, io.SeekStart); err != nil {
		return fmt.Errorf("seek to acked offset %d: %w", h.offset, err)
	}
	b := &batchBuilder{mem: h.env.mem}
	defer b.discard()
	defer h.setBuf(nil)
	h.grew = h.env.now()
	timer := time.NewTimer(h.env.pollInterval)
	defer timer.Stop()
	for {
		if err := h.takeBuffer(ctx); err != nil {
			return err
		}
		n, err := h.fill()
		if n > 0 {
			if err := h.took(ctx, b, n); err != nil {
				return err
			}
			continue
		}
		next, err := h.atEnd(ctx, b, err)
		switch {
		case err != nil:
			return err
		case next == finished:
			return nil
		case next == readAgain:
			continue
		}
		if err := h.wait(ctx, b, timer); err != nil {
			return err
		}
	}
}

// took handles n bytes just read: truncation first, then identity, then
// cutting them into events.
func (h *harvester) took(ctx context.Context, b *batchBuilder, n int) error {
	h.grew = h.env.now()
	h.env.metrics.BytesRead.Add(float64(n))
	// A file truncated and rewritten past our offset between two reads would
	// hand us the middle of someone else's line: look first.
	if restarted, err := h.handleTruncation(ctx, b, h.grew); err != nil || restarted {
		return err
	}
	if h.provisional {
		// Hold the bytes until the file is known; once it is, read again
		// from its entry's offset.
		return h.settle(0)
	}
	if h.splitUnknown {
		h.inSplit, h.splitUnknown = h.midLine(h.bufOffset(h.r)), false
	}
	var err error
	if h.fp, err = h.env.ids.grow(h.entry, h.file, h.currentPath(), h.fp, h.offset); err != nil {
		return fmt.Errorf("save fingerprint: %w", err)
	}
	return h.drain(ctx, b, h.grew, cutLines)
}

// step is what run does after reaching the end of what the file has.
type step int

const (
	waitForMore step = iota
	readAgain
	finished // a rotated or deleted file, read to its end and acknowledged
)

// atEnd decides what to do when a read found nothing more (readErr is the
// read's error): ship what waits, settle a provisional identity, finish a
// file that is gone, or close an inactive one.
func (h *harvester) atEnd(ctx context.Context, b *batchBuilder, readErr error) (step, error) {
	idle := h.env.now().Sub(h.grew)
	// A multiline event nothing has followed for its timeout is complete,
	// and so is one whose rule was removed.
	if h.pending > 0 {
		if m := h.settings.Load().multiline; m == nil || idle >= m.TimeoutDuration() {
			if err := h.drain(ctx, b, h.grew, cutPending); err != nil {
				return 0, err
			}
		}
	}
	if err := h.flush(ctx, b); err != nil {
		return 0, err
	}
	if readErr != nil && !errors.Is(readErr, io.EOF) {
		return 0, fmt.Errorf("read: %w", readErr)
	}
	if h.provisional {
		if err := h.settle(idle); err != nil || !h.provisional {
			return readAgain, err // from its entry's offset
		}
		return waitForMore, nil
	}
	// Leave only once Kafka has acknowledged everything sent from this file:
	// a file renamed away or deleted cannot be found again to re-send.
	acked := h.tracker.outstanding() == 0
	if h.draining.Load() {
		if idle < h.env.rotateWait {
			return waitForMore, nil
		}
		if err := h.drain(ctx, b, h.env.now(), cutFinal); err != nil {
			return 0, err
		}
		if err := h.flush(ctx, b); err != nil {
			return 0, err
		}
		if h.tracker.outstanding() == 0 {
			return finished, nil
		}
		return waitForMore, nil
	}
	if idle >= h.closeAfter() && acked && h.pending == 0 {
		return 0, errInactive
	}
	return waitForMore, nil
}

// wait sleeps until the file may have grown (an fsnotify write, or
// poll_interval), giving the read buffer back meanwhile if nothing waits in
// it, and looks for a truncation before the next read.
func (h *harvester) wait(ctx context.Context, b *batchBuilder, timer *time.Timer) error {
	h.idle()
	timer.Reset(h.env.pollInterval)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-h.wake:
	case <-timer.C:
	}
	// A file truncated and rewritten while we waited must be read from 0,
	// not from the old offset.
	restarted, err := h.handleTruncation(ctx, b, h.grew)
	if restarted {
		h.grew = h.env.now()
	}
	return err
}

// settle asks again who a provisional file is (idle: how long it has not
// grown). Once decided, the bytes held are dropped and reading starts over
// from the entry's offset: a copy's inherited one, or a new file's start.
func (h *harvester) settle(idle time.Duration) error {
	e, err := h.env.ids.settle(h.entry, h.file, h.currentPath(), idle, h.env.now().Sub(h.opened))
	if err != nil || e == nil {
		return err
	}
	h.attach(e)
	if _, err := h.file.Seek(h.offset, io.SeekStart); err != nil {
		return fmt.Errorf("seek to offset %d: %w", h.offset, err)
	}
	return nil
}

// fill reads once into the buffer (takeBuffer gave it one), making room
// first.
func (h *harvester) fill() (int, error) {
	if h.r == h.w {
		h.r, h.w = 0, 0
	}
	switch {
	case h.w == len(h.buf) && h.r > 0:
		h.w = copy(h.buf, h.buf[h.r:h.w])
		h.scan -= h.r
		h.r = 0
	case h.w == len(h.buf):
		// One line fills the buffer: grow, up to what cut needs to split it.
		grown := make([]byte, 2*len(h.buf))
		copy(grown, h.buf[:h.w])
		h.setBuf(grown)
	case len(h.buf) > readBufferSize && h.w-h.r <= readBufferSize/2:
		// A long line or event is done: shrink back, keeping what is unread.
		small := readBuffers.Get().(*[readBufferSize]byte)[:]
		h.w = copy(small, h.buf[h.r:h.w])
		h.scan -= h.r
		h.r = 0
		h.setBuf(small)
	}
	n, err := h.file.Read(h.buf[h.w:])
	h.w += n
	h.offset += int64(n)
	if n > 0 {
		h.observe(h.offset)
	}
	return n, err
}

// handleTruncation restarts at offset 0 under a new origin when the file
// shrank (copytruncate, `> file`), or when its first bytes changed (truncated
// and rewritten past the offset between two looks). Lines already cut (and a
// multiline event being assembled) are flushed first, under the old origin
// and tracker.
// Bytes just read from a file that shrank were read before the truncation
// and are shipped; bytes read from a rewritten file are new content read from
// the wrong place and are dropped (they are read again from 0). It costs an
// fstat and a read of at most 1 KiB, once per read of up to 64 KiB and once
// per idle poll.
func (h *harvester) handleTruncation(ctx context.Context, b *batchBuilder, readTime time.Time) (bool, error) {
	fi, err := h.file.Stat()
	if err != nil {
		return false, fmt.Errorf("stat: %w", err)
	}
	size := fi.Size()
	shrunk := h.shrunk(size)
	h.observe(size)
	if h.provisional {
		if shrunk { // nothing was shipped: just look at it again from the start
			return true, h.rewind(size)
		}
		return false, nil
	}
	if !shrunk {
		fp, err := readFingerprint(h.file, h.fp.Len)
		if err != nil || fp == h.fp {
			return false, err
		}
		// Rewritten: lines assembled before are the old content; what was
		// just read behind them is not.
		if err := h.drain(ctx, b, readTime, cutAssembled); err != nil {
			return false, err
		}
	} else if err := h.drain(ctx, b, readTime, cutPending); err != nil {
		return false, err
	}
	if err := h.flush(ctx, b); err != nil {
		return false, err
	}
	h.env.log.Info("file truncated; reading it again from the start", "path", h.currentPath(), "size", size, "offset", h.offset)
	h.env.metrics.Truncations.Inc()
	e, err := h.env.ids.restart(h.key, h.file, h.currentPath())
	if err != nil {
		return false, err
	}
	h.attach(e)
	return true, h.rewind(size)
}

// rewind makes the next read start at the file's beginning, forgetting the
// bytes held.
func (h *harvester) rewind(size int64) error {
	h.offset, h.r, h.w, h.pending, h.filled = 0, 0, 0, 0, size
	if _, err := h.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("seek after truncation: %w", err)
	}
	return nil
}

// flush hands the batch to the sink; its ack advances the registry, and
// once the sink is done with it (acknowledged or given up) its memory goes
// back to the cap.
func (h *harvester) flush(ctx context.Context, b *batchBuilder) error {
	if len(b.msgs) == 0 && !b.skipped {
		return nil
	}
	if h.breakUnsaved {
		if err := h.env.reg.Save(); err != nil {
			return fmt.Errorf("save multiline break: %w", err)
		}
		h.breakUnsaved = false
	}
	if len(b.msgs) == 0 { // only filtered events: done once the batches before are
		ack := h.tracker.track(b.end, time.Time{})
		b.discard()
		ack()
		return nil
	}
	h.env.metrics.LinesRead.Add(float64(len(b.msgs)))
	ack := h.tracker.track(b.end, b.firstRead)
	msgs, bytes, release := b.take()
	return h.env.sink.Send(ctx, &Batch{Messages: msgs, Bytes: bytes, Ack: ack, Release: release})
}
