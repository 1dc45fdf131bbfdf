package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// renameStep moves fields: {from: to}. A missing field is skipped.
type renameStep struct {
	from, to []string
}

func newRename(settings json.RawMessage) (step, error) {
	var s struct {
		Fields map[string]string `json:"fields"`
	}
	if err := decode(settings, &s); err != nil {
		return nil, err
	}
	if len(s.Fields) == 0 {
		return nil, errors.New("fields: at least one, e.g. {msg: message}")
	}
	r := &renameStep{}
	for _, from := range sortedKeys(s.Fields) {
		r.from, r.to = append(r.from, from), append(r.to, s.Fields[from])
	}
	return r, nil
}

func (r *renameStep) apply(ev Event) error {
	for i, from := range r.from {
		if v, ok := ev.Get(from); ok {
			ev.Delete(from)
			ev.Set(r.to[i], v)
		}
	}
	return nil
}

// removeStep (also drop_fields) deletes fields; missing ones are fine.
type removeStep struct{ fields []string }

func newRemove(settings json.RawMessage) (step, error) {
	var s struct {
		Fields []string `json:"fields"`
	}
	if err := decode(settings, &s); err != nil {
		return nil, err
	}
	if len(s.Fields) == 0 {
		return nil, errors.New("fields: at least one, e.g. [ts, msg]")
	}
	return &removeStep{fields: s.Fields}, nil
}

func (r *removeStep) apply(ev Event) error {
	for _, f := range r.fields {
		ev.Delete(f)
	}
	return nil
}

// setStep (also add_fields) sets fields to constant values.
type setStep struct {
	fields []string
	values []any
}

func newSet(settings json.RawMessage) (step, error) {
	var s struct {
		Fields map[string]any `json:"fields"`
	}
	if err := decode(settings, &s); err != nil {
		return nil, err
	}
	if len(s.Fields) == 0 {
		return nil, errors.New("fields: at least one, e.g. {service.name: payments}")
	}
	st := &setStep{}
	for _, f := range sortedKeys(s.Fields) {
		st.fields, st.values = append(st.fields, f), append(st.values, s.Fields[f])
	}
	return st, nil
}

func (s *setStep) apply(ev Event) error {
	for i, f := range s.fields {
		ev.Set(f, s.values[i])
	}
	return nil
}

// lowercaseStep lowercases string fields; missing ones are skipped.
type lowercaseStep struct{ fields []string }

func newLowercase(settings json.RawMessage) (step, error) {
	var s struct {
		Fields []string `json:"fields"`
	}
	if err := decode(settings, &s); err != nil {
		return nil, err
	}
	if len(s.Fields) == 0 {
		return nil, errors.New("fields: at least one, e.g. [level]")
	}
	return &lowercaseStep{fields: s.Fields}, nil
}

func (l *lowercaseStep) apply(ev Event) error {
	for _, f := range l.fields {
		v, ok := ev.Get(f)
		if !ok {
			continue
		}
		s, isString := v.(string)
		if !isString {
			return fmt.Errorf("field %q is not a string", f)
		}
		ev.Set(f, strings.ToLower(s))
	}
	return nil
}

// dropStep drops the event: with an "if", the events that match it.
type dropStep struct{}

func newDrop(settings json.RawMessage) (step, error) {
	var s struct{}
	if err := decode(settings, &s); err != nil {
		return nil, err
	}
	return dropStep{}, nil
}

func (dropStep) apply(Event) error { return errDropped }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
