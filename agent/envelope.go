package agent

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/logagent/logagent/internal/jsonx"
	"github.com/logagent/logagent/wire"
)

// Flags mark how an event differs from a plain line. They become log.flags.
type Flags uint8

const (
	// FlagSplit: the line was longer than max_line_bytes and this event is one
	// of its consecutive pieces.
	FlagSplit Flags = 1 << iota
	// FlagInvalidUTF8: bytes that are not UTF-8 were written as \xNN.
	FlagInvalidUTF8
	// FlagMultiline: the event is several lines joined (the entry's
	// multiline rule).
	FlagMultiline
)

var flagNames = []struct {
	f    Flags
	name string
}{{FlagSplit, "split"}, {FlagInvalidUTF8, "invalid_utf8"}, {FlagMultiline, "multiline"}}

// eventIDSeed is the per-file half of an event id: the first 64 bits of
// SHA-256(host id, origin id), hashed once per file.
type eventIDSeed [8]byte

func newEventIDSeed(hostID, origin string) eventIDSeed {
	sum := sha256.Sum256([]byte(hostID + "\x00" + origin))
	return eventIDSeed(sum[:8])
}

// appendEventID appends the 32 hex characters of the 128-bit id of the line
// starting at offset: the file's seed, then the offset. The same host, origin
// and offset give the same id on every run. Two lines of one file can never
// share an id (their offsets differ), and two files only if 64-bit hashes of
// distinct random origins collide. Ids of one file share a prefix and grow with
// the offset, which Lucene-based engines index faster than random ids.
func (s *eventIDSeed) appendEventID(dst []byte, offset int64) []byte {
	var in [16]byte
	copy(in[:8], s[:])
	binary.BigEndian.PutUint64(in[8:], uint64(offset))
	return hex.AppendEncode(dst, in[:])
}

// envelopeEncoder writes the default JSON event for one file. The parts that
// do not change per line (host, path, fields) are encoded once.
type envelopeEncoder struct {
	hostPart   []byte // ,"host":{"name":...}
	pathPart   []byte // ,"log":{"file":{"path":...},"offset":
	fieldsPart []byte // ,"fields":{...}} or }
}

func newEnvelopeEncoder(host, path string, fields map[string]string) *envelopeEncoder {
	e := &envelopeEncoder{}
	e.hostPart, _ = jsonx.AppendString(append([]byte(nil), `,"`+wire.FieldHost+`":{"name":`...), []byte(host))
	e.hostPart = append(e.hostPart, '}')
	e.pathPart, _ = jsonx.AppendString(append([]byte(nil), `,"`+wire.FieldLog+`":{"file":{"path":`...), []byte(path))
	e.pathPart = append(e.pathPart, `},"offset":`...)
	if len(fields) > 0 {
		e.fieldsPart = append(e.fieldsPart, `,"`+wire.FieldFields+`":{`...)
		for i, k := range slices.Sorted(maps.Keys(fields)) {
			if i > 0 {
				e.fieldsPart = append(e.fieldsPart, ',')
			}
			e.fieldsPart, _ = jsonx.AppendString(e.fieldsPart, []byte(k))
			e.fieldsPart = append(e.fieldsPart, ':')
			e.fieldsPart, _ = jsonx.AppendString(e.fieldsPart, []byte(fields[k]))
		}
		e.fieldsPart = append(e.fieldsPart, '}')
	}
	e.fieldsPart = append(e.fieldsPart, '}')
	return e
}

// overhead is an upper bound on what an envelope adds to its message (and
// the id before it in the arena), beyond six times the message's length.
func (e *envelopeEncoder) overhead() int {
	return len(e.hostPart) + len(e.pathPart) + len(e.fieldsPart) + 256
}

// appendEvent appends one envelope. stamp is the formatted @timestamp; id the
// hex event id. It reports the flags it had to add (invalid UTF-8).
func (e *envelopeEncoder) appendEvent(dst, stamp, msg []byte, offset int64, flags Flags, id []byte) []byte {
	dst = append(dst, `{"`+wire.FieldTimestamp+`":"`...)
	dst = append(dst, stamp...)
	dst = append(dst, `","`+wire.FieldMessage+`":`...)
	var invalid bool
	dst, invalid = jsonx.AppendString(dst, msg)
	if invalid {
		flags |= FlagInvalidUTF8
	}
	dst = append(dst, e.hostPart...)
	dst = append(dst, e.pathPart...)
	dst = strconv.AppendInt(dst, offset, 10)
	if flags != 0 {
		dst = append(dst, `,"flags":[`...)
		first := true
		for _, f := range flagNames {
			if flags&f.f == 0 {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, '"')
			dst = append(dst, f.name...)
			dst = append(dst, '"')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `},"`+wire.FieldEvent+`":{"id":"`...)
	dst = append(dst, id...)
	dst = append(dst, `"}`...)
	return append(dst, e.fieldsPart...)
}

// stampCache formats a read time once per chunk of lines, not once per line.
type stampCache struct {
	t   time.Time
	buf []byte
}

func (c *stampCache) format(t time.Time) []byte {
	if !t.Equal(c.t) || c.buf == nil {
		c.t = t
		c.buf = t.UTC().AppendFormat(c.buf[:0], wire.TimeLayout)
	}
	return c.buf
}
