package transfer

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/logagent/logagent/internal/jsonx"
	"github.com/logagent/logagent/wire"
)

// jsonObject returns b, trimmed, when it is a valid JSON object, compacted
// if it spans lines: bulk bodies are newline-delimited.
func jsonObject(b []byte) ([]byte, bool) {
	v := bytes.TrimSpace(b)
	if len(v) < 2 || v[0] != '{' || !json.Valid(v) {
		return nil, false
	}
	if bytes.IndexByte(v, '\n') >= 0 {
		var c bytes.Buffer
		_ = json.Compact(&c, v) // v is valid
		v = c.Bytes()
	}
	return v, true
}

// additions are the fields a document gets beyond the event's own.
type additions struct {
	stamp   []byte    // @timestamp, when the event has none
	eventID []byte    // raw lines: event.id from the header
	invalid bool      // raw lines: bytes that were not UTF-8
	jsonObj []byte    // the message parsed as a JSON object
	access  accessLog // the message parsed as an access log, if hasAccess
	failure bool      // the topic's parser could not parse the message

	hasAccess bool
}

// raw builds {"@timestamp","message",…} around a line.
func (c *Converter) raw(value, headerID []byte, mode parseMode, kts time.Time) []byte {
	line := bytes.TrimRight(value, "\r\n")
	dst := make([]byte, 0, len(line)+len(line)/8+128)
	dst = append(dst, `{"`+wire.FieldTimestamp+`":"`...)
	dst = kts.UTC().AppendFormat(dst, wire.TimeLayout)
	dst = append(dst, `","message":`...)
	var add additions
	dst, add.invalid = jsonx.AppendString(dst, line)
	add.eventID = headerID
	c.parseMessage(&add, line, mode)
	dst = c.appendAdditions(dst, &add)
	return append(dst, '}')
}

// envelope splices additions into a JSON envelope. ok is false when value is
// not a JSON object.
func (c *Converter) envelope(value []byte, mode parseMode, kts time.Time) (src, id []byte, date [10]byte, ok bool) {
	v, isObject := jsonObject(value)
	if !isObject {
		return nil, nil, date, false
	}
	var membersBuf [16]jsonx.Member
	ms := jsonx.Members(v, membersBuf[:0])

	var add additions
	dateOK := false
	if ts := jsonx.Find(ms, `"`+wire.FieldTimestamp+`"`); ts != nil {
		date, dateOK = dateFromValue(ts)
	} else {
		add.stamp = kts.UTC().AppendFormat(make([]byte, 0, len(wire.TimeLayout)), wire.TimeLayout)
	}
	if !dateOK {
		date, _ = dateOf(kts)
	}
	if ev := jsonx.Find(ms, `"`+wire.FieldEvent+`"`); len(ev) > 0 && ev[0] == '{' {
		var evBuf [8]jsonx.Member
		id, _ = jsonx.Unquote(jsonx.Find(jsonx.Members(ev, evBuf[:0]), `"id"`))
	} else if ev := jsonx.Find(ms, `"`+wire.HeaderEventID+`"`); ev != nil {
		id, _ = jsonx.Unquote(ev)
	}

	if mode != parseNone {
		msg, isString := jsonx.Unquote(jsonx.Find(ms, `"`+wire.FieldMessage+`"`))
		if isString {
			c.parseMessage(&add, msg, mode)
		} else {
			add.failure = true
		}
	}
	if add.stamp == nil && add.jsonObj == nil && !add.hasAccess && !add.failure {
		return v, id, date, true // nothing to add: the event is the document
	}
	if c.conflicts(ms, &add) {
		return c.merge(v, &add), id, date, true
	}
	end := len(v) - 1 // the closing brace
	dst := make([]byte, 0, len(v)+256)
	dst = append(dst, v[:end]...)
	mark := len(dst)
	dst = c.appendAdditions(dst, &add)
	if len(ms) == 0 {
		dst = append(dst[:mark], dst[mark+1:]...) // "{}": no comma before the first field
	}
	return append(dst, '}'), id, date, true
}

// parseMessage runs the topic's parser on a message.
func (c *Converter) parseMessage(add *additions, msg []byte, mode parseMode) {
	switch mode {
	case parseJSON:
		obj, ok := jsonObject(msg)
		add.jsonObj, add.failure = obj, !ok
	case parseAccess:
		add.hasAccess = parseAccessLog(msg, &add.access)
		add.failure = !add.hasAccess
	}
}

