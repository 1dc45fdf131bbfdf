package pipeline

import (
	"encoding/json"
	"fmt"
	"strings"
)

// kvStep splits a field into key=value pairs: "user=ann status=200
// msg=\"payment failed\"" sets user, status and msg. Values in double quotes
// may hold the field separator.
type kvStep struct {
	field, fieldSplit, valueSplit, target string
}

type kvSettings struct {
	Field      string `json:"field"`
	FieldSplit string `json:"field_split"` // default " "
	ValueSplit string `json:"value_split"` // default "="
	// Target puts the pairs under this object; "" puts them at the root.
	Target string `json:"target"`
}

func newKV(settings json.RawMessage) (step, error) {
	var s kvSettings
	if err := decode(settings, &s); err != nil {
		return nil, err
	}
	k := &kvStep{field: orDefault(s.Field, "message"), fieldSplit: orDefault(s.FieldSplit, " "), valueSplit: orDefault(s.ValueSplit, "="), target: s.Target}
	if k.fieldSplit == k.valueSplit {
		return nil, fmt.Errorf("field_split and value_split are both %q", k.fieldSplit)
	}
	return k, nil
}

func (k *kvStep) apply(ev Event) error {
	text, ok := ev.String(k.field)
	if !ok {
		return fmt.Errorf("field %q is missing or not a string", k.field)
	}
	found := 0
	for _, pair := range splitOutsideQuotes(text, k.fieldSplit) {
		key, value, ok := strings.Cut(pair, k.valueSplit)
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			continue
		}
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		if k.target != "" {
			key = k.target + "." + key
		}
		ev.Set(key, value)
		found++
	}
	if found == 0 {
		return fmt.Errorf("no key%svalue pair in %q", k.valueSplit, k.field)
	}
	return nil
}

// splitOutsideQuotes splits s at sep where sep is not inside double quotes.
func splitOutsideQuotes(s, sep string) []string {
	var out []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			inQuote = !inQuote
		case !inQuote && strings.HasPrefix(s[i:], sep):
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + len(sep)
			i += len(sep) - 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
