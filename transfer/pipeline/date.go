package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/logagent/logagent/wire"
)

// dateStep parses a field with the first of its layouts that fits and
// writes the time to target (default @timestamp) in the envelope's layout,
// so the event is indexed and dated by it.
type dateStep struct {
	field, target string
	layouts       []string
	loc           *time.Location
}

type dateSettings struct {
	Field string `json:"field"`
	// Layouts are Go layouts ("2006-01-02 15:04:05.000"), or UNIX, UNIX_MS,
	// ISO8601 (RFC 3339 with any fraction).
	Layouts []string `json:"layouts"`
	// Timezone is the IANA zone of times without one; default UTC.
	Timezone string `json:"timezone"`
	Target   string `json:"target"`
}

func newDate(settings json.RawMessage) (step, error) {
	var s dateSettings
	if err := decode(settings, &s); err != nil {
		return nil, err
	}
	if s.Field == "" {
		return nil, errors.New("field: required (the field holding the time)")
	}
	if len(s.Layouts) == 0 {
		return nil, errors.New(`layouts: at least one, e.g. ["2006-01-02 15:04:05.000"] (Go layouts: the reference time Mon Jan 2 15:04:05 MST 2006 as the field writes it), or UNIX, UNIX_MS, ISO8601`)
	}
	d := &dateStep{field: s.Field, target: orDefault(s.Target, wire.FieldTimestamp), layouts: s.Layouts, loc: time.UTC}
	if s.Timezone != "" {
		loc, err := time.LoadLocation(s.Timezone)
		if err != nil {
			return nil, fmt.Errorf("timezone: %q is not an IANA zone such as \"Europe/Berlin\"", s.Timezone)
		}
		d.loc = loc
	}
	return d, nil
}

func (d *dateStep) apply(ev Event) error {
	v, ok := ev.Get(d.field)
	if !ok {
		return fmt.Errorf("field %q is missing", d.field)
	}
	text := fmt.Sprint(v)
	for _, layout := range d.layouts {
		if t, ok := parseTime(layout, text, d.loc); ok {
			ev.Set(d.target, t.UTC().Format(wire.TimeLayout))
			return nil
		}
	}
	return fmt.Errorf("%q = %q matches none of the layouts %q", d.field, text, d.layouts)
}

func parseTime(layout, text string, loc *time.Location) (time.Time, bool) {
	switch layout {
	case "UNIX", "UNIX_MS":
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return time.Time{}, false
		}
		if layout == "UNIX_MS" {
			return time.UnixMilli(int64(f)), true
		}
		return time.Unix(0, int64(f*1e9)), true
	case "ISO8601":
		layout = time.RFC3339Nano
	}
	t, err := time.ParseInLocation(layout, text, loc)
	return t, err == nil
}
