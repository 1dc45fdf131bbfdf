// Package pipeline is logtransfer's per-topic processing: steps (grok,
// dissect, json, kv, date, rename, remove, set, convert, lowercase, drop),
// each with an optional condition, applied in order to an event before it is
// indexed, so that logs arrive in the search engine as fields.
//
// A step that fails tags the event ("<step>_failure" in tags, the reason in
// error.message) and ends the pipeline: the event is indexed with what it
// has, never lost. Only a drop step removes an event.
package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/logagent/logagent/internal/jsonx"
)

// Event is one document as nested JSON values: map[string]any, []any,
// string, json.Number or float64, int64, bool, nil, and json.RawMessage for
// what no step has looked into yet. Decode keeps every top-level value as its
// bytes, decoded when a step reads into it, and AppendJSON writes untouched
// ones back as they were: a pipeline pays for the fields it uses, not for the
// whole document twice.
type Event map[string]any

// Decode reads a document lazily. doc must be valid JSON (the converter's
// documents are: it validates what it did not build itself); only its being
// an object is checked.
func Decode(doc []byte) (Event, error) {
	doc = bytes.TrimSpace(doc)
	if len(doc) < 2 || doc[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	return Event(membersOf(doc)), nil
}

// membersOf is a valid JSON object's members, their values still raw.
func membersOf(obj []byte) map[string]any {
	var buf [16]jsonx.Member
	ms := jsonx.Members(obj, buf[:0])
	out := make(map[string]any, len(ms)+4)
	for _, m := range ms {
		key, _ := jsonx.Unquote(m.Key)
		out[string(key)] = json.RawMessage(m.Val)
	}
	return out
}

// materialize decodes v one level if it is still raw: a string, number or
// literal to its value, an object to its members (still raw), an array
// whole.
func materialize(v any) any {
	raw, ok := v.(json.RawMessage)
	if !ok || len(raw) == 0 {
		return v
	}
	switch raw[0] {
	case '"':
		if s, ok := jsonx.Unquote(raw); ok {
			return string(s)
		}
	case '{':
		return membersOf(raw)
	case 't':
		return true
	case 'f':
		return false
	case 'n':
		return nil
	case '[':
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var out []any
		if dec.Decode(&out) == nil {
			return out
		}
	default:
		return json.Number(raw)
	}
	return v
}

// lookup returns m[key], decoded (and kept decoded) if it was raw.
func lookup(m map[string]any, key string) (any, bool) {
	v, ok := m[key]
	if !ok {
		return nil, false
	}
	if _, raw := v.(json.RawMessage); raw {
		v = materialize(v)
		m[key] = v
	}
	return v, true
}

// materializeAll decodes every raw value, all the way down, for a
// condition, which reads the event's fields directly.
func (e Event) materializeAll() { materializeIn(e) }

func materializeIn(m map[string]any) {
	for k := range m {
		v, _ := lookup(m, k)
		if sub, ok := v.(map[string]any); ok {
			materializeIn(sub)
		}
	}
}

// Get returns the value at a dotted path ("http.response.status_code"). A
// key that itself contains dots ("event.id") is found too when the path's
// first element is not a nested object.
func (e Event) Get(path string) (any, bool) {
	if v, ok := lookup(e, path); ok {
		return v, true
	}
	var cur any = map[string]any(e)
	for rest, more := path, true; more; {
		var key string
		key, rest, more = strings.Cut(rest, ".")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = lookup(m, key); !ok {
			return nil, false
		}
	}
	return cur, true
}

// Set puts v at a dotted path, making the objects on the way; a value on
// the way that is not an object is replaced by one.
func (e Event) Set(path string, v any) {
	m := map[string]any(e)
	key, rest, more := strings.Cut(path, ".")
	for more {
		cur, _ := lookup(m, key)
		next, ok := cur.(map[string]any)
		if !ok {
			next = map[string]any{}
			m[key] = next
		}
		m = next
		key, rest, more = strings.Cut(rest, ".")
	}
	m[key] = v
}

// Delete removes the value at a dotted path and reports whether there was
// one. Objects emptied on the way stay (empty).
func (e Event) Delete(path string) bool {
	if _, ok := e[path]; ok {
		delete(e, path)
		return true
	}
	m := map[string]any(e)
	key, rest, more := strings.Cut(path, ".")
	for more {
		cur, _ := lookup(m, key)
		next, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		m = next
		key, rest, more = strings.Cut(rest, ".")
	}
	_, ok := m[key]
	delete(m, key)
	return ok
}

// String returns the value at path if it is a string.
func (e Event) String(path string) (string, bool) {
	v, ok := e.Get(path)
	s, isString := v.(string)
	return s, ok && isString
}

// tag adds tag to the event's tags, once.
func (e Event) tag(tag string) {
	cur, _ := e.Get("tags")
	tags, _ := cur.([]any)
	for _, t := range tags {
		if t == tag {
			return
		}
	}
	e["tags"] = append(tags, tag)
}

// AppendJSON appends the event as compact JSON, keys sorted, raw values as
// they came.
func (e Event) AppendJSON(dst []byte) ([]byte, error) {
	return appendValue(dst, map[string]any(e))
}

func appendValue(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case json.RawMessage:
		return append(dst, x...), nil
	case map[string]any:
		var buf [16]string
		keys := buf[:0]
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst, _ = jsonx.AppendString(dst, []byte(k))
			dst = append(dst, ':')
			var err error
			if dst, err = appendValue(dst, x[k]); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	case []any:
		dst = append(dst, '[')
		for i, item := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, item); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case string:
		dst, _ = jsonx.AppendString(dst, []byte(x))
		return dst, nil
	case json.Number:
		return append(dst, x...), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case nil:
		return append(dst, "null"...), nil
	}
	b, err := json.Marshal(v) // float64 and anything else, as encoding/json writes them
	if err != nil {
		return nil, err
	}
	return append(dst, b...), nil
}