// appendAdditions writes each added field with a leading comma.
func (c *Converter) appendAdditions(dst []byte, add *additions) []byte {
	if add.stamp != nil {
		dst = append(dst, `,"`+wire.FieldTimestamp+`":"`...)
		dst = append(dst, add.stamp...)
		dst = append(dst, '"')
	}
	if add.invalid {
		dst = append(dst, `,"log":{"flags":["invalid_utf8"]}`...)
	}
	if len(add.eventID) > 0 {
		dst = append(dst, `,"event":{"id":`...)
		dst, _ = jsonx.AppendString(dst, add.eventID)
		dst = append(dst, '}')
	}
	if add.jsonObj != nil {
		dst = append(dst, ',')
		dst = append(dst, c.jsonKey...)
		dst = append(dst, ':')
		dst = append(dst, add.jsonObj...)
	}
	if add.hasAccess {
		dst = add.access.appendECS(dst)
	}
	if add.failure {
		dst = append(dst, `,"tags":["parse_failure"]`...)
	}
	return dst
}

// conflicts reports whether an added field already exists in the event.
func (c *Converter) conflicts(ms []jsonx.Member, add *additions) bool {
	has := func(key string) bool { return jsonx.Find(ms, key) != nil }
	if add.jsonObj != nil && jsonx.Find(ms, string(c.jsonKey)) != nil {
		return true
	}
	if add.failure && has(`"tags"`) {
		return true
	}
	if a := &add.access; add.hasAccess {
		if has(`"source"`) || has(`"http"`) ||
			(a.user != nil && has(`"user"`)) || (a.url != nil && has(`"url"`)) || (a.agent != nil && has(`"user_agent"`)) {
			return true
		}
	}
	return false
}

// merge is the slow path for colliding fields: objects are merged, tags
// appended, and otherwise the event's own value wins over a parsed one.
func (c *Converter) merge(v []byte, add *additions) []byte {
	var base, extra map[string]any
	obj := append([]byte{'{'}, c.appendAdditions(nil, add)[1:]...)
	obj = append(obj, '}')
	if decodeNumbers(v, &base) != nil || decodeNumbers(obj, &extra) != nil {
		return v // cannot happen: both are valid JSON objects
	}
	mergeInto(base, extra)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(base) != nil {
		return v
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // keep 64-bit offsets and ids exact
	return dec.Decode(v)
}

func mergeInto(dst, src map[string]any) {
	for k, sv := range src {
		dv, ok := dst[k]
		if !ok {
			dst[k] = sv
			continue
		}
		switch d := dv.(type) {
		case map[string]any:
			if s, ok := sv.(map[string]any); ok {
				mergeInto(d, s)
			}
		case []any:
			if s, ok := sv.([]any); ok {
				dst[k] = append(d, s...)
			}
		}
	}
}

// dateOf formats t's UTC date as YYYY.MM.DD.
func dateOf(t time.Time) (d [10]byte, ok bool) {
	y, m, day := t.UTC().Date()
	if y < 0 || y > 9999 {
		return d, false
	}
	put4(d[0:4], y)
	d[4] = '.'
	put2(d[5:7], int(m))
	d[7] = '.'
	put2(d[8:10], day)
	return d, true
}

func put4(b []byte, n int) { put2(b[0:2], n/100); put2(b[2:4], n%100) }
func put2(b []byte, n int) { b[0], b[1] = byte('0'+n/10), byte('0'+n%10) }

// dateFromValue reads the date of an @timestamp value: an RFC 3339 string or
// epoch milliseconds (both accepted by Elasticsearch's default date format).
func dateFromValue(v []byte) (d [10]byte, ok bool) {
	if len(v) > 0 && v[0] != '"' {
		ms, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return d, false
		}
		return dateOf(time.UnixMilli(ms))
	}
	s, _ := jsonx.Unquote(v)
	// Fast path for what the agent writes: "YYYY-MM-DDThh:mm:ss…Z" is already UTC.
	if len(s) >= 20 && s[len(s)-1] == 'Z' && s[4] == '-' && s[7] == '-' && (s[10] == 'T' || s[10] == 't') &&
		digits(s[0:4]) && digits(s[5:7]) && digits(s[8:10]) &&
		string(s[5:7]) >= "01" && string(s[5:7]) <= "12" && string(s[8:10]) >= "01" && string(s[8:10]) <= "31" {
		copy(d[0:4], s[0:4])
		d[4] = '.'
		copy(d[5:7], s[5:7])
		d[7] = '.'
		copy(d[8:10], s[8:10])
		return d, true
	}
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return d, false
	}
	return dateOf(t)
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}
