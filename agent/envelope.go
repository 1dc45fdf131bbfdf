package agent

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"
)

// Flags mark how an event differs from a plain line. They become log.flags.
type Flags uint8

const (
	// FlagSplit: the line was longer than max_line_bytes and this event is one
	// of its consecutive pieces.
	FlagSplit Flags = 1 << iota
	// FlagInvalidUTF8: bytes that are not UTF-8 were written as \xNN.
	FlagInvalidUTF8
)

var flagNames = []struct {
	f    Flags
	name string
}{{FlagSplit, "split"}, {FlagInvalidUTF8, "invalid_utf8"}}

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

// timeLayout is RFC 3339 with a fixed nine-digit fraction, so all stamps have
// one width and sort as strings.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// envelopeEncoder writes the default JSON event for one file. The parts that
// do not change per line (host, path, fields) are encoded once.
type envelopeEncoder struct {
	hostPart   []byte // ,"host":{"name":...}
	pathPart   []byte // ,"log":{"file":{"path":...},"offset":
	fieldsPart []byte // ,"fields":{...}} or }
}

func newEnvelopeEncoder(host, path string, fields map[string]string) *envelopeEncoder {
	e := &envelopeEncoder{}
	e.hostPart, _ = appendJSONString(append([]byte(nil), `,"host":{"name":`...), []byte(host))
	e.hostPart = append(e.hostPart, '}')
	e.pathPart, _ = appendJSONString(append([]byte(nil), `,"log":{"file":{"path":`...), []byte(path))
	e.pathPart = append(e.pathPart, `},"offset":`...)
	if len(fields) > 0 {
		e.fieldsPart = append(e.fieldsPart, `,"fields":{`...)
		for i, k := range sortedKeys(fields) {
			if i > 0 {
				e.fieldsPart = append(e.fieldsPart, ',')
			}
			e.fieldsPart, _ = appendJSONString(e.fieldsPart, []byte(k))
			e.fieldsPart = append(e.fieldsPart, ':')
			e.fieldsPart, _ = appendJSONString(e.fieldsPart, []byte(fields[k]))
		}
		e.fieldsPart = append(e.fieldsPart, '}')
	}
	e.fieldsPart = append(e.fieldsPart, '}')
	return e
}

// appendEvent appends one envelope. stamp is the formatted @timestamp; id the
// hex event id. It reports the flags it had to add (invalid UTF-8).
func (e *envelopeEncoder) appendEvent(dst, stamp, msg []byte, offset int64, flags Flags, id []byte) []byte {
	dst = append(dst, `{"@timestamp":"`...)
	dst = append(dst, stamp...)
	dst = append(dst, `","message":`...)
	var invalid bool
	dst, invalid = appendJSONString(dst, msg)
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
	dst = append(dst, `},"event":{"id":"`...)
	dst = append(dst, id...)
	dst = append(dst, `"}`...)
	return append(dst, e.fieldsPart...)
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the ASCII bytes that are copied into a JSON string as they are.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s as a JSON string. Bytes that are not valid UTF-8
// become the four characters \xNN (escaped as \\xNN in JSON), so the message
// stays valid JSON and the original bytes can still be read off. It reports
// whether it met such bytes.
func appendJSONString(dst, s []byte) (out []byte, invalidUTF8 bool) {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if jsonSafe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			invalidUTF8 = true
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), invalidUTF8
}

// stampCache formats a read time once per chunk of lines, not once per line.
type stampCache struct {
	t   time.Time
	buf []byte
}

func (c *stampCache) format(t time.Time) []byte {
	if !t.Equal(c.t) || c.buf == nil {
		c.t = t
		c.buf = t.UTC().AppendFormat(c.buf[:0], timeLayout)
	}
	return c.buf
}
