package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// jsonStep decodes a field holding JSON into a target object, or into the
// event's root.
type jsonStep struct {
	field, target string
}

type jsonSettings struct {
	Field string `json:"field"`
	// Target receives the decoded object; "" merges it into the root (a
	// key it has replaces the event's).
	Target string `json:"target"`
}

func newJSON(settings json.RawMessage) (step, error) {
	var s jsonSettings
	if err := decode(settings, &s); err != nil {
		return nil, err
	}
	return &jsonStep{field: orDefault(s.Field, "message"), target: s.Target}, nil
}

func (j *jsonStep) apply(ev Event) error {
	text, ok := ev.String(j.field)
	if !ok {
		return fmt.Errorf("field %q is missing or not a string", j.field)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("%q is not JSON: %v", j.field, err)
	}
	if j.target != "" {
		ev.Set(j.target, v)
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%q is JSON but not an object; set a target to keep it", j.field)
	}
	for k, x := range obj {
		ev[k] = x
	}
	return nil
}
