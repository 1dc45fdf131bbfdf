package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/logagent/logagent/etcd"
)

const (
	readBufferSize  = 64 << 10 // one read; grows only for lines longer than this
	batchMaxLines   = 2048
	batchMaxBytes   = 1 << 20
	headerAllowance = 128 // event.id and format headers, record overhead
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
	multiline *etcd.Multiline // nil: every line is an event
}

// harvesterEnv is what every harvester shares.
type harvesterEnv struct {
	hostID          string
	reg             *Registry
	ids             *identities
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
	// draining is set while the file is no longer at a matched path (renamed
	// away or deleted): read to the end, wait rotate_wait idle, ship the
	// trailing fragment, stop.
	draining atomic.Bool
	wake     chan struct{}

	// shared is the registry entry, for the manager's reads.
	shared atomic.Pointer[RegistryEntry]

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
}

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
	b := &batchBuilder{}
	b.reset()
	lastGrowth := h.env.now()
	timer := time.NewTimer(h.env.pollInterval)
	defer timer.Stop()
	for {
		n, err := h.fill()
		if n > 0 {
			lastGrowth = h.env.now()
			h.env.metrics.BytesRead.Add(float64(n))
			// A file truncated and rewritten past our offset between two reads
			// would hand us the middle of someone else's line: look first.
			if restarted, err := h.handleTruncation(ctx, b, lastGrowth); err != nil || restarted {
				if err != nil {
					return err
				}
				continue
			}
			if h.provisional {
				// Hold the bytes until the file is known; once it is, read
				// again from its entry's offset.
				if err := h.settle(0); err != nil {
					return err
				}
				continue
			}
			if h.splitUnknown {
				h.inSplit, h.splitUnknown = h.midLine(h.bufOffset(h.r)), false
			}
			var err error
			if h.fp, err = h.env.ids.grow(h.entry, h.file, h.currentPath(), h.fp, h.offset); err != nil {
				return fmt.Errorf("save fingerprint: %w", err)
			}
			if err := h.drain(ctx, b, lastGrowth, cutLines); err != nil {
				return err
			}
			continue
		}
		// Nothing more to read: a multiline event nothing has followed for
		// its timeout is complete, and so is one whose rule was removed.
		if h.pending > 0 {
			if m := h.settings.Load().multiline; m == nil || h.env.now().Sub(lastGrowth) >= m.TimeoutDuration() {
				if err := h.drain(ctx, b, lastGrowth, cutPending); err != nil {
					return err
				}
			}
		}
		if err := h.flush(ctx, b); err != nil {
			return err
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read: %w", err)
		}
		// Leave only once Kafka has acknowledged everything sent from this
		// file: a file renamed away or deleted cannot be found again to re-send.
		idle, acked := h.env.now().Sub(lastGrowth), h.tracker.outstanding() == 0
		if h.provisional {
			if err := h.settle(idle); err != nil {
				return err
			}
			if !h.provisional {
				continue // read it from its entry's offset
			}
		}
		if h.draining.Load() && !h.provisional && idle >= h.env.rotateWait {
			if err := h.drain(ctx, b, h.env.now(), cutFinal); err != nil {
				return err
			}
			if err := h.flush(ctx, b); err != nil {
				return err
			}
			if h.tracker.outstanding() == 0 {
				return nil
			}
		}
		if !h.draining.Load() && !h.provisional && idle >= h.closeAfter() && acked && h.pending == 0 {
			return errInactive
		}
		timer.Reset(h.env.pollInterval)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-h.wake:
		case <-timer.C:
		}
		// Look before reading: a file truncated and rewritten while we waited
		// must be read from 0, not from the old offset.
		if restarted, err := h.handleTruncation(ctx, b, lastGrowth); err != nil {
			return err
		} else if restarted {
			lastGrowth = h.env.now()
		}
	}
}

