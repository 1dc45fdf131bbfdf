package agent

import (
	"context"
	"time"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/wire"
)

// headerAllowance is what a message costs in the producer's size limit
// besides its key and value: the event.id and format headers, record
// overhead.
const headerAllowance = 128

// emit encodes one event into the batch. It reports false, having changed
// nothing, when the batch has no room for the event: flush it first.
func (h *harvester) emit(ctx context.Context, b *batchBuilder, s *fileSettings, ev event, readTime time.Time) (bool, error) {
	h.refreshEncoder(s)
	// Room for the worst case: escaping grows a line at most six-fold, and
	// a message too large for the producer is split into pieces, each with
	// its own id and envelope.
	pieces := 1 + 12*len(ev.data)/h.env.maxMessageBytes
	need := 6*len(ev.data) + pieces*(h.enc.overhead()+headerAllowance)
	if ok, err := b.room(ctx, need, pieces, 2*(h.w-h.r)); err != nil || !ok {
		return false, err
	}
	line := ev.data
	if ev.lines > 0 {
		line = dropCRs(line)
	}
	h.encode(b, s, line, ev.start, ev.end, ev.flags, readTime)
	return true, nil
}

// encode writes one event into the batch, which has room for it. An event
// whose encoding would exceed the producer's max message size (escaping can
// grow a line six-fold) is split in two, recursively; nothing is dropped.
func (h *harvester) encode(b *batchBuilder, s *fileSettings, line []byte, start, end int64, flags Flags, readTime time.Time) {
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
				h.parsedStamp = t.UTC().AppendFormat(h.parsedStamp[:0], wire.TimeLayout)
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
		h.encode(b, s, line[:half], start, start+int64(half), flags|FlagSplit, readTime)
		h.encode(b, s, line[half:], start+int64(half), end, flags|FlagSplit, readTime)
		return
	}
	format := collect.FormatEnvelope
	if s.raw {
		format = collect.FormatRaw
	}
	b.add(Message{Topic: s.topic, Key: h.key2, Value: b.arena[valStart:len(b.arena):len(b.arena)], EventID: id, Format: format,
		ReadTime: readTime.UnixMilli()}, end, readTime)
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
