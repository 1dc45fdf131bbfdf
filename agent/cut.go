package agent

import (
	"bytes"
	"context"
	"time"
	"unicode/utf8"
)

// cutMode says how much of the buffered bytes cut may turn into events.
type cutMode int

const (
	// cutLines: complete lines; a multiline event waits for the line after it.
	cutLines cutMode = iota
	// cutAssembled: only the multiline event being assembled, as it is (the
	// file was rewritten under it: what follows is not its continuation).
	cutAssembled
	// cutPending: also the multiline event being assembled (its timeout
	// passed, its rule was removed, or the file shrank under it).
	cutPending
	// cutFinal: also a trailing fragment without newline: the file is done.
	cutFinal
)

// event is one event found in the buffered bytes, not consumed yet: if the
// batch has no room for it, it is found again after the flush.
type event struct {
	data       []byte // buf's bytes (an assembled event's \r are dropped by emit)
	start, end int64  // file offsets of the event's bytes
	next       int    // buf index where reading continues after it
	flags      Flags
	// split: the event is a piece of a line longer than max_line_bytes, and
	// the bytes after it continue that line.
	split bool
	// lines joined by a multiline rule (0 for a plain line).
	lines int
	// brk: a multiline event ended where the content does not say it ends
	// (a timeout, a truncation, the end of a rotated file, the rule
	// removed). The break is recorded, so a crash re-read or a copy ends it in
	// the same place.
	brk bool
}

// bufOffset is the file offset of buf[i].
func (h *harvester) bufOffset(i int) int64 { return h.offset - int64(h.w-i) }

// cut turns the buffered bytes into events in the batch: every complete line
// (or group of lines, with a multiline rule), pieces of lines longer than
// max_line_bytes, and what mode allows beyond. It stops early, reporting
// true, when the batch has no room for the next event: flush, and cut again.
func (h *harvester) cut(ctx context.Context, b *batchBuilder, readTime time.Time, mode cutMode) (full bool, err error) {
	s := h.settings.Load()
	for {
		ev, ok := h.nextEvent(s, mode)
		if !ok {
			return false, nil
		}
		if s.keep != nil {
			if keep, reason := s.keep(ev.data); !keep {
				h.env.metrics.eventDropped(reason)
				b.skip(ev.end)
				h.consume(ev)
				continue
			}
		}
		if ok, err := h.emit(ctx, b, s, ev, readTime); err != nil || !ok {
			return err == nil, err
		}
		h.consume(ev)
	}
}

// drain cuts the buffered bytes into events, flushing each full batch, so a
// batch never outgrows its limits however many short lines one read brought.
func (h *harvester) drain(ctx context.Context, b *batchBuilder, readTime time.Time, mode cutMode) error {
	for {
		full, err := h.cut(ctx, b, readTime, mode)
		if err != nil || !full {
			return err
		}
		if err := h.flush(ctx, b); err != nil {
			return err
		}
	}
}

// nextEvent finds the event at r, if mode lets one end there.
func (h *harvester) nextEvent(s *fileSettings, mode cutMode) (event, bool) {
	if mode == cutAssembled {
		if h.pending == 0 {
			return event{}, false
		}
		return h.assembled(true), true
	}
	if h.r >= h.w {
		return event{}, false
	}
	if h.pending > 0 || (s.multiline != nil && !h.inSplit) {
		if ev, ok := h.group(s, mode); ok {
			return ev, true
		}
		if h.pending > 0 {
			return event{}, false // the event waits for the line after it
		}
		// No complete line at r: a line too long, or a fragment.
	}
	data := h.buf[h.r:h.w]
	var flags Flags
	if h.inSplit {
		flags = FlagSplit
	}
	if i := bytes.IndexByte(data, '\n'); i >= 0 && i <= s.maxLine {
		line := bytes.TrimSuffix(data[:i], []byte("\r"))
		return event{data: line, start: h.bufOffset(h.r), end: h.bufOffset(h.r + i + 1), next: h.r + i + 1, flags: flags}, true
	}
	if len(data) > s.maxLine { // more than maxLine bytes and no newline among them
		n := runeStart(data, s.maxLine)
		return event{data: data[:n], start: h.bufOffset(h.r), end: h.bufOffset(h.r + n), next: h.r + n, flags: FlagSplit, split: true}, true
	}
	if mode == cutFinal {
		return event{data: data, start: h.bufOffset(h.r), end: h.bufOffset(h.w), next: h.w, flags: flags}, true
	}
	return event{}, false
}

// consume moves past an event the batch took.
func (h *harvester) consume(ev event) {
	if ev.brk {
		h.env.reg.Break(h.entry, ev.end)
		h.breakUnsaved = true // flush saves it before the event ships
		h.env.metrics.MultilineTimeEnds.Inc()
	}
	if ev.lines > 1 {
		h.env.metrics.MultilineJoined.Add(float64(ev.lines - 1))
	}
	h.r, h.inSplit, h.pending = ev.next, ev.split, 0
}

// group assembles a multiline event from the complete lines at scan and
// returns it once it is complete. An event ends before a line that starts
// the next, at max_lines, before it would outgrow max_line_bytes, before a
// line too long to be whole, and when mode says the event is complete.
// Without a rule (removed by a config change), what was assembled is the
// event. The lines assembled so far (pending, up to scan) stay assembled
// until the event is consumed.
func (h *harvester) group(s *fileSettings, mode cutMode) (event, bool) {
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
			return h.assembled(true), true
		}
		if h.pending > 0 && (h.atBreak() || h.pending >= m.MaxLines || h.scan+i-h.r > s.maxLine ||
			m.StartsEvent(bytes.TrimSuffix(data[:i], []byte("\r")))) {
			return h.assembled(false), true
		}
		h.scan += i + 1
		h.pending++
	}
	switch {
	case h.pending == 0:
		return event{}, false
	case h.w-h.scan > s.maxLine || h.atBreak(): // the file's content ends the event
		return h.assembled(false), true
	case m == nil || mode >= cutPending: // time or circumstance ends it
		return h.assembled(true), true
	}
	return event{}, false
}

// assembled is the event of the lines buf[r:scan]; brk says it ends where
// the content does not imply it.
func (h *harvester) assembled(brk bool) event {
	ev := event{data: h.buf[h.r : h.scan-1], start: h.bufOffset(h.r), end: h.bufOffset(h.scan), next: h.scan,
		lines: h.pending, brk: brk}
	if h.pending > 1 {
		ev.flags = FlagMultiline
	}
	return ev
}

// atBreak reports whether an event was ended at scan before (a break
// recorded by consume), forgetting the breaks behind it.
func (h *harvester) atBreak() bool {
	at := h.bufOffset(h.scan)
	for len(h.breaks) > 0 && h.breaks[0] < at {
		h.breaks = h.breaks[1:]
	}
	return len(h.breaks) > 0 && h.breaks[0] == at
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
