package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// convertTypes are the types convert writes and the index template maps.
var convertTypes = []string{"int", "float", "bool", "ip", "string"}

// convertStep converts fields to a type: {status: int, latency: float,
// client.ip: ip}. A missing field is skipped; one that does not convert
// fails the step.
type convertStep struct {
	fields []string
	types  []string
}

func newConvert(settings json.RawMessage) (step, error) {
	var s struct {
		Fields map[string]string `json:"fields"`
	}
	if err := decode(settings, &s); err != nil {
		return nil, err
	}
	if len(s.Fields) == 0 {
		return nil, errors.New("fields: at least one, e.g. {http.response.status_code: int}")
	}
	c := &convertStep{}
	for _, f := range sortedKeys(s.Fields) {
		t := s.Fields[f]
		if !slices.Contains(convertTypes, t) {
			return nil, fmt.Errorf("fields.%s: %q is not one of %s", f, t, strings.Join(convertTypes, ", "))
		}
		c.fields, c.types = append(c.fields, f), append(c.types, t)
	}
	return c, nil
}

func (c *convertStep) fieldTypes() map[string]string {
	out := make(map[string]string, len(c.fields))
	for i, f := range c.fields {
		out[f] = c.types[i]
	}
	return out
}

func (c *convertStep) apply(ev Event) error {
	for i, f := range c.fields {
		v, ok := ev.Get(f)
		if !ok {
			continue
		}
		out, err := convert(v, c.types[i])
		if err != nil {
			return fmt.Errorf("field %q: %w", f, err)
		}
		ev.Set(f, out)
	}
	return nil
}

func convert(v any, to string) (any, error) {
	s := strings.TrimSpace(fmt.Sprint(v))
	switch to {
	case "int":
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && f == float64(int64(f)) {
			return int64(f), nil
		}
	case "float":
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, nil
		}
	case "bool":
		if b, err := strconv.ParseBool(s); err == nil {
			return b, nil
		}
	case "ip":
		if a, err := netip.ParseAddr(s); err == nil {
			return a.String(), nil
		}
	case "string":
		return s, nil
	}
	return nil, fmt.Errorf("%q is not %s", s, article(to))
}

func article(t string) string {
	switch t {
	case "int":
		return "an integer"
	case "ip":
		return "an IP address"
	default:
		return "a " + t
	}
}
