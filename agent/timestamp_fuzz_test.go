package agent

import (
	"bytes"
	"testing"
	"time"
)

const nginxLayout = "02/Jan/2006:15:04:05 -0700"

// fuzzNow is the reader's clock in the fuzz targets: syslog lines have no
// year and take the reader's.
var fuzzNow = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

// FuzzTimestampParsers: log lines are untrusted input. No parser panics,
// and a parser that returns a time found it where its format puts it: the
// time is what time.Parse makes of those exact bytes. A line that does not
// carry the format gets no time (the read time is used instead).
// Seeds: testdata/fuzz/FuzzTimestampParsers.
func FuzzTimestampParsers(f *testing.F) {
	f.Fuzz(func(t *testing.T, line []byte) {
		if got, ok := parseNginxTime(line, fuzzNow); ok != nginxOracle(line, got) {
			t.Fatalf("nginx(%q) = %v, %v; the bracketed stamp says otherwise", line, got, ok)
		}
		if got, ok := parseISO8601Prefix(line, fuzzNow); ok && !iso8601Carries(bytes.TrimPrefix(line, []byte("[")), got) {
			t.Fatalf("iso8601(%q) = %v: not the time at the start of the line", line, got)
		}
		if got, ok := parseSyslogTime(line, fuzzNow); ok && !syslogCarries(line, got) {
			t.Fatalf("syslog(%q) = %v: not the time at the start of the line", line, got)
		}
	})
}

// nginxOracle reports whether line's first '[' opens a 26-byte stamp closed
// by ']' that time.Parse reads as exactly got.
func nginxOracle(line []byte, got time.Time) bool {
	i := bytes.IndexByte(line, '[')
	if i < 0 || i+27 >= len(line) || line[i+27] != ']' {
		return false
	}
	want, err := time.Parse(nginxLayout, string(line[i+1:i+27]))
	return err == nil && want.Equal(got)
}

// iso8601Carries reports whether s starts with got's date and clock, as
// written in got's own zone: "2006-01-02", 'T' or ' ', then hour, minute
// and second separated by ':' (time.Parse also takes an hour of one digit,
// or padded with a space).
func iso8601Carries(s []byte, got time.Time) bool {
	if len(s) < 19 || s[10] != 'T' && s[10] != ' ' || string(s[:10]) != got.Format("2006-01-02") {
		return false
	}
	clock := bytes.TrimPrefix(s[11:], []byte(" "))
	for _, want := range []int{got.Hour(), got.Minute(), got.Second()} {
		n, rest, ok := leadingNumber(clock)
		if !ok || n != want {
			return false
		}
		clock = bytes.TrimPrefix(rest, []byte(":"))
	}
	return true
}

// leadingNumber reads the one or two digits at the start of b.
func leadingNumber(b []byte) (n int, rest []byte, ok bool) {
	i := 0
	for i < len(b) && i < 2 && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int(b[i]-'0')
		i++
	}
	return n, b[i:], i > 0
}

// syslogCarries reports whether line, after an optional <PRI>, starts with
// got as RFC 5424 ("1 " then ISO 8601) or RFC 3164 ("Jan _2 15:04:05", in
// local time) writes it.
func syslogCarries(line []byte, got time.Time) bool {
	if len(line) > 0 && line[0] == '<' {
		if i := bytes.IndexByte(line, '>'); i > 0 && i <= 4 {
			line = line[i+1:]
		}
	}
	if len(line) > 2 && line[0] >= '1' && line[0] <= '9' && line[1] == ' ' {
		return iso8601Carries(bytes.TrimPrefix(line[2:], []byte("[")), got)
	}
	if len(line) < 15 {
		return false
	}
	want, err := time.ParseInLocation("Jan _2 15:04:05", string(line[:15]), time.Local)
	local := got.In(time.Local)
	return err == nil && want.Month() == local.Month() && want.Day() == local.Day() &&
		want.Format("15:04:05") == local.Format("15:04:05") && local.Year() >= fuzzNow.Year()-1 && local.Year() <= fuzzNow.Year()
}

// FuzzTimestampRoundTrip: any time written the way nginx, ISO 8601 and
// syslog (RFC 5424) write it, followed by the rest of a line, is read back
// as that time.
// Seeds: testdata/fuzz/FuzzTimestampRoundTrip.
func FuzzTimestampRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, unix int64, nanos uint32, zoneMinutes int16, rest string) {
		zone := time.FixedZone("", int(zoneMinutes%(18*60))*60)
		at := time.Unix(unix%(1<<35), int64(nanos%1e9)).In(zone) // years 881 to 3058
		if at.Year() < 1000 {
			return // ISO 8601 years have four digits
		}
		tail := " " + rest // a stamp ends at a space
		nginx := "10.0.0.1 - - [" + at.Format(nginxLayout) + "]" + tail
		if got, ok := parseNginxTime([]byte(nginx), fuzzNow); !ok || !got.Equal(at.Truncate(time.Second)) {
			t.Fatalf("nginx(%q) = %v, %v; want %v", nginx, got, ok, at.Truncate(time.Second))
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.000000000-07:00"} {
			iso := at.Format(layout) + tail
			if got, ok := parseISO8601Prefix([]byte(iso), fuzzNow); !ok || !got.Equal(at) {
				t.Fatalf("iso8601(%q) = %v, %v; want %v", iso, got, ok, at)
			}
			syslog := "<34>1 " + iso
			if got, ok := parseSyslogTime([]byte(syslog), fuzzNow); !ok || !got.Equal(at) {
				t.Fatalf("syslog(%q) = %v, %v; want %v", syslog, got, ok, at)
			}
		}
	})
}
