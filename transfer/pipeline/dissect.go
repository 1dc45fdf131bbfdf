package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// dissectStep splits a field by the delimiters between %{key}s, as
// Filebeat's and Elasticsearch's dissect: "%{client} - %{user} [%{ts}]".
// Modifiers: %{?key} skips the value, %{+key} appends it to key's (with a
// space), %{key->} allows the delimiter after it to repeat (padding).
type dissectStep struct {
	field  string
	prefix string   // text before the first key
	keys   []dkey   // in order
	delims []string // delims[i] follows keys[i]; the last key's is "" (the rest)
}

type dkey struct {
	name          string
	skip, appends bool
	padded        bool
}

type dissectSettings struct {
	Field     string `json:"field"`
	Tokenizer string `json:"tokenizer"`
	// TargetPrefix puts the keys under this object; "" puts them at the root.
	TargetPrefix string `json:"target_prefix"`
}

func newDissect(settings json.RawMessage) (step, error) {
	var s dissectSettings
	if err := decode(settings, &s); err != nil {
		return nil, err
	}
	d, err := parseTokenizer(s.Tokenizer)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %q: %w", s.Tokenizer, err)
	}
	d.field = orDefault(s.Field, "message")
	if s.TargetPrefix != "" {
		for i := range d.keys {
			d.keys[i].name = s.TargetPrefix + "." + d.keys[i].name
		}
	}
	return d, nil
}

func parseTokenizer(t string) (*dissectStep, error) {
	d := &dissectStep{}
	i := strings.Index(t, "%{")
	if i < 0 {
		return nil, errors.New(`no %{key}: write the line with %{name} where each value is, e.g. "%{client} - %{user} [%{time}]"`)
	}
	d.prefix, t = t[:i], t[i:]
	for t != "" {
		end := strings.IndexByte(t, '}')
		if !strings.HasPrefix(t, "%{") || end < 0 {
			return nil, fmt.Errorf("unclosed %%{ at %q", t)
		}
		k := dkey{name: t[2:end]}
		t = t[end+1:]
		if n, ok := strings.CutSuffix(k.name, "->"); ok {
			k.name, k.padded = n, true
		}
		switch {
		case strings.HasPrefix(k.name, "?"):
			k.name, k.skip = k.name[1:], true
		case strings.HasPrefix(k.name, "+"):
			k.name, k.appends = k.name[1:], true
		}
		if k.name == "" && !k.skip {
			return nil, errors.New("a %{} has no name (%{?} skips a value)")
		}
		next := strings.Index(t, "%{")
		delim := t
		if next >= 0 {
			delim, t = t[:next], t[next:]
		} else {
			t = ""
		}
		if delim == "" && next >= 0 {
			return nil, fmt.Errorf("%%{%s} and the key after it have no delimiter between them", k.name)
		}
		d.keys = append(d.keys, k)
		d.delims = append(d.delims, delim)
	}
	return d, nil
}

func (d *dissectStep) apply(ev Event) error {
	text, ok := ev.String(d.field)
	if !ok {
		return fmt.Errorf("field %q is missing or not a string", d.field)
	}
	rest, ok := strings.CutPrefix(text, d.prefix)
	if !ok {
		return fmt.Errorf("%q does not start with %q", d.field, d.prefix)
	}
	values := make([]string, len(d.keys))
	for i, k := range d.keys {
		delim := d.delims[i]
		if delim == "" { // the last key takes the rest
			values[i] = rest
			rest = ""
			break
		}
		j := strings.Index(rest, delim)
		if j < 0 {
			return fmt.Errorf("delimiter %q after %%{%s} not found", delim, k.name)
		}
		values[i], rest = rest[:j], rest[j+len(delim):]
		if k.padded {
			for strings.HasPrefix(rest, delim) {
				rest = rest[len(delim):]
			}
		}
	}
	for i, k := range d.keys {
		switch {
		case k.skip:
		case k.appends:
			if prev, ok := ev.String(k.name); ok && prev != "" {
				ev.Set(k.name, prev+" "+values[i])
			} else {
				ev.Set(k.name, values[i])
			}
		default:
			ev.Set(k.name, values[i])
		}
	}
	return nil
}
