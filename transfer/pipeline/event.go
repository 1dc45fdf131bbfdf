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
	"strings"
)

// Event is one document as nested JSON values: map[string]any, []any,
// string, json.Number or float64, bool, nil.
type Event map[string]any

// Get returns the value at a dotted path ("http.response.status_code"). A
// key that itself contains dots ("event.id") is found too when the path's
// first element is not a nested object.
func (e Event) Get(path string) (any, bool) {
	if v, ok := e[path]; ok {
		return v, true
	}
	var cur any = map[string]any(e)
	for _, key := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[key]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Set puts v at a dotted path, making the objects on the way; a value on
// the way that is not an object is replaced by one.
func (e Event) Set(path string, v any) {
	m := map[string]any(e)
	keys := strings.Split(path, ".")
	for _, key := range keys[:len(keys)-1] {
		next, ok := m[key].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[key] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

// Delete removes the value at a dotted path and reports whether there was
// one. Objects emptied on the way stay (empty).
func (e Event) Delete(path string) bool {
	if _, ok := e[path]; ok {
		delete(e, path)
		return true
	}
	keys := strings.Split(path, ".")
	m := map[string]any(e)
	for _, key := range keys[:len(keys)-1] {
		next, ok := m[key].(map[string]any)
		if !ok {
			return false
		}
		m = next
	}
	last := keys[len(keys)-1]
	_, ok := m[last]
	delete(m, last)
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
	tags, _ := e["tags"].([]any)
	for _, t := range tags {
		if t == tag {
			return
		}
	}
	e["tags"] = append(tags, tag)
}