// drain cuts the buffered bytes into events, flushing each full batch, so a
// batch never outgrows its limits however many short lines one read brought.
func (h *harvester) drain(ctx context.Context, b *batchBuilder, readTime time.Time, mode cutMode) error {
	for h.cut(b, readTime, mode) {
		if err := h.flush(ctx, b); err != nil {
			return err
		}
	}
	return nil
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

// fill reads once into the buffer, making room first.
func (h *harvester) fill() (int, error) {
	if h.buf == nil {
		h.buf = make([]byte, readBufferSize)
	}
	if h.r == h.w {
		h.r, h.w = 0, 0
	}
	if h.w == len(h.buf) {
		if h.r > 0 {
			h.w = copy(h.buf, h.buf[h.r:h.w])
			h.scan -= h.r
			h.r = 0
		} else {
			// One line fills the buffer: grow, up to what cut needs to split it.
			grown := make([]byte, 2*len(h.buf))
			copy(grown, h.buf[:h.w])
			h.buf = grown
		}
	} else if len(h.buf) > readBufferSize && h.w-h.r <= readBufferSize/2 {
		// A long line or event is done: shrink back, keeping what is unread.
		small := make([]byte, readBufferSize)
		h.w = copy(small, h.buf[h.r:h.w])
		h.scan -= h.r
		h.buf, h.r = small, 0
	}
	n, err := h.file.Read(h.buf[h.w:])
	h.w += n
	h.offset += int64(n)
	if n > 0 {
		h.observe(h.offset)
	}
	return n, err
}

// bufOffset is the file offset of buf[i].
func (h *harvester) bufOffset(i int) int64 { return h.offset - int64(h.w-i) }

// cutMode says how much of the buffered bytes cut may turn into events.
type cutMode int

const (
	// cutLines: complete lines; a multiline event waits for the line after it.
	cutLines cutMode = iota
	// cutPending: also the multiline event being assembled (its timeout
	// passed, its rule was removed, or the file shrank under it).
	cutPending
	// cutFinal: also a trailing fragment without newline: the file is done.
	cutFinal
)

// cut turns the buffered bytes into events: every complete line (or group
// of lines, with a multiline rule), pieces of lines longer than
// max_line_bytes, and what mode allows beyond. It stops early, reporting
// true, when the batch is full.
func (h *harvester) cut(b *batchBuilder, readTime time.Time, mode cutMode) (full bool) {
	s := h.settings.Load()
	for h.r < h.w {
		if b.full() {
			return true
		}
		if h.pending > 0 || (s.multiline != nil && !h.inSplit) {
			if h.group(b, s, readTime, mode) {
				continue
			}
			if h.pending > 0 {
				return false // the event waits for the line after it
			}
			// No complete line at r: a line too long, or a fragment.
		}
		data := h.buf[h.r:h.w]
		if i := bytes.IndexByte(data, '\n'); i >= 0 && i <= s.maxLine {
			var flags Flags
			if h.inSplit {
				flags = FlagSplit
			}
			h.emit(b, s, bytes.TrimSuffix(data[:i], []byte("\r")), h.bufOffset(h.r), h.bufOffset(h.r+i+1), flags, readTime)
			h.r += i + 1
			h.inSplit = false
			continue
		}
		if len(data) > s.maxLine { // more than maxLine bytes and no newline among them
			piece := data[:runeStart(data, s.maxLine)]
			h.emit(b, s, piece, h.bufOffset(h.r), h.bufOffset(h.r+len(piece)), FlagSplit, readTime)
			h.r += len(piece)
			h.inSplit = true
			continue
		}
		if mode == cutFinal {
			var flags Flags
			if h.inSplit {
				flags = FlagSplit
			}
			h.emit(b, s, data, h.bufOffset(h.r), h.bufOffset(h.w), flags, readTime)
			h.r = h.w
		}
		return false
	}
	return false
}

// group assembles a multiline event from the complete lines at scan and
// reports whether it emitted one. An event ends before a line that starts
// the next, at max_lines, before it would outgrow max_line_bytes, before a
// line too long to be whole, and when mode says the event is complete.
// Without a rule (removed by a config change), what was assembled is
// emitted.
func (h *harvester) group(b *batchBuilder, s *fileSettings, readTime time.Time, mode cutMode) bool {
	m := s.multiline
	if h.pending == 0 {
		h.scan = h.r
	}
	for h.scan < h.w {
		data := h.buf[h.scan:h.w]
		i := bytes.IndexByte(data, '\n')
		if i < 0 || i > s.maxLine {
			break
		}
		if h.pending > 0 && m == nil { // the rule was removed
			h.endHere(b, s, readTime)
			return true
		}
		if h.pending > 0 && (h.atBreak() || h.pending >= m.MaxLines || h.scan+i-h.r > s.maxLine ||
			m.StartsEvent(bytes.TrimSuffix(data[:i], []byte("\r")))) {
			h.emitPending(b, s, readTime)
			return true
		}
		h.scan += i + 1
		h.pending++
	}
	switch {
	case h.pending == 0:
		return false
	case h.w-h.scan > s.maxLine || h.atBreak(): // the file's content ends the event
		h.emitPending(b, s, readTime)
		return true
	case m == nil || mode >= cutPending: // time or circumstance ends it
		h.endHere(b, s, readTime)
		return true
	}
	return false
}

// atBreak reports whether an event was ended at scan before (a break saved
// by endHere), forgetting the breaks behind it.
func (h *harvester) atBreak() bool {
	at := h.bufOffset(h.scan)
	for len(h.breaks) > 0 && h.breaks[0] < at {
		h.breaks = h.breaks[1:]
	}
	return len(h.breaks) > 0 && h.breaks[0] == at
}

// endHere emits the event being assembled where the file's content alone
// would not end it (a timeout, a truncation, the end of a rotated file, the
// rule removed), and records the break: read again after a crash, or as a
// copy, with its continuation there by then, it must end in the same place.
// flush saves the break before the event ships.
func (h *harvester) endHere(b *batchBuilder, s *fileSettings, readTime time.Time) {
	h.env.reg.Break(h.entry, h.bufOffset(h.scan))
	h.breakUnsaved = true
	h.env.metrics.MultilineTimeEnds.Inc()
	h.emitPending(b, s, readTime)
}

// midLine reports whether offset is inside a line (a long line split into
// pieces, acknowledged up to one of them): reading resumes with the rest of
// that line, still a split piece, not a line of its own.
func (h *harvester) midLine(offset int64) bool {
	if offset == 0 {
		return false
	}
	var prev [1]byte
	_, err := h.file.ReadAt(prev[:], offset-1)
	return err == nil && prev[0] != '\n'
}

// emitPending emits the assembled lines buf[r:scan] as one event.
func (h *harvester) emitPending(b *batchBuilder, s *fileSettings, readTime time.Time) {
	var flags Flags
	if h.pending > 1 {
		flags = FlagMultiline
		h.env.metrics.MultilineJoined.Add(float64(h.pending - 1))
	}
	event := dropCRs(h.buf[h.r : h.scan-1])
	h.emit(b, s, event, h.bufOffset(h.r), h.bufOffset(h.scan), flags, readTime)
	h.r, h.pending = h.scan, 0
}

// dropCRs removes the \r of every \r\n in event and a trailing \r, in
// place (the bytes are read and about to be consumed), as single-line events
// lose their line's \r.
func dropCRs(event []byte) []byte {
	event = bytes.TrimSuffix(event, []byte("\r"))
	if !bytes.Contains(event, []byte("\r\n")) {
		return event
	}
	out := event[:0]
	for line := range bytes.SplitSeq(event, []byte("\n")) {
		if len(out) > 0 {
			out = append(out, '\n')
		}
		out = append(out, bytes.TrimSuffix(line, []byte("\r"))...)
	}
	return out
}

// runeStart backs n (< len(data)) off to the start of a UTF-8 sequence (at
// most 3 bytes), so a split does not cut a character in two.
func runeStart(data []byte, n int) int {
	for i := n; i > n-utf8.UTFMax && i > 0; i-- {
		if utf8.RuneStart(data[i]) {
			return i
		}
	}
	return n
}

// emit encodes one event into the batch. An event whose encoding would
// exceed the producer's max message size (escaping can grow a line six-fold)
// is split in two, recursively; nothing is dropped.
func (h *harvester) emit(b *batchBuilder, s *fileSettings, line []byte, start, end int64, flags Flags, readTime time.Time) {
	h.refreshEncoder(s)
	mark := len(b.arena)
	id := h.seed.appendEventID(b.arena, start)
	b.arena = id
	id = id[mark:]
	valStart := len(b.arena)
	if s.raw {
		b.arena = append(b.arena, line...)
	} else {
		stamp := h.stamps.format(readTime)
		if s.parseTime != nil {
			if t, ok := s.parseTime(line, readTime); ok {
				h.parsedStamp = t.UTC().AppendFormat(h.parsedStamp[:0], timeLayout)
				stamp = h.parsedStamp
			}
		}
		b.arena = h.enc.appendEvent(b.arena, stamp, line, start, flags, id)
	}
	if len(b.arena)-valStart+len(h.key2)+headerAllowance > h.env.maxMessageBytes && len(line) > 1 {
		b.arena = b.arena[:mark]
		half := runeStart(line, len(line)/2)
		if half == 0 {
			half = len(line) / 2
		}
		h.emit(b, s, line[:half], start, start+int64(half), flags|FlagSplit, readTime)
		h.emit(b, s, line[half:], start+int64(half), end, flags|FlagSplit, readTime)
		return
	}
	format := etcd.FormatEnvelope
	if s.raw {
		format = etcd.FormatRaw
	}
	b.add(Message{Topic: s.topic, Key: h.key2, Value: b.arena[valStart:len(b.arena):len(b.arena)], EventID: id, Format: format}, end)
}

// refreshEncoder rebuilds the per-file encoding state after a config change or
// a rename.
func (h *harvester) refreshEncoder(s *fileSettings) {
	path := h.currentPath()
	if h.enc != nil && h.encFor == s && h.encPath == path {
		return
	}
	h.enc = newEnvelopeEncoder(h.env.hostID, path, s.fields)
	h.encFor, h.encPath = s, path
	h.key2 = []byte(h.env.hostID + path)
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
		if h.pending > 0 {
			h.endHere(b, h.settings.Load(), readTime)
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

// flush hands the batch to the sink; its ack advances the registry.
func (h *harvester) flush(ctx context.Context, b *batchBuilder) error {
	if len(b.msgs) == 0 {
		return nil
	}
	if h.breakUnsaved {
		if err := h.env.reg.Save(); err != nil {
			return fmt.Errorf("save multiline break: %w", err)
		}
		h.breakUnsaved = false
	}
	h.env.metrics.LinesRead.Add(float64(len(b.msgs)))
	ack, bufs := h.tracker.track(b.end), b.batchBuffers
	batch := &Batch{Messages: b.msgs, Bytes: b.bytes, Ack: func() { ack(); bufs.recycle() }}
	b.reset()
	if err := h.env.sink.Send(ctx, batch); err != nil {
		return err
	}
	return nil
}

// batchBuilder collects encoded messages; their bytes live in one arena per
// batch, so a batch costs a handful of allocations, not one per line.
type batchBuilder struct {
	*batchBuffers
	bytes int
	end   int64
}

// batchBuffers are a batch's arena and message slice. Once Kafka acked every
// message of the batch nothing refers to them any more, and they are reused:
// without that, the agent allocates and collects its whole throughput.
type batchBuffers struct {
	arena []byte
	msgs  []Message
}

const arenaCap = batchMaxBytes + batchMaxBytes/4

var batchBufferPool = sync.Pool{New: func() any {
	return &batchBuffers{arena: make([]byte, 0, arenaCap), msgs: make([]Message, 0, batchMaxLines)}
}}

func (b *batchBuffers) recycle() {
	if cap(b.arena) > 4*arenaCap {
		return // grown for a huge line; let it go
	}
	clear(b.msgs) // drop references into the arena
	b.arena, b.msgs = b.arena[:0], b.msgs[:0]
	batchBufferPool.Put(b)
}

func (b *batchBuilder) add(m Message, end int64) {
	b.msgs = append(b.msgs, m)
	b.bytes += len(m.Key) + len(m.Value)
	b.end = end
}

func (b *batchBuilder) full() bool {
	return len(b.msgs) >= batchMaxLines || len(b.arena) >= batchMaxBytes
}

func (b *batchBuilder) reset() {
	*b = batchBuilder{batchBuffers: batchBufferPool.Get().(*batchBuffers)}
}
