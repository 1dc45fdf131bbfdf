package collect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
	_ "time/tzdata" // timezones of custom layouts, on hosts without a zoneinfo database
)

// Named values of Timestamp.Format.
const (
	// TimestampNone stamps events with the time the line was read. The default.
	TimestampNone = "none"
	// TimestampNginx parses nginx's $time_local ("02/Jan/2006:15:04:05 -0700").
	TimestampNginx = "nginx"
	// TimestampISO8601 parses an ISO 8601 / RFC 3339 timestamp at the start of the line.
	TimestampISO8601 = "iso8601"
	// TimestampSyslog parses a syslog timestamp at the start of the line:
	// RFC 3164 ("Jan  2 15:04:05") or RFC 5424 ("<34>1 2026-12-04T10:00:00Z").
	TimestampSyslog = "syslog"
	// TimestampLayout parses Timestamp.Layout at the start of the line. It is
	// not written as a string: {"layout": "..."} sets it.
	TimestampLayout = "layout"
)

var (
	timestampValues = []string{TimestampNone, TimestampNginx, TimestampISO8601, TimestampSyslog}
	timestampFields = []string{"layout", "timezone"}
)

// Timestamp says how to take an event's @timestamp from its line. In JSON it
// is one of the named formats ("nginx") or an object with a Go layout and
// an optional timezone: {"layout": "2006-01-02 15:04:05.000", "timezone":
// "Europe/Berlin"}.
type Timestamp struct {
	// Format is TimestampNone (default), TimestampNginx, TimestampISO8601,
	// TimestampSyslog, or TimestampLayout when Layout is set.
	Format string
	// Layout is a Go time layout (the reference time Mon Jan 2 15:04:05 MST
	// 2006 written as the logs write it), matched at the start of the line,
	// after an optional "[".
	Layout string
	// Timezone is the IANA zone of stamps whose layout has no zone; default
	// UTC.
	Timezone string

	loc *time.Location // set by validation
}

// Location is the zone of stamps without one. Only on a validated Timestamp.
func (t Timestamp) Location() *time.Location {
	if t.loc == nil {
		return time.UTC
	}
	return t.loc
}

// IsZero reports whether nothing is set (for omitzero).
func (t Timestamp) IsZero() bool { return t.Format == "" && t.Layout == "" && t.Timezone == "" }

// MarshalJSON writes a named format as a string, a layout as an object.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.Format != TimestampLayout && t.Layout == "" && t.Timezone == "" {
		return json.Marshal(t.Format)
	}
	return json.Marshal(struct {
		Layout   string `json:"layout"`
		Timezone string `json:"timezone,omitempty"`
	}{t.Layout, t.Timezone})
}

// UnmarshalJSON reads a string or an object; keys are checked beforehand.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		*t = Timestamp{}
		return json.Unmarshal(b, &t.Format)
	case len(b) > 0 && b[0] == '{':
		var o struct {
			Layout   *string `json:"layout"`
			Timezone string  `json:"timezone"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*t = Timestamp{Format: TimestampLayout, Timezone: o.Timezone}
		if o.Layout != nil {
			t.Layout = *o.Layout
		}
		return nil
	}
	return &json.UnmarshalTypeError{Value: strings.TrimPrefix(jsonKind(b), "a "), Type: reflect.TypeFor[string]()}
}

// layoutExample is quoted in errors about a layout.
const layoutExample = `write the reference time Mon Jan 2 15:04:05 MST 2006 as your logs write it, e.g. {"layout": "2006-01-02 15:04:05.000", "timezone": "Europe/Berlin"}`

// validate checks the format, the layout and the zone, and fills in the
// default.
func (t *Timestamp) validate(bad func(string, string, ...any)) {
	if t.Format != TimestampLayout {
		t.Format = oneOf(t.Format, TimestampNone, timestampValues, "timestamp", bad)
		return
	}
	if err := checkLayout(t.Layout); err != nil {
		bad("timestamp.layout", "%v; %s", err, layoutExample)
	}
	if t.Timezone != "" {
		loc, err := time.LoadLocation(t.Timezone)
		if err != nil || t.Timezone == "Local" {
			bad("timestamp.timezone", "%q is not an IANA time zone such as \"Europe/Berlin\" or \"UTC\"", t.Timezone)
		}
		t.loc = loc
	}
}

// checkLayout refuses what cannot be a useful Go layout: none at all, a
// strftime or Java pattern, a layout without date or time elements, or one
// whose own output it cannot read back.
func checkLayout(layout string) error {
	sample := time.Date(2026, time.December, 24, 13, 45, 56, 789_000_000, time.UTC)
	switch {
	case layout == "":
		return fmt.Errorf("layout must not be empty")
	case strings.Contains(layout, "%"):
		return fmt.Errorf("%q looks like a strftime pattern, not a Go layout", layout)
	case strings.Contains(layout, "yyyy") || strings.Contains(layout, "YYYY"):
		return fmt.Errorf("%q looks like a Java or Joda pattern, not a Go layout", layout)
	case sample.Format(layout) == layout:
		return fmt.Errorf("%q has no date or time elements", layout)
	}
	if _, err := time.Parse(layout, sample.Format(layout)); err != nil {
		return fmt.Errorf("%q cannot read back what it writes: %v", layout, err)
	}
	return nil
}
