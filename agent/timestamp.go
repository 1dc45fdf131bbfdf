package agent

import (
	"bytes"
	"time"

	"github.com/logagent/logagent/collect"
)

// timestampParser finds the event time in a line. ok is false when the line
// does not carry one in the expected form; the read time is used then.
type timestampParser func(line []byte, now time.Time) (t time.Time, ok bool)

// timestampParsers maps the collect entry's named timestamp formats to a
// parser. collect.TimestampNone has no parser.
var timestampParsers = map[string]timestampParser{
	collect.TimestampNginx:   parseNginxTime,
	collect.TimestampISO8601: parseISO8601Prefix,
	collect.TimestampSyslog:  parseSyslogTime,
}

// parserFor is the parser of a validated timestamp setting; nil for none.
func parserFor(ts collect.Timestamp) timestampParser {
	if ts.Format == collect.TimestampLayout {
		return layoutParser(ts.Layout, ts.Location())
	}
	return timestampParsers[ts.Format]
}

// layoutWidthSlack is how far a stamp's length may be from its layout's
// written width: month and day names, unpadded numbers and fractions of
// varying length make it vary.
const layoutWidthSlack = 6

// layoutParser reads a stamp in layout at the start of the line, after an
// optional "[", in loc unless the stamp names its zone. The stamp's length
// is tried at the layout's width first, then nearer to farther from it.
func layoutParser(layout string, loc *time.Location) timestampParser {
	width := len(time.Date(2026, time.December, 24, 13, 45, 56, 789_000_000, loc).Format(layout))
	lengths := []int{width}
	for d := 1; d <= layoutWidthSlack; d++ {
		lengths = append(lengths, width+d)
		if width-d > 0 {
			lengths = append(lengths, width-d)
		}
	}
	return func(line []byte, _ time.Time) (time.Time, bool) {
		line = bytes.TrimPrefix(line, []byte("["))
		for _, n := range lengths {
			if n > len(line) {
				continue
			}
			if t, err := time.ParseInLocation(layout, string(line[:n]), loc); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
}

// parseNginxTime reads nginx's $time_local, the first [...] of the line:
// [10/Oct/2000:13:55:36 -0700].
func parseNginxTime(line []byte, _ time.Time) (time.Time, bool) {
	i := bytes.IndexByte(line, '[')
	if i < 0 || len(line) < i+28 || line[i+27] != ']' {
		return time.Time{}, false
	}
	t, err := time.Parse("02/Jan/2006:15:04:05 -0700", string(line[i+1:i+27]))
	return t, err == nil
}

// iso8601Layouts are the prefixes accepted by the iso8601 parser: with 'T',
// then with ' ' between date and time, each with a zone first. A missing
// zone means UTC.
var iso8601Layouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

// parseISO8601Prefix reads an ISO 8601 time at the start of the line (after an
// optional '['), e.g. 2026-11-26T10:00:00.123Z or 2026-11-26 10:00:00,123+01:00.
func parseISO8601Prefix(line []byte, _ time.Time) (time.Time, bool) {
	line = bytes.TrimPrefix(line, []byte("["))
	if len(line) < 19 || !iso8601Shape(line) {
		return time.Time{}, false
	}
	// The stamp ends at the first character that cannot belong to it.
	end := 19
	for end < len(line) && bytes.IndexByte([]byte("0123456789.,:+-Z"), line[end]) >= 0 {
		end++
	}
	var buf [64]byte // stamps are shorter; a longer run simply fails to parse
	s := append(buf[:0], line[:min(end, len(buf))]...)
	if i := bytes.IndexByte(s[19:], ','); i >= 0 {
		s[19+i] = '.' // log4j and Python write a comma before the fraction
	}
	layouts := iso8601Layouts[:2] // only the layouts with this separator can match
	if line[10] == ' ' {
		layouts = iso8601Layouts[2:]
	}
	str := string(s)
	for _, layout := range layouts {
		if t, err := time.Parse(layout, str); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// iso8601Shape reports whether line begins "YYYY-MM-DDThh:mm:ss" (or with a
// space for the T) digit for digit: time.Parse alone would also read
// "2026-01-01   0:00:00", taking a run of spaces for the one in its layout.
func iso8601Shape(line []byte) bool {
	const shape = "dddd-dd-dd?dd:dd:dd"
	for i := range len(shape) {
		c := line[i]
		switch shape[i] {
		case 'd':
			if c < '0' || c > '9' {
				return false
			}
		case '?':
			if c != 'T' && c != ' ' {
				return false
			}
		default:
			if c != shape[i] {
				return false
			}
		}
	}
	return true
}

// parseSyslogTime reads RFC 3164 "Jan  2 15:04:05" (local time, no year: the
// year is the reader's, or the previous one for a December line read in
// January) and RFC 5424 "<PRI>1 2026-11-26T10:00:00Z", each with an optional
// <PRI> in front.
func parseSyslogTime(line []byte, now time.Time) (time.Time, bool) {
	if len(line) > 0 && line[0] == '<' {
		if i := bytes.IndexByte(line, '>'); i > 0 && i <= 4 {
			line = line[i+1:]
		}
	}
	if len(line) > 2 && line[0] >= '1' && line[0] <= '9' && line[1] == ' ' {
		return parseISO8601Prefix(line[2:], now)
	}
	if len(line) < 15 {
		return time.Time{}, false
	}
	stamp, err := time.ParseInLocation("Jan _2 15:04:05", string(line[:15]), time.Local)
	if err != nil {
		return time.Time{}, false
	}
	local := now.In(time.Local)
	t := stamp.AddDate(local.Year(), 0, 0)
	if t.After(local.Add(48 * time.Hour)) {
		t = t.AddDate(-1, 0, 0)
	}
	if t.Day() != stamp.Day() {
		return time.Time{}, false // Feb 29 in a year without one: not a time this line can have
	}
	return t, true
}
